/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A P2P task streamed to a proxy client, a task listener of the core's public API: the
 * response starts once the length is known (time to first byte is one piece), then the
 * verified prefix goes out in order as pieces land, read from the task's data file while the
 * client keeps up. With a blob's sha256 the whole content is hashed on the way and the last
 * bytes are held back until it matched; a mismatch aborts the response (the client sees a
 * truncated body) and rejects the task, so that nothing wrong stays cached. A single Range
 * is answered 206 with the bytes it names; with a digest the content before and after the
 * range is still read and hashed, and the range's last bytes wait for the whole check.
 *
 * A blob once checked whole is not hashed again while its data file is the one that was
 * checked (the store's stamp: device, inode, size, modification time): a complete task is sent
 * straight from the file (sendfile where the connection allows it). Anything else, content
 * still arriving, a cache entry from before this process or a file written since, is
 * hashed on the way as above.
 *
 * The reading and hashing run on the hash pool, a chunk at a time, while the loop sends the
 * chunk before: on the loop they made the peer one thread that received pieces, hashed them,
 * re-read and hashed the content again and sent it, and a cold pull's stream trailed the
 * peer's last piece by 0.25-0.65 s (scripts/bench/mirror-trace.sh).
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
#include "df/df_work.h"
#include "df/log.h"
#include "df/net_http_server.h"
#include "df/proto_sched.h"
#include "df/store_data.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"

#define PEER_PROXY_CHUNK (1024 * 1024) /* bytes read from the data file per write */

/* A blob task whose whole content matched its digest, and the data file it was read from. */
struct peer_proxy_verified {
    TAILQ_ENTRY(peer_proxy_verified) entry; /* px->verified_order, oldest first */
    char id[DF_ID_TASK_LEN + 1];            /* the key in px->verified */
    struct store_data_stamp stamp;
};

/*
 * The read of the stream's next chunk on a worker: pread, and the whole-content hash moved
 * on over it (a copy of the stream's, handed back when done). One at a time per stream, so
 * that the bytes are hashed in order. Orphaned (s NULL) when the stream goes away while it
 * runs: its done then frees it.
 */
struct peer_proxy_read {
    struct peer_proxy_stream *s;
    int fd; /* a dup of the stream's: the stream may close its own while this runs */
    uint8_t *buf;
    uint64_t off, len;
    bool hash, busy;
    struct df_sha256 sha;
    int err;
};

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
    struct peer_proxy_read *rd;
    uint8_t *buf;    /* the chunk last read, ending at pos */
    uint64_t ready;  /* its bytes, not yet sent */
    uint64_t pos;    /* content read (and hashed) up to here */
    uint64_t rs, re; /* the response's bytes: [rs, re) of the content */
    uint8_t *tail;   /* the range's last bytes, held until the digest matched */
    size_t tail_len;
    bool started;
    bool sent_any;         /* a byte of the body went out (the timeline's debug line) */
    bool finished_at_open; /* served from a complete local copy */
    struct df_sha256 sha;
};

static void
peer_proxy_verified_drop(struct peer_proxy *px, struct peer_proxy_verified *v)
{
    df_map_del(&px->verified, v->id);
    TAILQ_REMOVE(&px->verified_order, v, entry);
    free(v);
}

void
peer_proxy_verified_reset(struct peer_proxy *px)
{
    struct peer_proxy_verified *v;

    while ((v = TAILQ_FIRST(&px->verified_order)) != NULL)
        peer_proxy_verified_drop(px, v);
    df_map_reset(&px->verified);
}

/* Remember that task id's content, in the file open as fd, matched its digest. */
static void
peer_proxy_verified_add(struct peer_proxy *px, const char *id, int fd)
{
    struct peer_proxy_verified *v;
    struct store_data_stamp st;

    if (fd == -1 || store_data_stamp(fd, &st) != 0)
        return;
    if ((v = df_map_get(&px->verified, id)) != NULL)
        peer_proxy_verified_drop(px, v);
    if (df_map_count(&px->verified) >= PEER_PROXY_VERIFIED_MAX)
        peer_proxy_verified_drop(px, TAILQ_FIRST(&px->verified_order));
    v = xcalloc(1, sizeof(*v));
    snprintf(v->id, sizeof(v->id), "%s", id);
    v->stamp = st;
    if (df_map_put(&px->verified, v->id, v) != 0) {
        free(v);
        return;
    }
    TAILQ_INSERT_TAIL(&px->verified_order, v, entry);
}

/* Was t's content, as its data file open as fd holds it now, checked whole before? */
static bool
peer_proxy_verified_has(struct peer_proxy *px, const struct peer_task *t, int fd)
{
    struct peer_proxy_verified *v = df_map_get(&px->verified, t->id);
    struct store_data_stamp st;

    if (v == NULL)
        return false;
    if (!t->evicted && store_data_stamp(fd, &st) == 0 && store_data_stamp_is_equal(&v->stamp, &st))
        return true;
    peer_proxy_verified_drop(px, v); /* written, replaced or dropped since */
    return false;
}

static void
peer_proxy_read_free(struct peer_proxy_read *rd)
{
    if (rd->fd != -1)
        close(rd->fd);
    free(rd->buf);
    free(rd);
}

static void
peer_proxy_stream_free(struct peer_proxy_stream *s)
{
    TAILQ_REMOVE(&s->px->streams, s, entry);
    if (s->rd != NULL && s->rd->busy)
        s->rd->s = NULL; /* its done frees it */
    else if (s->rd != NULL)
        peer_proxy_read_free(s->rd);
    if (s->kick_ev != NULL)
        event_free(s->kick_ev);
    if (s->fd != -1)
        close(s->fd);
    peer_proxy_headers_free(s->head, s->nhead);
    peer_download_req_reset(&s->dreq);
    free(s->buf);
    free(s->tail);
    s->task->in_order--;
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
    /* the scheduler's refusals by priority (peer_p2p_sched.c fails the task with its very
     * message): LEVEL1 forbidden, LEVEL2 not found, as without a scheduler */
    peer_proxy_error(s->px, s->req,
                     strcmp(why, PROTO_SCHED_PRIORITY_FORBIDDEN) == 0  ? 403
                     : strcmp(why, PROTO_SCHED_PRIORITY_NO_PEERS) == 0 ? 404
                                                                       : 500,
                     "dfdaemon", msg);
    peer_proxy_stream_free(s);
}

static void peer_proxy_stream_more_cb(struct net_http_req *req, void *arg);
static int peer_proxy_stream_check(struct peer_proxy_stream *s);

/*
 * The bytes the client asked for: its Range resolved against the length (206), or all of it
 * (200; also for a malformed or multi-range value, which RFC 9110 lets a server ignore).
 * Returns the status, or 416 (answered, s is gone) when the range is not satisfiable.
 */
static int
peer_proxy_stream_range(struct peer_proxy_stream *s)
{
    uint64_t total = s->task->content_length;
    const char *v = net_http_req_header(s->req, "Range");
    struct net_http_range r;
    char cr[80];
    int rv;

    s->rs = 0;
    s->re = total;
    if (v == NULL || (rv = net_http_range_parse(v, total, &r)) == DF_EINVAL || rv == DF_ELIMIT)
        return 200;
    if (rv != 0) {
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, total);
        net_http_req_add_header(s->req, "Content-Range", cr);
        net_http_req_on_close(s->req, NULL, NULL);
        peer_proxy_error(s->px, s->req, 416, "proxy", "the range is not satisfiable");
        peer_proxy_stream_free(s);
        return 416;
    }
    s->rs = r.start;
    s->re = r.start + r.length;
    snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, s->rs, s->re - 1, total);
    net_http_req_add_header(s->req, "Content-Range", cr);
    return 206;
}

/*
 * A complete blob task whose data file is the one this process checked whole: open that
 * file (s->fd) and say so. Else false, and the content is hashed on the way.
 */
static bool
peer_proxy_stream_is_verified(struct peer_proxy_stream *s)
{
    struct peer_task *t = s->task;
    struct df_error err;

    if (!s->dreq.has_digest || t->state != PEER_TASK_DONE ||
        df_map_get(&s->px->verified, t->id) == NULL)
        return false;
    if (s->fd == -1 && store_data_open(s->px->ctx->cfg.data_dir, t->id, false, &s->fd, &err) != 0)
        return false; /* the stream's own open says why */
    return peer_proxy_verified_has(s->px, t, s->fd);
}

/* Answer with the range straight from the data file, and free s. */
static void
peer_proxy_stream_send_file(struct peer_proxy_stream *s, int status)
{
    struct peer *ctx = s->px->ctx;
    int fd = s->fd;

    s->fd = -1; /* the response takes it */
    net_http_req_on_close(s->req, NULL, NULL);
    if (net_http_req_respond_file(s->req, status, NULL, fd, s->rs, s->re - s->rs) == 0) {
        ctx->proxy_p2p_bytes += s->re - s->rs;
        ctx->proxy_p2p++;
    }
    PEER_TASK_LOG(s->task, LOG_LEVEL_INFO, NULL,
                  "%s proxy: task %.12s: served from the verified data file", PEER_TAG(ctx),
                  s->task->id);
    peer_proxy_stream_free(s);
}

/* Send the status line and headers once the length is known. -1: s is gone. */
static int
peer_proxy_stream_head(struct peer_proxy_stream *s)
{
    struct peer_task *t = s->task;
    int status;

    for (size_t i = 0; i < s->nhead; i++)
        net_http_req_add_header(s->req, s->head[i].name, s->head[i].value);
    net_http_req_add_header(s->req, "X-Dragonfly-Task-ID", t->id);
    net_http_req_add_header(s->req, "X-Dragonfly-Server-IP", s->px->ctx->cfg.ip);
    if (s->finished_at_open)
        net_http_req_add_header(s->req, "X-Dragonfly-Task-Download-Finished", "true");
    if ((status = peer_proxy_stream_range(s)) == 416)
        return -1;
    if (peer_proxy_stream_is_verified(s)) {
        peer_proxy_stream_send_file(s, status);
        return -1;
    }
    /* without a digest to check, the content before the range is never read */
    s->pos = s->dreq.has_digest ? 0 : s->rs;
    if (net_http_req_start(s->req, status, NULL, (int64_t)(s->re - s->rs),
                           peer_proxy_stream_more_cb, s) != 0) {
        peer_proxy_stream_fail(s, "cannot start the response");
        return -1;
    }
    s->started = true;
    PEER_TASK_LOG(t, LOG_LEVEL_DEBUG, "proxy", "%s proxy: task %.12s: response %d started",
                  PEER_TAG(s->px->ctx), t->id, status);
    return 0;
}

/* Queue len bytes of the response. -1: the response was aborted and s is gone. */
static int
peer_proxy_stream_write(struct peer_proxy_stream *s, const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0;
    net_http_req_on_close(s->req, NULL, NULL); /* a failed write must not free s */
    if (net_http_req_write(s->req, data, len) != 0) {
        peer_proxy_stream_free(s); /* the response was aborted: req is gone */
        return -1;
    }
    net_http_req_on_close(s->req, peer_proxy_stream_close_cb, s);
    if (!s->sent_any)
        PEER_TASK_LOG(s->task, LOG_LEVEL_DEBUG, "proxy", "%s proxy: task %.12s: first bytes sent",
                      PEER_TAG(s->px->ctx), s->task->id);
    s->sent_any = true;
    s->px->ctx->proxy_p2p_bytes += len;
    return 0;
}

/*
 * The chunk of n bytes just read at s->pos - n: send its part inside the range. With a
 * digest the range's last bytes go out only once the whole content matched: checked now when
 * the content ends here, else held in s->tail. 0, DF_EDIGEST (a mismatch: end s), or -1 (s is
 * gone).
 */
static int
peer_proxy_stream_send_chunk(struct peer_proxy_stream *s, uint64_t n)
{
    uint64_t at = s->pos - n, lo = at > s->rs ? at : s->rs, hi = s->pos < s->re ? s->pos : s->re;

    if (lo >= hi)
        return 0;
    if (s->dreq.has_digest && hi == s->re) {
        if (s->pos == s->task->content_length) {
            if (peer_proxy_stream_check(s) != 0)
                return DF_EDIGEST;
        } else {
            s->tail = xmalloc((size_t)(hi - lo));
            memcpy(s->tail, s->buf + (lo - at), (size_t)(hi - lo));
            s->tail_len = (size_t)(hi - lo);
            return 0;
        }
    }
    return peer_proxy_stream_write(s, s->buf + (lo - at), (size_t)(hi - lo));
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
    if (df_digest_is_equal(&got, &s->dreq.digest)) {
        peer_proxy_verified_add(s->px, s->task->id, s->fd);
        return 0;
    }
    snprintf(why, sizeof(why), "digest mismatch: want %s, got %s (content dropped)",
             df_digest_format(&s->dreq.digest, want_s), df_digest_format(&got, got_s));
    peer_task_reject(s->task, why);
    return DF_EDIGEST;
}

/* Worker: read a chunk of the data file and hash it. */
static void
peer_proxy_read_work(void *arg)
{
    struct peer_proxy_read *rd = arg;

    rd->err = store_data_pread(rd->fd, rd->buf, (size_t)rd->len, rd->off);
    if (rd->err == 0 && rd->hash)
        df_sha256_update(&rd->sha, rd->buf, (size_t)rd->len);
}

static void peer_proxy_stream_kick(struct peer_proxy_stream *s);

/* Loop: the chunk is read; it becomes the one to send, and s moves on. */
static void
peer_proxy_read_done(void *arg)
{
    struct peer_proxy_read *rd = arg;
    struct peer_proxy_stream *s = rd->s;
    uint8_t *b;

    rd->busy = false;
    if (s == NULL) {
        peer_proxy_read_free(rd);
        return;
    }
    if (rd->err != 0) {
        PEER_TASK_LOG(s->task, LOG_LEVEL_WARN, NULL,
                      "%s proxy: task %.12s: read of the data file failed: %s",
                      PEER_TAG(s->px->ctx), s->task->id, df_strerror(rd->err));
        peer_proxy_stream_end(s, rd->err);
        return;
    }
    if (rd->hash)
        s->sha = rd->sha;
    b = s->buf != NULL ? s->buf : xmalloc(PEER_PROXY_CHUNK);
    s->buf = rd->buf;
    rd->buf = b;
    s->pos += rd->len;
    s->ready = rd->len;
    peer_proxy_stream_kick(s);
}

/* Read (and hash) the n bytes at s->pos on a worker. 0, or an error in err. */
static int
peer_proxy_stream_read(struct peer_proxy_stream *s, uint64_t n, struct df_error *err)
{
    struct peer *ctx = s->px->ctx;
    struct peer_proxy_read *rd = s->rd;
    int rv;

    if (s->fd == -1 &&
        (rv = store_data_open(ctx->cfg.data_dir, s->task->id, false, &s->fd, err)) != 0)
        return rv;
    if (rd == NULL) {
        rd = xcalloc(1, sizeof(*rd));
        if ((rd->fd = dup(s->fd)) == -1) {
            free(rd);
            return df_error_set(err, DF_EIO, "cannot duplicate the data file's descriptor");
        }
        rd->buf = xmalloc(PEER_PROXY_CHUNK);
        rd->s = s;
        s->rd = rd;
    }
    rd->off = s->pos;
    rd->len = n;
    rd->hash = s->dreq.has_digest;
    rd->sha = s->sha;
    rd->busy = true;
    if (df_work_submit(ctx->hash_pool, peer_proxy_read_work, peer_proxy_read_done, rd) != 0) {
        rd->busy = false;
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    return 0;
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
    for (;;) {
        if (t->evicted) {
            peer_proxy_stream_end(s, DF_EDIGEST);
            return;
        }
        if (s->rd != NULL && s->rd->busy)
            return; /* its done kicks */
        if (s->ready > 0) {
            if (net_http_req_is_congested(s->req))
                return; /* the client reads it: more_cb */
            n = s->ready;
            s->ready = 0;
            if ((rv = peer_proxy_stream_send_chunk(s, n)) == DF_EDIGEST) {
                peer_proxy_stream_end(s, DF_EDIGEST);
                return;
            }
            if (rv != 0)
                return;
            continue;
        }
        if (s->pos == (s->dreq.has_digest ? t->content_length : s->re)) {
            if (net_http_req_is_congested(s->req))
                return;
            /* all read; an empty blob, or a range held back, is checked here */
            if (s->dreq.has_digest && (t->content_length == 0 || s->tail != NULL) &&
                peer_proxy_stream_check(s) != 0) {
                peer_proxy_stream_end(s, DF_EDIGEST);
                return;
            }
            if (peer_proxy_stream_write(s, s->tail, s->tail_len) != 0)
                return;
            if (s->dreq.has_digest)
                peer_task_content_verified(t, &s->dreq);
            ctx->proxy_p2p++;
            PEER_TASK_LOG(t, LOG_LEVEL_DEBUG, "proxy", "%s proxy: task %.12s: last bytes sent",
                          PEER_TAG(ctx), t->id);
            peer_proxy_stream_end(s, 0);
            return;
        }
        end = peer_task_verified_end(t, s->pos);
        if (end == s->pos) {
            if (t->state == PEER_TASK_FAILED)
                peer_proxy_stream_end(s, DF_EIO);
            return; /* the next piece wakes us */
        }
        /* the next chunk is read while this one goes out (the client may be congested) */
        n = end - s->pos < PEER_PROXY_CHUNK ? end - s->pos : PEER_PROXY_CHUNK;
        if ((rv = peer_proxy_stream_read(s, n, &err)) != 0) {
            PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL, "%s proxy: task %.12s: %s", PEER_TAG(ctx), t->id,
                          err.msg);
            peer_proxy_stream_end(s, rv);
        }
        return;
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
peer_proxy_stream_task_started_cb(struct peer_task *t, void *arg)
{
    peer_proxy_stream_wake(t, arg);
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
        .started = peer_proxy_stream_task_started_cb,
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
        if (rv == DF_ENOTFOUND) /* only a priority that forbids the origin asks that */
            peer_proxy_error(px, req, peer_proxy_priority(req) == 1 ? 403 : 404, "proxy",
                             peer_proxy_priority(req) == 1
                                     ? "priority 1: downloading what this peer does not hold "
                                       "is forbidden"
                                     : "priority 2: not held by this peer, and no origin fetch");
        else
            peer_proxy_error(px, req, rv == DF_EINVAL ? 400 : 500,
                             rv == DF_EINVAL ? "proxy" : "dfdaemon", err.msg);
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->px = px;
    s->req = req;
    s->task = t;
    t->in_order++;
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
    PEER_TASK_LOG(t, LOG_LEVEL_DEBUG, "proxy", "%s proxy: %s -> task %.12s", PEER_TAG(ctx),
                  s->dreq.url, t->id);
    net_http_req_on_close(req, peer_proxy_stream_close_cb, s);
    peer_proxy_stream_kick(s);
}
