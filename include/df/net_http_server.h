/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 server over any bufferevent (plain sockets from a net_listener, or TLS
 * connections handed in with net_http_server_adopt). Each connection handles one request
 * at a time (pipelined requests wait in the input buffer), with limits on the head and the
 * body, a deadline on every wait (head, body idle, send idle, whole request, keep-alive
 * idle) and bounded output: streamed and file bodies are produced only while the output
 * buffer is below a watermark.
 *
 * A handler gets a struct net_http_req and answers it now or later (from the loop) with
 * one of the net_http_req_respond* calls, or with net_http_req_start + write + end. The
 * request stays valid until the response is complete (after respond*, or end) or until
 * its connection closes, which is reported to the callback set with net_http_req_on_close.
 */
#ifndef DF_NET_HTTP_SERVER_H
#define DF_NET_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"
#include "df/net_http_parse.h"

struct bufferevent;
struct evbuffer;
struct evbuffer_file_segment;
struct event_base;
struct net_http_req;
struct net_http_server;
struct sockaddr;

/*
 * Called once per request when its head has arrived and, unless the server streams bodies,
 * its body has been buffered. May respond at once or keep req for later.
 */
typedef void net_http_handler_fn(struct net_http_req *req, void *arg);

/*
 * Streamed response producer: called when the output buffer has drained below the low
 * watermark and the response is not finished. Write some data (net_http_req_write) or end
 * it; writing nothing is fine (call net_http_req_write later from another event).
 */
typedef void net_http_more_fn(struct net_http_req *req, void *arg);

/* The connection of req closed before the response completed; req is gone after return. */
typedef void net_http_close_fn(struct net_http_req *req, int reason, void *arg);

/*
 * The response of req is starting with status: req and its head are still readable, the
 * response is queued after return. Must not respond or free anything of req.
 */
typedef void net_http_respond_fn(struct net_http_req *req, int status, void *arg);

/*
 * Streamed request body: called with data (drain what you take; what remains is offered
 * again with the next bytes) and rv == 0, then once with data == NULL and rv == 0 at the
 * end of the body or rv < 0 when the body failed (DF_ETOOBIG, DF_EPROTO, DF_ETIMEDOUT).
 */
typedef void net_http_body_fn(struct net_http_req *req, struct evbuffer *data, int rv, void *arg);

struct net_http_server_opts {
    struct net_http_limits limits; /* head limits; zero fields take the defaults */
    uint64_t max_body;             /* request body bytes (buffered or streamed); 0 = 1 MiB */
    bool stream_body;              /* call the handler after the head; see net_http_req_read_body */
    int header_timeout_ms;         /* whole head from its first byte or from accept; 0 = 10 s */
    int body_timeout_ms;           /* idle between request body bytes; 0 = 30 s */
    int send_timeout_ms;           /* idle while the client is not reading; 0 = 30 s */
    int request_timeout_ms;        /* head to end of response, handler included; 0 = 300 s */
    int idle_timeout_ms;           /* keep-alive wait for the next request; 0 = 60 s */
    unsigned max_conns;            /* concurrent connections; 0 = 1024 */
    unsigned max_conns_per_ip;     /* ... from one source IP (accept_cb only); 0 = 64 */
    unsigned max_requests;         /* per connection, then close; 0 = unlimited */
    size_t out_high_water;         /* stop producing above this many queued bytes; 0 = 256 KiB */
    const char *name;              /* for logs ("upload"); copied; NULL = "http" */
};

/*
 * Create a server on base calling handler(req, arg) for every request. opts may be NULL.
 * Returns 0 and *out; never fails but for bad options (DF_EINVAL).
 */
int net_http_server_new(struct event_base *base, const struct net_http_server_opts *opts,
                        net_http_handler_fn *handler, void *arg, struct net_http_server **out);

/*
 * Accept connections from a listener socket: pass this as the net_listener callback with
 * the server as its arg. A connection past max_conns or max_conns_per_ip is closed at once
 * (refusals are logged at most once per second).
 */
void net_http_server_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg);

/*
 * Serve one connection on bev (a connected socket or TLS bufferevent), which the server
 * takes over (freed with the connection). peer is the client address text for logs (copied;
 * may be NULL). Returns 0, or DF_ELIMIT when max_conns is reached (bev freed).
 */
int net_http_server_adopt(struct net_http_server *srv, struct bufferevent *bev, const char *peer);

/* Number of open connections. */
unsigned net_http_server_conn_count(const struct net_http_server *srv);

/*
 * Close every connection (pending requests get their close callback with DF_ECANCELED)
 * and free the server. Must not be called from a handler. NULL is a no-op.
 */
void net_http_server_free(struct net_http_server *srv);

/* Request accessors: strings are borrowed until the request completes. */
const struct net_http_head *net_http_req_head(const struct net_http_req *req);
const char *net_http_req_method(const struct net_http_req *req);
const char *net_http_req_path(const struct net_http_req *req);
const char *net_http_req_query(const struct net_http_req *req); /* NULL if none */
const char *net_http_req_header(const struct net_http_req *req, const char *name);
const char *net_http_req_peer(const struct net_http_req *req);

/* The buffered request body (empty without one, or in stream_body mode). Borrowed. */
struct evbuffer *net_http_req_body(struct net_http_req *req);

/*
 * stream_body mode: receive the body through cb (sends 100 Continue if asked for). Not
 * calling this before responding discards the body (the connection then closes after the
 * response unless the body was already complete). Returns 0 or DF_EINVAL if called twice.
 */
int net_http_req_read_body(struct net_http_req *req, net_http_body_fn *cb, void *arg);

/* Be told if the connection goes away before the response completes. */
void net_http_req_on_close(struct net_http_req *req, net_http_close_fn *cb, void *arg);

/*
 * Be told once when the response of req starts (any respond or start call, the server's own
 * timeout answers included), with its status: an access log or audit trail sees every answer,
 * whoever gives it and whenever. Not called when the connection closes before a response.
 */
void net_http_req_on_respond(struct net_http_req *req, net_http_respond_fn *cb, void *arg);

/*
 * Add a response header (copied) before the response starts. Date, Content-Length,
 * Transfer-Encoding and Connection are set by the server. Returns DF_EINVAL for a bad name
 * or value (CR/LF injection) or after the response started.
 */
int net_http_req_add_header(struct net_http_req *req, const char *name, const char *value);

/*
 * Respond with len bytes of body (copied) and content type ctype (NULL: none). The request
 * completes: req is invalid after return. Returns 0 or DF_EINVAL (wrong state); the
 * response is dropped silently if the connection has failed meanwhile.
 */
int net_http_req_respond(struct net_http_req *req, int status, const char *ctype, const void *body,
                         size_t len);

/* Respond with the contents of body (moved out of it). Completes req like respond. */
int net_http_req_respond_buffer(struct net_http_req *req, int status, const char *ctype,
                                struct evbuffer *body);

/*
 * Respond with len bytes of fd from offset, sent in slices with sendfile where the
 * bufferevent allows it. Takes fd (closed when done, also on error). Completes req.
 */
int net_http_req_respond_file(struct net_http_req *req, int status, const char *ctype, int fd,
                              uint64_t offset, uint64_t len);

/*
 * Start a streamed response: length >= 0 sends Content-Length (writing more or ending short
 * is an error that closes the connection), -1 uses chunked coding (HTTP/1.1 clients) or
 * close-delimited (HTTP/1.0). more is called whenever output drains below the low watermark.
 * Then net_http_req_write / net_http_req_end. Returns 0 or DF_EINVAL.
 */
int net_http_req_start(struct net_http_req *req, int status, const char *ctype, int64_t length,
                       net_http_more_fn *more, void *arg);

/*
 * Queue body bytes (copied) of a started response. Producers stop while
 * net_http_req_is_congested() and resume in the more callback. Returns 0, DF_ETOOBIG beyond
 * the declared length (the response is aborted: req is gone), or DF_EINVAL (wrong state).
 */
int net_http_req_write(struct net_http_req *req, const void *data, size_t len);

/* Like net_http_req_write, moving the contents of buf. */
int net_http_req_write_buffer(struct net_http_req *req, struct evbuffer *buf);

/*
 * Like net_http_req_write, len bytes of seg from off (relative to the segment), queued
 * straight on the connection's output: a plain socket sends them with sendfile, a TLS one
 * maps them. (Through an intermediate evbuffer libevent would map and copy them even for a
 * plain socket.) Returns as net_http_req_write, or DF_EIO when the segment cannot be
 * queued (nothing was: req is still valid, abort it with net_http_req_end).
 */
int net_http_req_write_file(struct net_http_req *req, struct evbuffer_file_segment *seg,
                            uint64_t off, uint64_t len);

/*
 * Finish a started response (rv == 0), or abort it (rv < 0: the connection is closed so the
 * client sees a truncated body, never a short success). req is invalid after return.
 */
int net_http_req_end(struct net_http_req *req, int rv);

/* True while queued output is at or above the high watermark. */
bool net_http_req_is_congested(const struct net_http_req *req);

/*
 * The target of a proxy request: authority-form "host:port" for CONNECT, absolute-form
 * "http(s)://host[:port]/path" for other methods (as net_http_target_parse says). Returns 0
 * and *out (path borrowed like the other accessors), or DF_EINVAL when the target is not in
 * that form (an origin-form "/path" request, or a malformed target).
 */
int net_http_req_target(const struct net_http_req *req, struct net_http_target *out);

/*
 * Take req's connection away from the server, as a CONNECT tunnel does: the server forgets
 * it (no more callbacks, deadlines or counting against max_conns) and *out gets its
 * bufferevent with callbacks cleared, reading and writing disabled and watermarks reset.
 * Bytes the client sent after the request head (a TLS ClientHello, say) are in its input
 * buffer. The caller owns and frees *out. Only from the handler or later, before a response
 * started and with no request body pending. req is invalid after return (its close callback
 * is not called). Returns 0, or DF_EINVAL (wrong state: nothing changed).
 */
int net_http_req_take_over(struct net_http_req *req, struct bufferevent **out);

#endif
