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

#include "df/df_digest.h"
#include "df/df_url.h"
#include "df/xmalloc.h"

#define PEER_PROXY_NS_MAX 256 /* longest ns= value (a registry host[:port]) */

struct peer_proxy_rule_set {
    regex_t *re;
    size_t n;
};

int
peer_proxy_rule_set_new(const struct df_conf_list *regexes, struct peer_proxy_rule_set **out,
                        struct df_error *err)
{
    return peer_proxy_rule_set_new_for("proxy.rules", regexes, out, err);
}

int
peer_proxy_rule_set_new_for(const char *key, const struct df_conf_list *regexes,
                            struct peer_proxy_rule_set **out, struct df_error *err)
{
    struct peer_proxy_rule_set *rs = xcalloc(1, sizeof(*rs));
    char msg[200];
    int rc;

    if (regexes->n > 0)
        rs->re = xcalloc(regexes->n, sizeof(*rs->re));
    for (size_t i = 0; i < regexes->n; i++) {
        if ((rc = regcomp(&rs->re[i], regexes->v[i], REG_EXTENDED | REG_NOSUB)) != 0) {
            regerror(rc, &rs->re[i], msg, sizeof(msg));
            peer_proxy_rule_set_free(rs);
            return df_error_set(err, DF_EINVAL, "%s: \"%s\": %s", key, regexes->v[i], msg);
        }
        rs->n++;
    }
    *out = rs;
    return 0;
}

void
peer_proxy_rule_set_free(struct peer_proxy_rule_set *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++)
        regfree(&rs->re[i]);
    free(rs->re);
    free(rs);
}

bool
peer_proxy_rule_set_is_match(const struct peer_proxy_rule_set *rs, const char *url)
{
    for (size_t i = 0; i < rs->n; i++) {
        if (regexec(&rs->re[i], url, 0, NULL, 0) == 0)
            return true;
    }
    return false;
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
