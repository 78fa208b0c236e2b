/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A route table for net_http_server handlers: method + path pattern -> handler. A pattern
 * is a path whose segments are literals, ":name" (one non-empty segment) or, last only,
 * "*name" (the rest of the path, possibly empty, slashes included). Matching is on the raw
 * path (no percent-decoding, no dot-segment folding), so a handler sees what the client
 * sent. Routes are tried in table order; a GET route also answers HEAD. A path no route
 * matches gets 404; a path some route matches with another method gets 405 and an Allow
 * header listing the methods that would match.
 */
#ifndef DF_NET_ROUTE_H
#define DF_NET_ROUTE_H

#include <stddef.h>

struct net_http_req;
struct net_route_match;
struct cJSON;
struct df_metrics;

#define NET_ROUTE_MAX_PARAMS 8

/* Answer req; m holds the route and its parameters, valid during this call only. */
typedef void net_route_fn(struct net_http_req *req, const struct net_route_match *m, void *arg);

struct net_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* e.g. "/pieces/:task/:number" */
    net_route_fn *fn;
};

/* A matched route: its parameter values, owned by the match (net_route_match_reset). */
struct net_route_match {
    const struct net_route *route;
    size_t nparams;
    const char *names[NET_ROUTE_MAX_PARAMS]; /* into the pattern, up to '/' or NUL */
    size_t name_lens[NET_ROUTE_MAX_PARAMS];
    char *values[NET_ROUTE_MAX_PARAMS];
};

/*
 * Check n routes: a method of uppercase letters, a pattern that starts with '/', parameter
 * names of [A-Za-z0-9_] filling their segment, at most one "*name" and only last, at most
 * NET_ROUTE_MAX_PARAMS parameters, a handler. Returns 0 or DF_EINVAL.
 */
int net_route_check(const struct net_route *routes, size_t n);

/*
 * Find the route for method and path. Returns the route's index and fills m (reset it
 * after), DF_ENOTFOUND when no pattern matches the path, or DF_EPERM when some pattern
 * matches but not with this method: then allow (allowlen bytes) holds the methods that
 * would, as "GET, HEAD, POST". m is only filled on success.
 */
int net_route_find(const struct net_route *routes, size_t n, const char *method, const char *path,
                   struct net_route_match *m, char *allow, size_t allowlen);

/* Free the parameter values of m. */
void net_route_match_reset(struct net_route_match *m);

/* The value of parameter name in m (borrowed from m), or NULL. */
const char *net_route_param(const struct net_route_match *m, const char *name);

/*
 * Answer req from the table: the matching route's handler with arg, or 404 / 405 (with
 * Allow). Call it from a net_http_handler_fn. The routes are the program's own, so a
 * malformed route is a bug (DF_ASSERT on the route about to run).
 */
void net_route_dispatch(struct net_http_req *req, const struct net_route *routes, size_t n,
                        void *arg);

/* A health check route: answers 200 "OK" as text/plain. */
void net_route_healthy(struct net_http_req *req, const struct net_route_match *m, void *arg);

/* Respond with text (copied) as text/plain. Completes req; returns as net_http_req_respond. */
int net_route_reply_text(struct net_http_req *req, int status, const char *text);

/*
 * Respond with doc serialised compactly as application/json. Completes req; returns as
 * net_http_req_respond, or DF_ENOMEM (then a 500 was sent instead).
 */
int net_route_reply_json(struct net_http_req *req, int status, const struct cJSON *doc);

/*
 * Respond with r rendered as Prometheus text (200), or 500 when it cannot be rendered.
 * Completes req; returns as net_http_req_respond, or DF_ENOMEM.
 */
int net_route_reply_metrics(struct net_http_req *req, const struct df_metrics *r);

#endif
