/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The console: the web UI's files (console/), compiled into the binary by
 * scripts/gen-console.py, served on the REST port. Each file is kept as it is and, when
 * that is smaller, gzipped at build time, so a request costs a lookup and a copy. The ETag
 * is the content's hash: a browser revalidates (Cache-Control: no-cache, the file names
 * carry no hash) and gets a 304 without a body.
 *
 * Deep links: a GET of a path that is no file and whose last segment has no dot is the
 * single-page app's own route (/clusters/2/schedulers), so it gets index.html and a reload
 * stays where it was; upstream redirects those to / and loses them. /api and /oapi paths
 * that no route has stay JSON 404s, never HTML.
 *
 * Every console answer carries a Content-Security-Policy that allows only our own scripts
 * and styles (no inline code, no eval, nothing from elsewhere, no framing), so a value that
 * slipped into the page as markup still could not run.
 */
#include "mgr.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "df/net_http_server.h"
#include "df/net_route.h"

#include "mgr_console_assets.h"

#define MGR_CONSOLE_CSP                                                               \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "     \
    "form-action 'self'; frame-ancestors 'none'"

const struct mgr_console_asset *
mgr_console_find(const char *path)
{
    const char *last;

    if (*path == '\0' || strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < DF_NELEM(mgr_console_assets); i++) {
        if (strcmp(mgr_console_assets[i].path, path) == 0)
            return &mgr_console_assets[i];
    }
    /* a missing file (a dot in its last segment) is a 404, anything else is the app's route */
    last = strrchr(path, '/');
    if (strchr(last != NULL ? last : path, '.') != NULL)
        return NULL;
    return mgr_console_find("/index.html");
}

bool
mgr_console_accepts_gzip(const char *accept_encoding)
{
    const char *p = accept_encoding;

    /* "gzip" or "x-gzip" as a token of the list, unless its q is 0 */
    while (p != NULL && *p != '\0') {
        size_t len;
        const char *q;

        p += strspn(p, " \t,");
        len = strcspn(p, " \t,;");
        if ((len == 4 && strncasecmp(p, "gzip", 4) == 0) ||
            (len == 6 && strncasecmp(p, "x-gzip", 6) == 0)) {
            q = p + len + strspn(p + len, " \t");
            if (*q != ';')
                return true;
            q += 1 + strspn(q + 1, " \t");
            /* q=0, q=0.0, q=0.000 refuse; any other weight accepts */
            if (strncasecmp(q, "q=", 2) != 0)
                return true;
            q += 2;
            if (*q != '0')
                return true;
            q += 1 + (q[1] == '.');
            q += strspn(q, "0");
            return *q != '\0' && *q != ',' && *q != ' ' && *q != '\t' && *q != ';';
        }
        p = strchr(p, ',');
    }
    return false;
}

bool
mgr_console_etag_is_match(const char *if_none_match, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = if_none_match;

    /* a list of entity tags, weak ones compared weakly (RFC 9110 8.8.3.2), or "*" */
    while (p != NULL && *p != '\0') {
        p += strspn(p, " \t,");
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, elen) == 0 &&
            (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

void
mgr_console_add_security_headers(struct net_http_req *req)
{
    net_http_req_add_header(req, "Content-Security-Policy", MGR_CONSOLE_CSP);
    net_http_req_add_header(req, "X-Frame-Options", "DENY");
    net_http_req_add_header(req, "Referrer-Policy", "same-origin");
}

void
mgr_console_get(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                const struct mgr_caller *who)
{
    const char *rest = net_route_param(m, "path");
    const struct mgr_console_asset *a;
    const char *inm, *etag;
    char path[1024];
    bool gz;

    (void)ctx;
    (void)who;
    snprintf(path, sizeof(path), "/%s", rest != NULL ? rest : "");
    mgr_console_add_security_headers(req);
    if ((a = mgr_console_find(path)) == NULL) {
        net_route_reply_text(req, 404, "not found\n");
        return;
    }
    gz = a->gz != NULL && mgr_console_accepts_gzip(net_http_req_header(req, "Accept-Encoding"));
    etag = gz ? a->etag_gz : a->etag;
    if (a->gz != NULL)
        net_http_req_add_header(req, "Vary", "Accept-Encoding");
    net_http_req_add_header(req, "ETag", etag);
    net_http_req_add_header(req, "Cache-Control", "no-cache");
    if ((inm = net_http_req_header(req, "If-None-Match")) != NULL &&
        mgr_console_etag_is_match(inm, etag)) {
        net_http_req_respond(req, 304, NULL, "", 0);
        return;
    }
    if (gz) {
        net_http_req_add_header(req, "Content-Encoding", "gzip");
        net_http_req_respond(req, 200, a->type, a->gz, a->gz_len);
    } else {
        net_http_req_respond(req, 200, a->type, a->raw, a->raw_len);
    }
}

void
mgr_console_api_missing(struct mgr *ctx, struct net_http_req *req, const struct net_route_match *m,
                        const struct mgr_caller *who)
{
    (void)ctx;
    (void)m;
    (void)who;
    mgr_reply_message(req, 404, "Not Found");
}
