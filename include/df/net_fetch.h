/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTP(S) fetch of a URL (or of a byte range of it), below the roles: the peer's
 * back-to-source, the proxy's pass-through and the manager's registry requests. Redirects are
 * followed here (at most NET_FETCH_MAX_REDIRECTS hops unless asked otherwise, Authorization and
 * cookies dropped when the host changes), a 206 must answer exactly the range that was asked for, a
 * body that trickles below a minimum rate is abandoned, and an address policy is checked on every
 * address connected to. Retries belong to the caller, which is told whether a failure is worth
 * retrying and any Retry-After.
 */
#ifndef DF_NET_FETCH_H
#define DF_NET_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/net_http_parse.h"

struct event_base;
struct evbuffer;
struct evdns_base;
struct net_addrpolicy;
struct net_tls_ctx;
struct net_fetch;

#define NET_FETCH_MAX_REDIRECTS 10

/*
 * A pool of idle kept-alive plain-HTTP (and cluster mTLS) connections, by host and port. A
 * fresh connection per request (a peer's 1 MiB piece) restarts TCP slow start each time, and on a
 * link whose return path is queued behind our own uploads (RTT tens of ms) a 1 MiB piece then never
 * reaches full rate. Returns the pool (the caller frees it with net_fetch_pool_free, which takes
 * NULL).
 */
struct net_fetch_pool *net_fetch_pool_new(void);
void net_fetch_pool_free(struct net_fetch_pool *pool);

struct net_fetch_pool;

/* What every fetch of one owner (a peer, the manager, a proxy) shares. */
struct net_fetch_env {
    struct net_fetch_pool *pool; /* idle plain-HTTP connections to reuse; may be NULL */
    struct event_base *base;
    struct evdns_base *dns;
    struct net_tls_ctx *tls;          /* verifying client context */
    struct net_tls_ctx *tls_insecure; /* for requests that ask for --insecure */
    struct net_tls_ctx *tls_cluster;  /* cluster mTLS client; NULL: plaintext cluster */
    int connect_timeout_ms;
    int head_timeout_ms;
    int idle_timeout_ms;
    uint64_t min_rate; /* bytes/s over a window, after a grace period; 0 = off */
    /* What the owner calls net_fetch_req.policy in its refusals ("back-to-source policy");
     * NULL: "address policy". */
    const char *policy_name;
};

struct net_fetch_req {
    const char *method; /* "GET" or "HEAD"; NULL: GET */
    const char *url;
    const struct net_http_header *headers; /* user headers, passed to the origin */
    size_t nheaders;
    bool has_range; /* ask for bytes [start, end] */
    uint64_t start, end;
    bool insecure;
    /* https to another cluster host: verified by tls_cluster, the certificate must name one
     * of these roles (NET_TLS_ROLE_BIT set); 0: an origin, verified by its name. */
    unsigned cluster_roles;
    const struct net_addrpolicy *policy; /* NULL: none (a local caller's own download) */
    /*
     * false: only 200 and 206 reach on_head, other answers end the fetch with a DF_E* code.
     * true: every final answer (not a followed redirect) reaches on_head with its status and
     * head, and its body follows: a 401 with its WWW-Authenticate, a 404 with its error JSON.
     */
    bool any_status;
    /* Hand a redirect over as the answer (with any_status: a proxy passing it on to its
     * client) instead of following it; without any_status it ends the fetch with DF_EPROTO. */
    bool keep_redirects;
    int max_redirects; /* hops followed; 0: NET_FETCH_MAX_REDIRECTS */
    /* With no on_data callback the body is kept in memory (net_fetch_body) up to this many
     * bytes; a longer one ends the fetch with DF_ETOOBIG. Must be > 0 without on_data. */
    size_t max_body;
};

/* The response as seen after redirects; strings borrowed for the on_head call only. */
struct net_fetch_meta {
    int status;     /* 200 or 206 (any final status with any_status) */
    bool ranged;    /* 206 for exactly the asked range */
    bool has_total; /* total object length known (Content-Range or a 200's length) */
    uint64_t total;
    bool has_length; /* body length known */
    uint64_t length;
    const char *etag; /* NULL if absent */
    const char *last_modified;
    const char *final_url;            /* after redirects */
    const struct net_http_head *head; /* every header of the answer */
    bool no_body;                     /* a HEAD: length and total are announced, none follows */
};

struct net_fetch_cbs {
    /* Return 0 to receive the body, or a negative DF_E* to abandon the fetch with it. May be
     * NULL: the body is taken. */
    int (*on_head)(struct net_fetch *s, const struct net_fetch_meta *m, void *arg);
    /* Consume data (drain it); return 0, or a negative DF_E* to abandon the fetch. NULL:
     * the body is kept in memory (net_fetch_req.max_body). */
    int (*on_data)(struct net_fetch *s, struct evbuffer *data, void *arg);
    /*
     * The fetch is over (rv == 0: the whole body arrived). why is a one-line reason for
     * failures; retry_after_ms is the origin's Retry-After (0 if none). s is freed after.
     */
    void (*on_end)(struct net_fetch *s, int rv, const char *why, uint64_t retry_after_ms,
                   void *arg);
};

/*
 * Start a fetch. Returns 0 and *out (for net_fetch_cancel), or DF_EINVAL with a message
 * in err for a URL we cannot fetch or a method other than GET and HEAD. Callbacks run later, from
 * the loop.
 */
int net_fetch_start(const struct net_fetch_env *env, const struct net_fetch_req *req,
                    const struct net_fetch_cbs *cbs, void *arg, struct net_fetch **out,
                    struct df_error *err);

/* Abandon a fetch: no further callbacks. */
void net_fetch_cancel(struct net_fetch *s);

/* Stop reading the body (rate limiting) / read on. */
void net_fetch_pause(struct net_fetch *s);
void net_fetch_resume(struct net_fetch *s);

/* The body kept in memory (no on_data callback) so far; valid until s is freed, so in
 * on_end the whole body. The caller may drain it. */
struct evbuffer *net_fetch_body(struct net_fetch *s);

/* Body bytes received so far by this fetch. */
uint64_t net_fetch_bytes(const struct net_fetch *s);

/* True for failures worth another try (5xx, 429, connection loss, truncation, stalls). */
bool net_fetch_is_retryable(int rv);

#endif
