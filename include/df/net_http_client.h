/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 client: one request at a time over a connected bufferevent (plain, or TLS from
 * net_tls_wrap: the code is the same), reusable while the server keeps the connection
 * alive. The response head and then the body are delivered through callbacks as they
 * arrive; the body is never buffered beyond a watermark (the caller pauses and resumes).
 * A body that ends before its Content-Length or final chunk is an error, never a short
 * success. Connecting (and its deadline) is the caller's: net_connect_start.
 */
#ifndef DF_NET_HTTP_CLIENT_H
#define DF_NET_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_err.h"
#include "df/net_http_parse.h"

struct bufferevent;
struct evbuffer;
struct net_http_client;

struct net_http_client_opts {
    struct net_http_limits limits; /* response head limits; zero fields take the defaults */
    uint64_t max_body;             /* response body bytes; 0 = unlimited */
    int head_timeout_ms;           /* request sent to head received; 0 = 30 s */
    int idle_timeout_ms;           /* no byte received while waiting (stall, trickle); 0 = 30 s */
    int total_timeout_ms;          /* the whole exchange; 0 = no total deadline */
    size_t body_high_water;        /* stop reading while this much is undelivered; 0 = 1 MiB */
};

struct net_http_request {
    const char *method;                    /* "GET", "HEAD", ... */
    const char *target;                    /* "/path?query" (or an absolute URL through a proxy) */
    const char *host;                      /* Host header value, required */
    const struct net_http_header *headers; /* extra fields; Host, Content-Length,
                                              Transfer-Encoding are set by the client */
    size_t nheaders;
    const void *body; /* request body (copied), sent with Content-Length; may be NULL */
    size_t body_len;
};

/*
 * The final response head (interim 1xx responses are skipped). head is borrowed for the
 * call. Return 0 to go on, or a negative code to stop: the request ends with that code.
 */
typedef int net_http_client_head_fn(struct net_http_client *c, const struct net_http_head *head,
                                    void *arg);

/*
 * Body bytes: take what you want from data (evbuffer_remove_buffer, evbuffer_write, drain).
 * Bytes left in data are offered again with the next ones; while they exceed the high
 * watermark the client stops reading. Return 0, or a negative code to stop.
 */
typedef int net_http_client_data_fn(struct net_http_client *c, struct evbuffer *data, void *arg);

/*
 * The request is over: rv is 0 when the whole body arrived, else DF_ECLOSED (the
 * connection closed before any response byte: an idempotent request may be retried on a
 * new connection), DF_EPROTO (malformed or truncated response, extra bytes), DF_ETOOBIG,
 * DF_ETIMEDOUT, or the code a callback returned. The client may be reused (see
 * net_http_client_is_reusable), or freed, from inside this callback.
 */
typedef void net_http_client_end_fn(struct net_http_client *c, int rv, void *arg);

struct net_http_client_cbs {
    net_http_client_head_fn *on_head; /* may be NULL */
    net_http_client_data_fn *on_data; /* may be NULL: the body is discarded */
    net_http_client_end_fn *on_end;   /* required */
};

/*
 * Make a client over bev, which it takes over (freed with the client, also on failure).
 * opts may be NULL. Returns 0 and *out, or DF_EINVAL for bad options.
 */
int net_http_client_new(struct bufferevent *bev, const struct net_http_client_opts *opts,
                        struct net_http_client **out);

/*
 * Send a request; the callbacks (copied) run later from the loop, never from inside this
 * call. Returns 0; DF_EINVAL for a bad request (missing host, CR/LF or invalid tokens in
 * fields, framing fields set by the caller); DF_EAGAIN if a request is in progress;
 * DF_ECLOSED if the connection is no longer usable.
 */
int net_http_client_request(struct net_http_client *c, const struct net_http_request *req,
                            const struct net_http_client_cbs *cbs, void *arg);

/* Stop delivering body data and reading from the connection (the total deadline still runs). */
void net_http_client_pause(struct net_http_client *c);

/*
 * Deliver again what is buffered and read on. Also call it after taking data outside the
 * data callback when the callback had left the buffer above the high watermark.
 */
void net_http_client_resume(struct net_http_client *c);

/* True if no request is in progress and the connection can carry another one. */
bool net_http_client_is_reusable(const struct net_http_client *c);

/* Body bytes received for the current (or last) response. */
uint64_t net_http_client_body_bytes(const struct net_http_client *c);

/*
 * Free the client and its connection. A request in progress ends without its end callback.
 * Safe from inside the client's own callbacks. NULL is a no-op.
 */
void net_http_client_free(struct net_http_client *c);

#endif
