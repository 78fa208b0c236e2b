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

#include "df/df_conf.h"
#include "df/df_err.h"
#include "df/rpc_err.h"

/* The health check every server answers ({"status":"SERVING"}); clients probe it. */
#define RPC_SERVER_HEALTH_CHECK "/grpc.health.v1.Health/Check"

struct bufferevent;
struct event_base;
struct net_caller;
struct net_listener_perm;
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
    size_t max_msg_bytes;      /* per message; 0 = 4 MiB */
    int max_json_depth;        /* 0 = 32 */
    uint32_t max_streams;      /* concurrent streams per connection; 0 = 256 */
    uint32_t max_conns;        /* 0 = 4096 */
    uint32_t max_conns_per_ip; /* TCP connections from one source IP; 0 = 64 */
    uint32_t reset_burst;      /* client RST_STREAMs allowed at once per connection; 0 = 1000 */
    uint32_t reset_rate;       /* ... replenished per second; 0 = 100 */
    size_t max_stream_out;     /* queued output per streaming call before DF_EAGAIN; 0 = 1 MiB */
    /* Unfinished request bodies and messages buffered per connection (at least one
     * max_msg_bytes message fits); a stream past it ends with resource_exhausted. 0 = 8 MiB */
    size_t conn_body_budget;
    size_t body_budget;     /* ... across all connections; 0 = 64 MiB */
    int preface_timeout_ms; /* accept to the client's preface and SETTINGS; 0 = 10 s */
    /* A request message from its HEADERS (or its first byte, for later messages of a bidi
     * stream) to its end; a unary or server-streaming request must end its stream in it. */
    int body_timeout_ms; /* 0 = 30 s */
    /* Close a connection with no call this long, or with calls but no frame at all from the
     * client this long (rpc_client PINGs every 30 s while connected). 0 = 300 s */
    int idle_timeout_ms;
    int max_deadline_ms; /* cap on connect-timeout-ms; 0 = 10 min */
};

/*
 * The abuse limits of a role's RPC server as configuration: a role embeds this struct in
 * its config and lists RPC_SERVER_CONF_ENTRIES(offset of the field, per-IP default) in its
 * table, which gives every role the same "rpc.*" keys.
 */
struct rpc_server_conf {
    int64_t max_conns, max_conns_per_ip, max_streams;
    int64_t max_msg_bytes, conn_body_budget, body_budget; /* bytes */
    int64_t preface_timeout, body_timeout, idle_timeout;  /* ms */
};

#define RPC_SERVER_CONF_F(base, f) ((base) + offsetof(struct rpc_server_conf, f))
#define RPC_SERVER_CONF_ENTRIES(base, per_ip)                                                       \
    {.key = "rpc.maxConns",                                                                         \
     .type = DF_CONF_INT,                                                                           \
     .offset = RPC_SERVER_CONF_F(base, max_conns),                                                  \
     .def = "4096",                                                                                 \
     .min = 1,                                                                                      \
     .max = 1000000,                                                                                \
     .help = "RPC connections open at once"},                                                       \
            {.key = "rpc.maxConnsPerIP",                                                            \
             .type = DF_CONF_INT,                                                                   \
             .offset = RPC_SERVER_CONF_F(base, max_conns_per_ip),                                   \
             .def = per_ip,                                                                         \
             .min = 1,                                                                              \
             .max = 1000000,                                                                        \
             .help = "RPC connections from one source IP (unix socket: uncapped)"},                 \
            {.key = "rpc.maxStreams",                                                               \
             .type = DF_CONF_INT,                                                                   \
             .offset = RPC_SERVER_CONF_F(base, max_streams),                                        \
             .def = "256",                                                                          \
             .min = 1,                                                                              \
             .max = 100000,                                                                         \
             .help = "concurrent RPC streams per connection"},                                      \
            {.key = "rpc.maxMessageSize",                                                           \
             .type = DF_CONF_SIZE,                                                                  \
             .offset = RPC_SERVER_CONF_F(base, max_msg_bytes),                                      \
             .def = "1MiB",                                                                         \
             .min = 1024,                                                                           \
             .max = 64 << 20,                                                                       \
             .help = "largest RPC request message"},                                                \
            {.key = "rpc.connBodyBudget",                                                           \
             .type = DF_CONF_SIZE,                                                                  \
             .offset = RPC_SERVER_CONF_F(base, conn_body_budget),                                   \
             .def = "8MiB",                                                                         \
             .min = 4096,                                                                           \
             .max = INT64_C(1) << 40,                                                               \
             .help = "unfinished request bytes one connection may have buffered (at least two "     \
                     "messages); streams past it end with resource_exhausted"},                     \
            {.key = "rpc.bodyBudget",                                                               \
             .type = DF_CONF_SIZE,                                                                  \
             .offset = RPC_SERVER_CONF_F(base, body_budget),                                        \
             .def = "64MiB",                                                                        \
             .min = 4096,                                                                           \
             .max = INT64_C(1) << 40,                                                               \
             .help = "unfinished request bytes buffered over all connections"},                     \
            {.key = "rpc.prefaceTimeout",                                                           \
             .type = DF_CONF_DURATION,                                                              \
             .offset = RPC_SERVER_CONF_F(base, preface_timeout),                                    \
             .def = "10s",                                                                          \
             .min = 10,                                                                             \
             .max = 3600 * 1000,                                                                    \
             .help = "a new connection must send the HTTP/2 preface within this"},                  \
            {.key = "rpc.bodyTimeout",                                                              \
             .type = DF_CONF_DURATION,                                                              \
             .offset = RPC_SERVER_CONF_F(base, body_timeout),                                       \
             .def = "30s",                                                                          \
             .min = 10,                                                                             \
             .max = 3600 * 1000,                                                                    \
             .help = "a request message must be complete this long after its stream opened or its " \
                     "first byte came"},                                                            \
    {                                                                                               \
        .key = "rpc.idleTimeout", .type = DF_CONF_DURATION,                                         \
        .offset = RPC_SERVER_CONF_F(base, idle_timeout), .def = "5m", .min = 1000,                  \
        .max = 24 * 3600 * 1000,                                                                    \
        .help = "close a connection without calls this long, or with calls but nothing at all "     \
                "received (our clients PING every 30s: keep it well above)"                         \
    }

/* Copy conf into the matching fields of opts (the others are left alone). */
void rpc_server_conf_apply(const struct rpc_server_conf *conf, struct rpc_server_opts *opts);

/* Create a server on base with opts (NULL = defaults). Never fails (aborts on OOM). */
struct rpc_server *rpc_server_new(struct event_base *base, const struct rpc_server_opts *opts);

/*
 * Register methods (n entries, copied; path strings must outlive the server). Returns 0, or
 * DF_EEXIST / DF_EINVAL for a duplicate or malformed path (nothing registered then).
 */
int rpc_server_register(struct rpc_server *srv, const struct rpc_method *methods, size_t n);

/*
 * Cap the request messages of the registered method path below the server's max_msg_bytes
 * (for what a handler keeps for a stream's life); 0 restores the server's. Returns 0 or
 * DF_ENOTFOUND.
 */
int rpc_server_limit_method(struct rpc_server *srv, const char *path, size_t max_msg_bytes);

/*
 * Listen on addr ("ip:port", ":port", "unix:/path"); accepted connections are wrapped with
 * tls when it is not NULL (the context should offer ALPN "h2"). A unix socket without tls is a
 * local listener (net_listener_new_local): its connections carry their caller. Returns 0, or
 * DF_EINVAL/DF_EIO with a message in err. The bound address is rpc_server_addr(srv, i).
 */
int rpc_server_listen(struct rpc_server *srv, const char *addr, struct net_tls_ctx *tls,
                      struct df_error *err);

/*
 * Listen on the local unix socket addr ("unix:/path"), whose file gets perm (see
 * net_listener_new_local; NULL: 0600). Same returns as rpc_server_listen().
 */
int rpc_server_listen_local(struct rpc_server *srv, const char *addr,
                            const struct net_listener_perm *perm, struct df_error *err);

/* The address of the i-th listener ("127.0.0.1:43211"), or NULL. Borrowed. */
const char *rpc_server_addr(const struct rpc_server *srv, size_t i);

/*
 * Serve HTTP/2 on bev (plain socket or net_tls bufferevent), which the server takes over.
 * Returns 0, or DF_ELIMIT when max_conns is reached (bev is freed). Not counted against
 * max_conns_per_ip (listeners do that before a connection gets here).
 */
int rpc_server_accept(struct rpc_server *srv, struct bufferevent *bev);

/* Graceful stop: stop listening and send GOAWAY; connections close as their calls finish. */
void rpc_server_shutdown(struct rpc_server *srv);

/* Open connections. */
size_t rpc_server_conn_count(const struct rpc_server *srv);

/* Request bytes buffered now (unfinished bodies and messages), for tests and metrics. */
size_t rpc_server_body_bytes(const struct rpc_server *srv);

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

/*
 * The caller's IP as text into buf (>= 46 bytes), for per-source quotas. Returns false for
 * a caller without one (unix socket, rpc_server_accept()); buf is then "".
 */
bool rpc_call_peer_ip(const struct rpc_call *call, char *buf, size_t len);

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
