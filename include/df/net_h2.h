/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP/2 connection: an nghttp2 session pumped over a bufferevent (a plain socket or a
 * net_tls bufferevent: both carry plaintext). It owns the transport, batches output once per
 * loop iteration, stops producing output above a high-water mark until the socket drains,
 * advertises SETTINGS (max concurrent streams, large flow-control windows) and counts
 * RST_STREAM frames from the peer, answering rapid-reset abuse with GOAWAY
 * (ENHANCE_YOUR_CALM). What streams mean is the owner's business (rpc_server, rpc_client):
 * the owner's nghttp2 callbacks are called with the owner's argument as user_data.
 */
#ifndef DF_NET_H2_H
#define DF_NET_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "df/df_err.h"

struct bufferevent;
struct event_base;
struct net_h2;

struct net_h2_opts {
    bool server;
    uint32_t max_streams;  /* SETTINGS_MAX_CONCURRENT_STREAMS we advertise; 0 = 100 */
    uint32_t window_bytes; /* initial stream window; the connection window is 4x; 0 = 1 MiB */
    size_t out_high_water; /* stop producing above this many queued bytes; 0 = 256 KiB */
    uint32_t reset_burst;  /* RST_STREAM frames allowed at once; 0 = no limit */
    uint32_t reset_rate;   /* ... and replenished per second */
    int idle_timeout_ms;   /* close after this long with no open stream; 0 = never */
    int keepalive_ms;      /* send a PING this often (a server sees the client alive); 0 = never */
};

/* Called once when the connection is gone, from its own event (never from inside a call into
 * net_h2). reason is static text. The owner frees its per-stream state: nghttp2 does not call
 * on_stream_close for streams still open. h2 is freed right after the call returns. */
typedef void net_h2_close_fn(struct net_h2 *h2, const char *reason, void *arg);

/* The owner's nghttp2 callbacks (user_data is the owner's arg); any may be NULL. */
struct net_h2_cbs {
    nghttp2_on_begin_headers_callback on_begin_headers;
    nghttp2_on_header_callback on_header;
    nghttp2_on_frame_recv_callback on_frame_recv;
    nghttp2_on_data_chunk_recv_callback on_data_chunk_recv;
    nghttp2_on_stream_close_callback on_stream_close;
    net_h2_close_fn *on_close;
};

/*
 * Start HTTP/2 on bev, which h2 takes over (its callbacks are replaced; it is freed with h2).
 * The client preface or server SETTINGS is queued at once. Returns 0 and *out, or DF_ENOMEM
 * (bev is freed). Calls nothing back before returning.
 */
int net_h2_new(struct bufferevent *bev, const struct net_h2_opts *opts,
               const struct net_h2_cbs *cbs, void *arg, struct net_h2 **out);

/* The session, for nghttp2_submit_* and stream user data. Borrowed; never delete it. */
nghttp2_session *net_h2_session(struct net_h2 *h2);

/*
 * Arrange for queued frames to be written at the end of this loop iteration (many submits
 * make one write). Call after nghttp2_submit_* or nghttp2_session_resume_data from outside
 * the owner's nghttp2 callbacks (inside them, output is flushed anyway).
 */
void net_h2_flush(struct net_h2 *h2);

/* True until the connection starts closing: streams may still be submitted. */
bool net_h2_is_open(const struct net_h2 *h2);

/* True while the session has more than limit bytes queued or unflushed output. */
bool net_h2_is_congested(const struct net_h2 *h2);

/*
 * Send GOAWAY with error_code and stop accepting streams; the connection closes once open
 * streams finish and output is written. Idempotent.
 */
void net_h2_goaway(struct net_h2 *h2, uint32_t error_code);

/*
 * Close now (queued output is dropped). on_close follows from its own event with reason.
 * Safe from inside callbacks; idempotent.
 */
void net_h2_close(struct net_h2 *h2, const char *reason);

/*
 * Free at once without calling on_close: only from outside nghttp2 and bufferevent
 * callbacks (e.g. when the owner is torn down). NULL is a no-op.
 */
void net_h2_free(struct net_h2 *h2);

/* The peer's address as text (for logs); borrowed. */
const char *net_h2_peer(const struct net_h2 *h2);

#endif
