/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Route matching walks the pattern and the path together, segment by segment, so a table
 * needs no compiling and a match costs one pass per route. Parameter values are copied out
 * of the path only for the route that is taken.
 */
#include "df/net_route.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"
#include "df/df_metrics.h"
#include "df/net_http_server.h"
#include "df/xmalloc.h"

/* Where a parameter's value lies in the path (not yet copied). */
struct net_route_span {
    const char *name, *value;
    size_t name_len, value_len;
};

static bool
net_route_name_is_valid(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    }
    return true;
}

static bool
net_route_is_valid(const struct net_route *r)
{
    const char *p = r->pattern;
    size_t nparams = 0;

    if (r->fn == NULL || r->method == NULL || *r->method == '\0' || p == NULL || *p != '/')
        return false;
    for (const char *c = r->method; *c != '\0'; c++) {
        if (*c < 'A' || *c > 'Z')
            return false;
    }
    while (*p == '/') {
        size_t len = strcspn(++p, "/");

        if (*p == ':' || *p == '*') {
            if (!net_route_name_is_valid(p + 1, len - 1) || ++nparams > NET_ROUTE_MAX_PARAMS ||
                (*p == '*' && p[len] != '\0'))
                return false;
        } else if (memchr(p, ':', len) != NULL || memchr(p, '*', len) != NULL) {
            return false; /* a parameter must fill its segment */
        }
        p += len;
    }
    return true;
}

int
net_route_check(const struct net_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!net_route_is_valid(&routes[i]))
            return DF_EINVAL;
    }
    return 0;
}

/* Whether path matches pattern; the parameters' spans go to sp (*nsp of them). */
static bool
net_route_path_matches(const char *pattern, const char *path, struct net_route_span *sp,
                       size_t *nsp)
{
    const char *p = pattern, *s = path;

    *nsp = 0;
    while (*p == '/') {
        size_t plen, slen;

        if (*s != '/')
            return false;
        p++;
        s++;
        plen = strcspn(p, "/");
        if (*p == '*') {
            sp[*nsp] = (struct net_route_span){p + 1, s, plen - 1, strlen(s)};
            (*nsp)++;
            return true;
        }
        slen = strcspn(s, "/");
        if (*p == ':') {
            if (slen == 0)
                return false;
            sp[*nsp] = (struct net_route_span){p + 1, s, plen - 1, slen};
            (*nsp)++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && *s == '\0';
}

static bool
net_route_method_matches(const char *route, const char *method)
{
    return strcmp(route, method) == 0 || (strcmp(route, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* Add method to the ", "-separated list in allow unless it is there. */
static void
net_route_allow_add(char *allow, size_t allowlen, const char *method)
{
    size_t mlen = strlen(method), used = strlen(allow);

    for (const char *a = allow; *a != '\0'; a += strcspn(a, ","), a += strspn(a, ", ")) {
        if (strncmp(a, method, mlen) == 0 && (a[mlen] == ',' || a[mlen] == '\0'))
            return;
    }
    snprintf(allow + used, allowlen - used, "%s%s", used > 0 ? ", " : "", method);
}

int
net_route_find(const struct net_route *routes, size_t n, const char *method, const char *path,
               struct net_route_match *m, char *allow, size_t allowlen)
{
    struct net_route_span sp[NET_ROUTE_MAX_PARAMS + 1];
    bool path_known = false;
    size_t nsp;

    if (allowlen > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!net_route_path_matches(routes[i].pattern, path, sp, &nsp))
            continue;
        if (!net_route_method_matches(routes[i].method, method)) {
            path_known = true;
            if (allowlen > 0) {
                net_route_allow_add(allow, allowlen, routes[i].method);
                if (strcmp(routes[i].method, "GET") == 0)
                    net_route_allow_add(allow, allowlen, "HEAD");
            }
            continue;
        }
        memset(m, 0, sizeof(*m));
        m->route = &routes[i];
        m->nparams = nsp;
        for (size_t k = 0; k < nsp; k++) {
            m->names[k] = sp[k].name;
            m->name_lens[k] = sp[k].name_len;
            m->values[k] = xstrndup(sp[k].value, sp[k].value_len);
        }
        return (int)i;
    }
    return path_known ? DF_EPERM : DF_ENOTFOUND;
}

void
net_route_match_reset(struct net_route_match *m)
{
    for (size_t k = 0; k < m->nparams; k++)
        free(m->values[k]);
    memset(m, 0, sizeof(*m));
}

const char *
net_route_param(const struct net_route_match *m, const char *name)
{
    size_t len = strlen(name);

    for (size_t k = 0; k < m->nparams; k++) {
        if (m->name_lens[k] == len && memcmp(m->names[k], name, len) == 0)
            return m->values[k];
    }
    return NULL;
}

void
net_route_dispatch(struct net_http_req *req, const struct net_route *routes, size_t n, void *arg)
{
    struct net_route_match m;
    char allow[128];
    int rv;

    rv = net_route_find(routes, n, net_http_req_method(req), net_http_req_path(req), &m, allow,
                        sizeof(allow));
    if (rv == DF_ENOTFOUND) {
        net_route_reply_text(req, 404, "not found\n");
        return;
    }
    if (rv == DF_EPERM) {
        net_http_req_add_header(req, "Allow", allow);
        net_route_reply_text(req, 405, "method not allowed\n");
        return;
    }
    /* the route that runs, not the whole table on every request (a few us for 90 routes) */
    DF_ASSERT(net_route_is_valid(m.route));
    m.route->fn(req, &m, arg);
    net_route_match_reset(&m);
}

void
net_route_healthy(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    (void)m;
    (void)arg;
    net_route_reply_text(req, 200, "OK");
}

int
net_route_reply_text(struct net_http_req *req, int status, const char *text)
{
    return net_http_req_respond(req, status, "text/plain", text, strlen(text));
}

int
net_route_reply_json(struct net_http_req *req, int status, const struct cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    int rv;

    if (text == NULL) {
        net_route_reply_text(req, 500, "out of memory\n");
        return DF_ENOMEM;
    }
    rv = net_http_req_respond(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return rv;
}

int
net_route_reply_metrics(struct net_http_req *req, const struct df_metrics *r)
{
    char *text = NULL;
    size_t len = 0;
    int rv;

    if (df_metrics_render(r, &text, &len) != 0) {
        net_route_reply_text(req, 500, "out of memory\n");
        return DF_ENOMEM;
    }
    rv = net_http_req_respond(req, 200, DF_METRICS_CONTENT_TYPE, text, len);
    free(text);
    return rv;
}
