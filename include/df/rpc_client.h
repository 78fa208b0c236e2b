/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC client: one HTTP/2 connection (h2c, or h2 over TLS with a net_tls context) to one
 * server, shared by any number of concurrent unary calls and streams. Calls made while the
 * connection is being (re)established wait in a bounded queue; a dropped connection is
 * re-established with exponential backoff and jitter. Every call has a deadline: it is sent
 * as connect-timeout-ms, and when it passes the stream is reset and the call completes with
 * deadline_exceeded.
 */
#ifndef DF_RPC_CLIENT_H
#define DF_RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"
#include "df/rpc_err.h"

struct event_base;
struct evdns_base;
struct net_tls_ctx;
struct rpc_client;
struct rpc_client_call;

struct rpc_client_opts {
    const char *addr;        /* "host:port", "[v6]:port" or "unix:/path" (copied) */
    struct net_tls_ctx *tls; /* h2 over TLS when set (offer ALPN "h2"); borrowed */
    const char *tls_name;    /* SNI/verification name; default the host of addr */
    /*
     * Cluster mTLS (tls must have the cluster CA; its certificate, if any, is presented):
     * the server must hold a certificate naming one of these roles (NET_TLS_ROLE_BIT set)
     * and, when expect_host is set, that host; it is then verified by net_tls_wrap_expect
     * instead of by tls_name. 0 = verify by name.
     */
    unsigned expect_roles;
    const char *expect_host; /* copied; NULL = any host */
    int connect_timeout_ms;  /* per attempt, TLS handshake included; 0 = 5 s */
    int backoff_min_ms;      /* first retry delay; 0 = 100 ms */
    int backoff_max_ms;      /* cap; 0 = 10 s */
    int default_deadline_ms; /* for calls made with deadline 0; 0 = 30 s */
    size_t max_msg_bytes;    /* per response message; 0 = 4 MiB */
    int max_json_depth;      /* 0 = 32 */
    uint32_t max_calls;      /* queued + in flight; 0 = 10000 */
    /* Called with each new connection's socket before any byte is sent (e.g. to pass a
     * descriptor to a local peer: net_listener_send_fd); nonzero fails the attempt. */
    int (*on_socket)(int fd, void *arg);
    void *on_socket_arg;
    int keepalive_ms; /* PING interval, so quiet streams outlive a server's idle
                         timeout (rpc_server: 300 s by default); 0 = 30 s */
};

/*
 * Completion of a unary call: st->code is RPC_OK and resp the response object, or an error
 * and resp NULL. Both are borrowed for the duration of the callback. Called exactly once,
 * never from inside the call that started it; the call handle is freed after it returns.
 */
typedef void rpc_client_unary_fn(const struct rpc_status *st, const cJSON *resp, void *arg);

/* Notifications of a stream; on_message may be NULL. */
struct rpc_client_stream_cbs {
    /* One response message (borrowed for the callback). */
    void (*on_message)(struct rpc_client_call *s, const cJSON *msg, void *arg);
    /* The stream ended with st (RPC_OK or the error); called once, the handle is freed after. */
    void (*on_close)(struct rpc_client_call *s, const struct rpc_status *st, void *arg);
};

/*
 * Create a client for opts->addr on base. dns resolves host names (net_dns_new, shared and
 * borrowed); when NULL the client makes its own. Nothing is connected until the first call. Returns
 * 0 and *out, or DF_EINVAL with a message in err.
 */
int rpc_client_new(struct event_base *base, struct evdns_base *dns,
                   const struct rpc_client_opts *opts, struct rpc_client **out,
                   struct df_error *err);

/*
 * Fail every pending call with RPC_CANCELED (their callbacks run now), close the connection
 * and free. May be called from inside a call's callback (the rest is then deferred to the
 * loop). NULL is a no-op.
 */
void rpc_client_free(struct rpc_client *c);

/*
 * Start a unary call of path ("/pkg.Service/Method") with req (printed at once, not owned).
 * deadline_ms 0 means the default deadline. Returns 0 (cb will be called exactly once) and
 * optionally the handle in *out, or DF_ELIMIT (max_calls reached), DF_ETOOBIG or DF_EINVAL
 * (cb is not called).
 */
int rpc_client_unary(struct rpc_client *c, const char *path, const cJSON *req, int deadline_ms,
                     rpc_client_unary_fn *cb, void *arg, struct rpc_client_call **out);

/* Same with an already printed JSON object of len bytes. */
int rpc_client_unary_raw(struct rpc_client *c, const char *path, const char *json, size_t len,
                         int deadline_ms, rpc_client_unary_fn *cb, void *arg,
                         struct rpc_client_call **out);

/*
 * Open a stream (server-streaming or bidi) of path. Send requests with rpc_client_send() and
 * end the request side with rpc_client_close_send(); a server-streaming call sends exactly
 * one. Same returns as rpc_client_unary(); cbs->on_close is called exactly once.
 */
int rpc_client_stream(struct rpc_client *c, const char *path, int deadline_ms,
                      const struct rpc_client_stream_cbs *cbs, void *arg,
                      struct rpc_client_call **out);

/* Queue one request message on a stream. Returns 0, DF_ETOOBIG, or DF_ECLOSED after
 * rpc_client_close_send() or once the stream is closing. */
int rpc_client_send(struct rpc_client_call *s, const cJSON *msg);

/* End the request side of a stream (idempotent). */
void rpc_client_close_send(struct rpc_client_call *s);

/* Abandon a call or stream: the stream is reset and its callback is NOT called. */
void rpc_client_cancel(struct rpc_client_call *call);

/* True while the client has a usable connection. */
bool rpc_client_is_connected(const struct rpc_client *c);

/* Calls queued or in flight. */
size_t rpc_client_pending(const struct rpc_client *c);

/* Connections established so far (reconnects included), for tests and metrics. */
uint64_t rpc_client_connects(const struct rpc_client *c);

#endif
