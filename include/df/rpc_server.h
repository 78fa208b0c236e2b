/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC server: Connect over HTTP/2 (h2c, or h2 over TLS when the bufferevent is a net_tls
 * one). A router maps "/<pkg>.<Service>/<Method>" to a handler of one of three kinds: unary,
 * server-streaming and bidirectional-streaming. Handlers receive parsed JSON objects that
 * passed the size and nesting limits, and may answer at once or later. Every server answers
 * POST /grpc.health.v1.Health/Check with {"status":"SERVING"}. A call on a unix-socket
 * connection can see who the local caller is and take a descriptor it passed; a call on TCP
 * has no caller, so a handler can refuse what only a local caller may ask.
 */
#ifndef DF_RPC_SERVER_H
#define DF_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"
#include "df/rpc_err.h"

struct bufferevent;
struct event_base;
struct net_caller;
struct net_tls_ctx;
struct net_tls_identity;
struct rpc_server;
struct rpc_call;

enum rpc_kind {
    RPC_KIND_UNARY,         /* application/json request, one response */
    RPC_KIND_SERVER_STREAM, /* application/connect+json: one request, many responses */
    RPC_KIND_BIDI,          /* application/connect+json: many requests, many responses */
};

/*
 * A method's handler, called once per call. For unary and server-streaming methods req is the
 * request (borrowed for the duration of the call); for bidi methods req is NULL and requests
 * arrive through rpc_call_cbs.on_message. The handler owns the call until it finishes it with
 * rpc_call_reply()/rpc_call_finish() or is told on_cancel.
 */
typedef void rpc_handler_fn(struct rpc_call *call, const cJSON *req, void *arg);

struct rpc_method {
    const char *path; /* "/test.v1.Echo/Unary" (static storage) */
    enum rpc_kind kind;
    rpc_handler_fn *handler;
    void *arg;
};

/* Per-call notifications a handler may install with rpc_call_set_cbs(); any may be NULL. */
struct rpc_call_cbs {
    /* bidi: one request message (borrowed for the callback). */
    void (*on_message)(struct rpc_call *call, const cJSON *msg, void *arg);
    /* bidi: the client closed its side; no more on_message. */
    void (*on_end)(struct rpc_call *call, void *arg);
    /* Streams: queued output fell below the limit after rpc_call_send() said DF_EAGAIN. */
    void (*on_writable)(struct rpc_call *call, void *arg);
    /* The call is gone before the handler finished it (client reset, deadline, connection
     * lost, server freed): drop every reference; the call is freed right after. */
    void (*on_cancel)(struct rpc_call *call, enum rpc_code why, void *arg);
};

struct rpc_server_opts {
    size_t max_msg_bytes;  /* per message; 0 = 4 MiB */
    int max_json_depth;    /* 0 = 32 */
    uint32_t max_streams;  /* concurrent streams per connection; 0 = 1024 */
    uint32_t max_conns;    /* 0 = 4096 */
    uint32_t reset_burst;  /* client RST_STREAMs allowed at once per connection; 0 = 1000 */
    uint32_t reset_rate;   /* ... replenished per second; 0 = 100 */
    size_t max_stream_out; /* queued output per streaming call before DF_EAGAIN; 0 = 1 MiB */
    int idle_timeout_ms;   /* close connections idle (no call) this long; 0 = 300 s */
    int max_deadline_ms;   /* cap on connect-timeout-ms; 0 = 10 min */
};

/* Create a server on base with opts (NULL = defaults). Never fails (aborts on OOM). */
struct rpc_server *rpc_server_new(struct event_base *base, const struct rpc_server_opts *opts);

/*
 * Register methods (n entries, copied; path strings must outlive the server). Returns 0, or
 * DF_EEXIST / DF_EINVAL for a duplicate or malformed path (nothing registered then).
 */
int rpc_server_register(struct rpc_server *srv, const struct rpc_method *methods, size_t n);

/*
 * Listen on addr ("ip:port", ":port", "unix:/path"); accepted connections are wrapped with
 * tls when it is not NULL (the context should offer ALPN "h2"). A unix socket without tls is a
 * local listener (net_listener_new_local): its connections carry their caller. Returns 0, or
 * DF_EINVAL/DF_EIO with a message in err. The bound address is rpc_server_addr(srv, i).
 */
int rpc_server_listen(struct rpc_server *srv, const char *addr, struct net_tls_ctx *tls,
                      struct df_error *err);

/* The address of the i-th listener ("127.0.0.1:43211"), or NULL. Borrowed. */
const char *rpc_server_addr(const struct rpc_server *srv, size_t i);

/*
 * Serve HTTP/2 on bev (plain socket or net_tls bufferevent), which the server takes over.
 * Returns 0, or DF_ELIMIT when max_conns is reached (bev is freed).
 */
int rpc_server_accept(struct rpc_server *srv, struct bufferevent *bev);

/* Graceful stop: stop listening and send GOAWAY; connections close as their calls finish. */
void rpc_server_shutdown(struct rpc_server *srv);

/* Open connections. */
size_t rpc_server_conn_count(const struct rpc_server *srv);

/* Close everything now (handlers get on_cancel) and free. NULL is a no-op. Not from inside
 * a handler or call callback. */
void rpc_server_free(struct rpc_server *srv);

/* Install notifications (bidi: before returning from the handler). */
void rpc_call_set_cbs(struct rpc_call *call, const struct rpc_call_cbs *cbs, void *arg);

/*
 * Unary: answer with msg (printed once, not owned) and finish the call. Returns 0, or DF_E*
 * (the call is then finished with an internal error). The handler must not use call again.
 */
int rpc_call_reply(struct rpc_call *call, const cJSON *msg);

/* Unary: answer with an already printed JSON object of len bytes. Same contract. */
int rpc_call_reply_raw(struct rpc_call *call, const char *json, size_t len);

/*
 * Streams: queue one message. Returns 0; DF_EAGAIN when max_stream_out bytes are already
 * queued (nothing queued; wait for on_writable); DF_ETOOBIG over max_msg_bytes; DF_EINVAL
 * for a unary call.
 */
int rpc_call_send(struct rpc_call *call, const cJSON *msg);

/*
 * Finish the call: RPC_OK ends a stream cleanly (for unary use rpc_call_reply); any other
 * code sends the error (unary: HTTP status + error JSON; streams: end-of-stream message).
 * message may be NULL. The handler must not use call again.
 */
void rpc_call_finish(struct rpc_call *call, enum rpc_code code, const char *message);

/* Milliseconds left before the call's deadline, or -1 when it has none. */
int64_t rpc_call_remaining_ms(const struct rpc_call *call);

/* The method path ("/test.v1.Echo/Unary"). Borrowed. */
const char *rpc_call_path(const struct rpc_call *call);

/* The event loop, for handlers that answer later. */
struct event_base *rpc_call_base(const struct rpc_call *call);

/*
 * The local caller of call's connection (credentials, and fd while not taken), or NULL for a
 * connection that did not come through a local listener (TCP). Borrowed until the call ends.
 */
const struct net_caller *rpc_call_caller(const struct rpc_call *call);

/*
 * The verified cluster identity of call's connection (net_tls_peer_identity): the role and
 * host its client certificate names, or NET_TLS_ROLE_NONE with host "" for a plaintext or
 * unix-socket connection and for a TLS client without a cluster certificate. Fills *out
 * and returns 0.
 */
int rpc_call_peer_identity(const struct rpc_call *call, struct net_tls_identity *out);

/*
 * Take the descriptor the local caller passed on call's connection: the result belongs to
 * the caller of this function. -1 when there is none (TCP, nothing passed, already taken).
 */
int rpc_call_take_fd(struct rpc_call *call);

#endif
