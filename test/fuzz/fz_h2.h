/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-memory HTTP/2 transport for fuzz targets of the RPC server: a bufferevent pair on an
 * event_base the target drives by itself. The server end goes to rpc_server_accept(); on the
 * client end the target either writes raw bytes (what an attacker would send) or drives an
 * nghttp2 client session that builds well-formed requests. fz_h2_run() runs the loop without
 * blocking until nothing is active; time never passes by itself, and fz_h2_expire() fires
 * every pending timer once, as if the deadlines had all passed (deterministic, unlike waiting).
 */
#ifndef DF_FZ_H2_H
#define DF_FZ_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

struct bufferevent;
struct event_base;
struct rpc_server;
struct fz_h2_stream;

#define FZ_H2_MAX_STREAMS 16

struct fz_h2 {
    struct event_base *base;
    struct bufferevent *end; /* the client's end of the pair */
    nghttp2_session *cli;    /* client mode; NULL for raw bytes */
    bool broken;             /* the client session failed: stop sending */
    size_t received;         /* bytes the server sent */
    struct fz_h2_stream *streams[FZ_H2_MAX_STREAMS];
    size_t nstreams;
};

/*
 * Connect a new pair on base to srv. With client, an nghttp2 client session sends its
 * preface and SETTINGS now. Aborts when libevent or nghttp2 cannot allocate.
 */
void fz_h2_init(struct fz_h2 *f, struct event_base *base, struct rpc_server *srv, bool client);

/* Raw mode: queue n bytes to the server. */
void fz_h2_write(struct fz_h2 *f, const void *p, size_t n);

/* Run the loop (and the client session) until quiet, at most a bounded number of rounds. */
void fz_h2_run(struct fz_h2 *f);

/* Fire every pending timer once (deadlines, idle timers, backoffs), then run until quiet. */
void fz_h2_expire(struct fz_h2 *f);

/*
 * Client mode: open a POST request of path with content-type ctype and, when timeout_ms is
 * not NULL, a connect-timeout-ms header. Returns a handle (0..FZ_H2_MAX_STREAMS-1) for
 * fz_h2_send(), or -1 when no more streams can be opened.
 */
int fz_h2_open(struct fz_h2 *f, const char *path, const char *ctype, const char *timeout_ms);

/* Queue body bytes on stream h; end closes the request side. False when h is gone. */
bool fz_h2_send(struct fz_h2 *f, int h, const void *p, size_t n, bool end);

/* Reset stream h (CANCEL). */
void fz_h2_cancel(struct fz_h2 *f, int h);

/* True while stream h is open. */
bool fz_h2_is_open(const struct fz_h2 *f, int h);

/* Free the client end and session (the server end belongs to the server). */
void fz_h2_free(struct fz_h2 *f);

#endif
