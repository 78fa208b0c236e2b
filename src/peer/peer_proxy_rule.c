/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's pure decisions: the upstream of a mirror request (header, then ns=, then the
 * configured mirror), the URL at that upstream, and the rule set that sends some URLs through
 * P2P tasks. An upstream is always a bare http(s) origin: a path, query or userinfo in it is
 * refused rather than silently dropped.
 */
#include "peer_proxy_rule.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "df/df_digest.h"
#include "df/df_url.h"
#include "df/xmalloc.h"

#define PEER_PROXY_NS_MAX 256 /* longest ns= value (a registry host[:port]) */

struct peer_proxy_rule_set {
    struct peer_proxy_rule *r;
    size_t n;
};

/* An origin's authority as a redirect names it: host[:port], nothing else. */
static bool
peer_proxy_rule_authority_is_valid(const char *s)
{
    char *url = xasprintf("http://%s", s);
    struct df_url u;
    bool ok;

    memset(&u, 0, sizeof(u));
    ok = s[0] != '\0' && strpbrk(s, "/?#@") == NULL && df_url_parse(url, &u, NULL) == 0;
    df_url_reset(&u);
    free(url);
    return ok;
}

/*
 * Fill r from a rule object's JSON text: regex (required), useTLS, redirect,
 * filteredQueryParams. 0, or DF_EINVAL with a message naming the field.
 */
static int
peer_proxy_rule_parse(const char *key, const char *text, struct peer_proxy_rule *r,
                      const char **regex, cJSON **doc, struct df_error *err)
{
    const cJSON *it, *p;
    char *filtered = NULL;

    if ((*doc = cJSON_Parse(text)) == NULL || !cJSON_IsObject(*doc))
        return df_error_set(err, DF_EINVAL, "%s: %.80s: not a JSON object", key, text);
    cJSON_ArrayForEach(it, *doc)
    {
        if (strcmp(it->string, "regex") == 0 && cJSON_IsString(it)) {
            *regex = it->valuestring;
        } else if (strcmp(it->string, "useTLS") == 0 && cJSON_IsBool(it)) {
            r->use_tls = cJSON_IsTrue(it);
        } else if (strcmp(it->string, "redirect") == 0 && cJSON_IsString(it) &&
                   peer_proxy_rule_authority_is_valid(it->valuestring)) {
            r->redirect = xstrdup(it->valuestring);
        } else if (strcmp(it->string, "redirect") == 0 && cJSON_IsNull(it)) {
            continue;
        } else if (strcmp(it->string, "filteredQueryParams") == 0 && cJSON_IsArray(it)) {
            cJSON_ArrayForEach(p, it)
            {
                char *next;

                if (!cJSON_IsString(p) || p->valuestring[0] == '\0' ||
                    strchr(p->valuestring, '&') != NULL) {
                    free(filtered);
                    return df_error_set(err, DF_EINVAL,
                                        "%s: filteredQueryParams: expected parameter names", key);
                }
                next = filtered != NULL ? xasprintf("%s&%s", filtered, p->valuestring)
                                        : xstrdup(p->valuestring);
                free(filtered);
                filtered = next;
            }
            free(r->filtered);
            r->filtered = filtered != NULL ? filtered : xstrdup("");
            filtered = NULL;
        } else {
            return df_error_set(err, DF_EINVAL,
                                "%s: \"%s\": unknown field or wrong type (regex: string, "
                                "useTLS: bool, redirect: \"host[:port]\", filteredQueryParams: "
                                "[names])",
                                key, it->string);
        }
    }
    if (*regex == NULL)
        return df_error_set(err, DF_EINVAL, "%s: %.80s: a rule needs a regex", key, text);
    return 0;
}

/* The rule set of list (regexes; with objects, rule objects' JSON text too). */
static int
peer_proxy_rule_set_build(const char *key, const struct df_conf_list *list, bool objects,
                          struct peer_proxy_rule_set **out, struct df_error *err)
{
    struct peer_proxy_rule_set *rs = xcalloc(1, sizeof(*rs));
    struct peer_proxy_rule *r;
    const char *regex;
    cJSON *doc;
    char msg[200];
    int rc;

    if (list->n > 0)
        rs->r = xcalloc(list->n, sizeof(*rs->r));
    for (size_t i = 0; i < list->n; i++) {
        r = &rs->r[i];
        regex = list->v[i];
        doc = NULL;
        if (objects && list->v[i][0] == '{') {
            regex = NULL;
            if ((rc = peer_proxy_rule_parse(key, list->v[i], r, &regex, &doc, err)) != 0) {
                cJSON_Delete(doc);
                rs->n = i + 1; /* what r holds is freed with the set */
                peer_proxy_rule_set_free(rs);
                return rc;
            }
        }
        if ((rc = regcomp(&r->re, regex, REG_EXTENDED | REG_NOSUB)) != 0) {
            regerror(rc, &r->re, msg, sizeof(msg));
            rc = df_error_set(err, DF_EINVAL, "%s: \"%s\": %s", key, regex, msg);
            cJSON_Delete(doc);
            rs->n = i;
            free(r->redirect);
            free(r->filtered);
            peer_proxy_rule_set_free(rs);
            return rc;
        }
        r->compiled = true;
        cJSON_Delete(doc);
        rs->n++;
    }
    *out = rs;
    return 0;
}

int
peer_proxy_rule_set_new(const struct df_conf_list *rules, struct peer_proxy_rule_set **out,
                        struct df_error *err)
{
    return peer_proxy_rule_set_build("proxy.rules", rules, true, out, err);
}

int
peer_proxy_rule_set_new_for(const char *key, const struct df_conf_list *regexes,
                            struct peer_proxy_rule_set **out, struct df_error *err)
{
    return peer_proxy_rule_set_build(key, regexes, false, out, err);
}

void
peer_proxy_rule_set_free(struct peer_proxy_rule_set *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->r[i].compiled)
            regfree(&rs->r[i].re);
        free(rs->r[i].redirect);
        free(rs->r[i].filtered);
    }
    free(rs->r);
    free(rs);
}

const struct peer_proxy_rule *
peer_proxy_rule_set_match(const struct peer_proxy_rule_set *rs, const char *url)
{
    for (size_t i = 0; i < rs->n; i++) {
        if (regexec(&rs->r[i].re, url, 0, NULL, 0) == 0)
            return &rs->r[i];
    }
    return NULL;
}

bool
peer_proxy_rule_set_is_match(const struct peer_proxy_rule_set *rs, const char *url)
{
    return peer_proxy_rule_set_match(rs, url) != NULL;
}

int
peer_proxy_rule_apply(const struct peer_proxy_rule *r, const char *url, char **out,
                      struct df_error *err)
{
    struct df_url u, to;
    char *s;
    int rv;

    memset(&u, 0, sizeof(u));
    memset(&to, 0, sizeof(to));
    if ((rv = df_url_parse(url, &u, err)) != 0)
        return rv;
    if (r->use_tls && strcmp(u.scheme, "http") == 0) {
        free(u.scheme);
        u.scheme = xstrdup("https");
        if (u.port == 80)
            u.port = 443;
    }
    if (r->redirect != NULL) {
        s = xasprintf("%s://%s", u.scheme, r->redirect);
        rv = df_url_parse(s, &to, err);
        free(s);
        if (rv != 0) {
            df_url_reset(&u);
            return rv;
        }
        free(u.host);
        u.host = to.host;
        to.host = NULL;
        u.host_is_ipv6 = to.host_is_ipv6;
        u.port = to.port;
        df_url_reset(&to);
    }
    *out = df_url_to_str(&u, false);
    df_url_reset(&u);
    return 0;
}

/*
 * The value of the first ns= parameter of query, percent-decoded into buf. 1 when found,
 * 0 when absent, DF_EINVAL when malformed or too long.
 */
static int
peer_proxy_rule_ns(const char *query, char *buf, size_t size)
{
    const char *p = query, *end;
    size_t n = 0;
    int hi, lo;

    while (p != NULL && *p != '\0') {
        end = strchr(p, '&');
        if (end == NULL)
            end = p + strlen(p);
        if (strncmp(p, "ns=", 3) == 0) {
            for (p += 3; p < end; p++) {
                char c = *p;
                if (c == '%') {
                    if (end - p < 3 || (hi = df_hex_digit(p[1])) < 0 ||
                        (lo = df_hex_digit(p[2])) < 0)
                        return DF_EINVAL;
                    c = (char)(hi * 16 + lo);
                    p += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (n + 1 >= size || (unsigned char)c <= ' ')
                    return DF_EINVAL;
                buf[n++] = c;
            }
            buf[n] = '\0';
            return n > 0 ? 1 : DF_EINVAL;
        }
        p = *end == '&' ? end + 1 : end;
    }
    return 0;
}

/* s as a bare origin "scheme://host[:port]" (a trailing "/" allowed), normalised. */
static int
peer_proxy_rule_origin(const char *what, const char *s, char **out, struct df_error *err)
{
    struct df_url u;
    char msg[sizeof(err->msg)];

    memset(&u, 0, sizeof(u));
    if (df_url_parse(s, &u, err) != 0) {
        snprintf(msg, sizeof(msg), "%s", err->msg);
        return df_error_set(err, DF_EINVAL, "%s: %s", what, msg);
    }
    if (u.userinfo != NULL || strcmp(u.path, "/") != 0 || u.query != NULL || u.fragment != NULL) {
        df_url_reset(&u);
        return df_error_set(err, DF_EINVAL, "%s: \"%s\" is not a bare http(s) origin", what, s);
    }
    free(u.path);
    u.path = xstrdup("");
    *out = df_url_to_str(&u, false);
    df_url_reset(&u);
    return 0;
}

/* The origin registries names for ns, or NULL. */
static const char *
peer_proxy_rule_registry(const struct df_conf_list *registries, const char *ns)
{
    size_t n = strlen(ns);

    for (size_t i = 0; registries != NULL && i < registries->n; i++) {
        if (strncmp(registries->v[i], ns, n) == 0 && registries->v[i][n] == '=')
            return registries->v[i] + n + 1;
    }
    return NULL;
}

int
peer_proxy_rule_registries_check(const struct df_conf_list *registries, struct df_error *err)
{
    const char *eq;
    char *origin = NULL;

    for (size_t i = 0; i < registries->n; i++) {
        eq = strchr(registries->v[i], '=');
        if (eq == NULL || eq == registries->v[i])
            return df_error_set(err, DF_EINVAL,
                                "proxy.registries: \"%s\": expected ns=origin "
                                "(ghcr.io=https://ghcr.io)",
                                registries->v[i]);
        if (peer_proxy_rule_origin("proxy.registries", eq + 1, &origin, err) != 0)
            return DF_EINVAL;
        DF_FREE(origin, free);
    }
    return 0;
}

int
peer_proxy_rule_upstream(const char *registry, const char *query,
                         const struct df_conf_list *registries, const char *mirror, char **out,
                         struct df_error *err)
{
    char ns[PEER_PROXY_NS_MAX], url[PEER_PROXY_NS_MAX + 16];
    const char *mapped;
    int rv;

    if (registry != NULL)
        return peer_proxy_rule_origin("X-Dragonfly-Registry", registry, out, err);
    if ((rv = peer_proxy_rule_ns(query, ns, sizeof(ns))) < 0)
        return df_error_set(err, DF_EINVAL, "ns: malformed query parameter");
    if (rv == 1) {
        if ((mapped = peer_proxy_rule_registry(registries, ns)) != NULL)
            return peer_proxy_rule_origin("proxy.registries", mapped, out, err);
        if (strstr(ns, "://") != NULL)
            snprintf(url, sizeof(url), "%s", ns);
        else if (strcmp(ns, "docker.io") == 0)
            snprintf(url, sizeof(url), "https://registry-1.docker.io");
        else
            snprintf(url, sizeof(url), "https://%s", ns);
        return peer_proxy_rule_origin("ns", url, out, err);
    }
    if (mirror == NULL || mirror[0] == '\0')
        return df_error_set(err, DF_EINVAL,
                            "no upstream: no X-Dragonfly-Registry header, no ns= parameter and "
                            "no proxy.registryMirror.addr");
    return peer_proxy_rule_origin("proxy.registryMirror.addr", mirror, out, err);
}

int
peer_proxy_rule_url_new(const char *upstream, const char *path, const char *query, char **out,
                        char **bare, struct df_error *err)
{
    struct df_url u;
    char *s;
    int rv;

    if (path[0] != '/')
        return df_error_set(err, DF_EINVAL, "request path does not start with /");
    s = query != NULL ? xasprintf("%s%s?%s", upstream, path, query)
                      : xasprintf("%s%s", upstream, path);
    memset(&u, 0, sizeof(u));
    rv = df_url_parse(s, &u, err);
    free(s);
    if (rv != 0)
        return rv;
    *out = df_url_to_str(&u, false);
    DF_FREE(u.query, free);
    *bare = df_url_to_str(&u, false);
    df_url_reset(&u);
    return 0;
}
