/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A P2P task streamed to a proxy client, a task listener of the core's public API: the
 * response starts once the length is known (time to first byte is one piece), then the
 * verified prefix goes out in order as pieces land, read from the task's data file while the
 * client keeps up. With a blob's sha256 the whole content is hashed on the way and the last
 * bytes are held back until it matched; a mismatch aborts the response (the client sees a
 * truncated body) and rejects the task, so that nothing wrong stays cached.
 */
#include "peer_proxy_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_digest.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/store_data.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"

#define PEER_PROXY_CHUNK (256 * 1024) /* bytes read from the data file per write */

/*
 * A P2P task streamed to a client: waits for the length, sends the headers, then the
 * verified prefix as it grows. Freed when everything went out (and matched), the task failed
 * or was rejected, or the client left. Task listener callbacks only activate kick_ev: the
 * task core's callbacks must not free a task, and letting go of it may.
 */
struct peer_proxy_stream {
    TAILQ_ENTRY(peer_proxy_stream) entry;
    struct peer_proxy *px;
    struct net_http_req *req;
    struct peer_task *task; /* held */
    struct peer_download_req dreq;
    struct net_http_header *head; /* the HEAD's answer headers, sent with the content */
    size_t nhead;
    struct event *kick_ev;
    int fd; /* the task's data file, opened on the first bytes */
    uint8_t *buf;
    uint64_t sent;
    bool started;
    bool finished_at_open; /* served from a complete local copy */
    struct df_sha256 sha;
};

static void
peer_proxy_stream_free(struct peer_proxy_stream *s)
{
    TAILQ_REMOVE(&s->px->streams, s, entry);
    if (s->kick_ev != NULL)
        event_free(s->kick_ev);
    if (s->fd != -1)
        close(s->fd);
    peer_proxy_headers_free(s->head, s->nhead);
    peer_download_req_reset(&s->dreq);
    free(s->buf);
    peer_task_unhold(s->task);
    free(s);
}

static void
peer_proxy_stream_close_cb(struct net_http_req *req, int reason, void *arg)
{
    (void)req;
    (void)reason;
    peer_proxy_stream_free(arg);
}

/* End s's response (rv < 0: aborted, the client sees a truncated body) and free s. */
static void
peer_proxy_stream_end(struct peer_proxy_stream *s, int rv)
{
    net_http_req_on_close(s->req, NULL, NULL);
    net_http_req_end(s->req, rv);
    peer_proxy_stream_free(s);
}

/* The task failed before anything was sent: a 500 that says where. */
static void
peer_proxy_stream_fail(struct peer_proxy_stream *s, const char *why)
{
    char msg[700];

    snprintf(msg, sizeof(msg), "task %.12s: %s", s->task->id, why);
    net_http_req_on_close(s->req, NULL, NULL);
    peer_proxy_error(s->px, s->req, 500, "dfdaemon", msg);
    peer_proxy_stream_free(s);
}

static void peer_proxy_stream_more_cb(struct net_http_req *req, void *arg);

/* Send the status line and headers once the length is known. -1: s is gone. */
static int
peer_proxy_stream_head(struct peer_proxy_stream *s)
{
    struct peer_task *t = s->task;

    for (size_t i = 0; i < s->nhead; i++)
        net_http_req_add_header(s->req, s->head[i].name, s->head[i].value);
    net_http_req_add_header(s->req, "X-Dragonfly-Task-ID", t->id);
    net_http_req_add_header(s->req, "X-Dragonfly-Server-IP", s->px->ctx->cfg.ip);
    if (s->finished_at_open)
        net_http_req_add_header(s->req, "X-Dragonfly-Task-Download-Finished", "true");
    if (net_http_req_start(s->req, 200, NULL, (int64_t)t->content_length, peer_proxy_stream_more_cb,
                           s) != 0) {
        peer_proxy_stream_fail(s, "cannot start the response");
        return -1;
    }
    s->started = true;
    return 0;
}

/* Check the whole content against the digest the blob URL names. 0 or DF_EDIGEST (logged). */
static int
peer_proxy_stream_check(struct peer_proxy_stream *s)
{
    uint8_t md[DF_SHA256_LEN];
    struct df_digest got;
    char want_s[DF_DIGEST_STR_LEN + 1], got_s[DF_DIGEST_STR_LEN + 1], why[300];

    df_sha256_final(&s->sha, md);
    df_digest_set_sha256(&got, md);
    if (df_digest_is_equal(&got, &s->dreq.digest))
        return 0;
    snprintf(why, sizeof(why), "digest mismatch: want %s, got %s (content dropped)",
             df_digest_format(&s->dreq.digest, want_s), df_digest_format(&got, got_s));
    peer_task_reject(s->task, why);
    return DF_EDIGEST;
}

/*
 * Move s on: headers once the length is known, then the verified prefix while the client
 * keeps up, the end once all of it went out and matched. Frees s when it is over.
 */
static void
peer_proxy_stream_kick(struct peer_proxy_stream *s)
{
    struct peer_task *t = s->task;
    struct peer *ctx = s->px->ctx;
    struct df_error err;
    uint64_t end, n;
    int rv;

    if (!s->started) {
        if (t->state == PEER_TASK_FAILED || t->evicted) {
            peer_proxy_stream_fail(s, t->why[0] != '\0' ? t->why : "failed");
            return;
        }
        if (!t->length_known || peer_proxy_stream_head(s) != 0)
            return;
    }
    while (!net_http_req_is_congested(s->req)) {
        if (t->evicted) {
            peer_proxy_stream_end(s, DF_EDIGEST);
            return;
        }
        if (s->sent == t->content_length) {
            if (s->dreq.has_digest && s->sent == 0 && peer_proxy_stream_check(s) != 0) {
                peer_proxy_stream_end(s, DF_EDIGEST);
                return;
            }
            if (s->dreq.has_digest)
                peer_task_content_verified(t, &s->dreq);
            ctx->proxy_p2p++;
            peer_proxy_stream_end(s, 0);
            return;
        }
        end = peer_task_verified_end(t, s->sent);
        if (end == s->sent) {
            if (t->state == PEER_TASK_FAILED)
                peer_proxy_stream_end(s, DF_EIO);
            return; /* the next piece wakes us */
        }
        n = end - s->sent < PEER_PROXY_CHUNK ? end - s->sent : PEER_PROXY_CHUNK;
        if (s->fd == -1 &&
            (rv = store_data_open(ctx->cfg.data_dir, t->id, false, &s->fd, &err)) != 0) {
            log_warnx("%s proxy: task %.12s: %s", PEER_TAG(ctx), t->id, err.msg);
            peer_proxy_stream_end(s, rv);
            return;
        }
        if (s->buf == NULL)
            s->buf = xmalloc(PEER_PROXY_CHUNK);
        if ((rv = store_data_pread(s->fd, s->buf, (size_t)n, s->sent)) != 0) {
            log_warnx("%s proxy: task %.12s: read of the data file failed: %s", PEER_TAG(ctx),
                      t->id, df_strerror(rv));
            peer_proxy_stream_end(s, rv);
            return;
        }
        if (s->dreq.has_digest) {
            df_sha256_update(&s->sha, s->buf, (size_t)n);
            /* The last bytes go out only with the whole content checked. */
            if (s->sent + n == t->content_length && peer_proxy_stream_check(s) != 0) {
                peer_proxy_stream_end(s, DF_EDIGEST);
                return;
            }
        }
        net_http_req_on_close(s->req, NULL, NULL); /* a failed write must not free s */
        if (net_http_req_write(s->req, s->buf, (size_t)n) != 0) {
            peer_proxy_stream_free(s); /* the response was aborted: req is gone */
            return;
        }
        net_http_req_on_close(s->req, peer_proxy_stream_close_cb, s);
        s->sent += n;
        ctx->proxy_p2p_bytes += n;
    }
}

static void
peer_proxy_stream_more_cb(struct net_http_req *req, void *arg)
{
    (void)req;
    peer_proxy_stream_kick(arg);
}

static void
peer_proxy_stream_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    peer_proxy_stream_kick(arg);
}

/* Something happened to t: wake its streams (from the loop, not from the task core). */
static void
peer_proxy_stream_wake(struct peer_task *t, struct peer_proxy *px)
{
    struct peer_proxy_stream *s;

    TAILQ_FOREACH (s, &px->streams, entry) {
        if (s->task == t)
            event_active(s->kick_ev, EV_TIMEOUT, 1);
    }
}

static void
peer_proxy_stream_task_piece_cb(struct peer_task *t, uint64_t number,
                                const uint8_t md[DF_SHA256_LEN], const char *parent_id, void *arg)
{
    (void)number;
    (void)md;
    (void)parent_id;
    peer_proxy_stream_wake(t, arg);
}

static void
peer_proxy_stream_task_done_cb(struct peer_task *t, void *arg)
{
    peer_proxy_stream_wake(t, arg);
}

static void
peer_proxy_stream_task_failed_cb(struct peer_task *t, const char *why, void *arg)
{
    (void)why;
    peer_proxy_stream_wake(t, arg);
}

const struct peer_task_events peer_proxy_stream_events = {
        .piece = peer_proxy_stream_task_piece_cb,
        .done = peer_proxy_stream_task_done_cb,
        .failed = peer_proxy_stream_task_failed_cb,
};

void
peer_proxy_stream_open(struct peer_proxy *px, struct net_http_req *req,
                       struct peer_download_req *dreq, struct net_http_header *head, size_t nhead)
{
    struct peer *ctx = px->ctx;
    struct peer_proxy_stream *s;
    struct peer_task *t = NULL;
    struct df_error err;
    int rv;

    if ((rv = peer_task_open(ctx, dreq, &t, &err)) != 0) {
        peer_proxy_headers_free(head, nhead);
        peer_download_req_reset(dreq);
        peer_proxy_error(px, req, rv == DF_EINVAL ? 400 : 500,
                         rv == DF_EINVAL ? "proxy" : "dfdaemon", err.msg);
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->px = px;
    s->req = req;
    s->task = t;
    s->dreq = *dreq;
    memset(dreq, 0, sizeof(*dreq));
    s->head = head;
    s->nhead = nhead;
    s->fd = -1;
    s->finished_at_open = t->state == PEER_TASK_DONE;
    df_sha256_init(&s->sha);
    s->kick_ev = event_new(ctx->base, -1, 0, peer_proxy_stream_kick_cb, s);
    TAILQ_INSERT_TAIL(&px->streams, s, entry);
    if (s->kick_ev == NULL) {
        peer_proxy_stream_fail(s, "out of memory");
        return;
    }
    log_debug("proxy", "%s proxy: %s -> task %.12s", PEER_TAG(ctx), s->dreq.url, t->id);
    net_http_req_on_close(req, peer_proxy_stream_close_cb, s);
    peer_proxy_stream_kick(s);
}
