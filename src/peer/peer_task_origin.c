/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A task's pieces from the origin. The task learns the content length from the origin (GET
 * Range: bytes=0-0), then fetches missing pieces with ranged GETs on up to `concurrency`
 * connections, writing each body straight to the task's sparse data file; a piece is
 * recorded only once all its bytes are written and hashed. An origin that ignores ranges or
 * gives no length is streamed from offset 0 in one response instead. The fetch slots and the
 * body writer are shared with the swarm side, which fills the same slots from parents.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_backoff.h"
#include "df/store_data.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"
#include "peer_task_int.h"

#define PEER_TASK_STREAM_PIECE (UINT64_C(4) << 20) /* piece length when the length is unknown */
#define PEER_TASK_WRITE_CHUNK  (256 * 1024)
#define PEER_TASK_WRITE_BATCH  (256 * 1024)
#define PEER_TASK_IOV          64
/* Pieces a source fetch asks in one range: a request per piece costs an origin such as a
 * registry a few milliseconds each (stat, auth, open), which on a 1 MiB piece halved the
 * throughput; 16 still leaves the slots far apart enough to fill the content in order. */
#define PEER_TASK_RUN_PIECES 16

static int peer_task_stream_piece_done(struct peer_fetch *f);
static void peer_task_fetch_next(struct peer_fetch *f);
static void peer_task_probe(struct peer_task *t);

/* Validators of a response must match the task's: never mix two versions of the content. */
static int
peer_task_check_validators(struct peer_task *t, const struct net_fetch_meta *m)
{
    if ((t->etag != NULL && (m->etag == NULL || strcmp(t->etag, m->etag) != 0)) ||
        (t->etag == NULL && t->last_modified != NULL &&
         (m->last_modified == NULL || strcmp(t->last_modified, m->last_modified) != 0))) {
        snprintf(t->why, sizeof(t->why),
                 "content changed at the origin during the download (ETag %s -> %s)",
                 t->etag != NULL ? t->etag : "-", m->etag != NULL ? m->etag : "-");
        return DF_EDIGEST;
    }
    return 0;
}

/* A write to the data file failed (errno set): fail the task rather than retry the source. */
static int
peer_fetch_disk_error(struct peer_fetch *f, const char *what)
{
    int e = errno;

    snprintf(f->why, sizeof(f->why), "%s: %s", what, strerror(e));
    f->task->disk_failed = true;
    return e == ENOSPC || e == EDQUOT ? DF_ENOSPC : DF_EIO;
}

/*
 * Stream mode: len bytes of data continue the content at f->pos and may cross piece
 * boundaries, where each piece's hash is closed and the piece recorded.
 */
static int
peer_fetch_write_stream(struct peer_fetch *f, struct evbuffer *data, size_t len)
{
    struct peer_task *t = f->task;
    struct evbuffer_iovec vec[PEER_TASK_IOV];
    size_t done = 0;
    int n, rv;

    n = evbuffer_peek(data, (ev_ssize_t)len, NULL, vec, PEER_TASK_IOV);
    for (int i = 0; i < n && i < PEER_TASK_IOV && done < len; i++) {
        const uint8_t *p = vec[i].iov_base;
        size_t left = vec[i].iov_len < len - done ? vec[i].iov_len : len - done;
        done += left;
        while (left > 0) {
            size_t room = (size_t)(t->piece_length - (f->pos % t->piece_length));
            size_t k = left < room ? left : room;
            if ((rv = store_data_pwrite(t->fd, p, k, f->pos)) != 0) {
                return peer_fetch_disk_error(f, "write cache file");
            }
            df_sha256_update(&f->sha, p, k);
            f->pos += k;
            p += k;
            left -= k;
            if (f->pos % t->piece_length == 0 && (rv = peer_task_stream_piece_done(f)) != 0)
                return rv;
        }
    }
    evbuffer_drain(data, done);
    t->bytes_from_source += done;
    t->ctx->bytes_from_source += done;
    return 0;
}

/* f's piece is all in, and more of its run follows in the same response: hash it, go on. */
static int
peer_fetch_run_next(struct peer_fetch *f)
{
    struct peer_task *t = f->task;

    if (peer_task_hash_submit(t, PEER_HASH_SOURCE, f->piece, f->off, f->len, NULL) != 0) {
        snprintf(f->why, sizeof(f->why), "cannot start a worker thread");
        return DF_ENOMEM;
    }
    f->piece++;
    df_id_piece_range(t->content_length, t->piece_length, f->piece, &f->off, &f->len);
    f->pos = 0;
    return 0;
}

/* Rate-limit and write what arrived for f; pieces complete in peer_task_fetch_end. */
int
peer_task_fetch_write(struct peer_fetch *f, struct evbuffer *data)
{
    struct peer_task *t = f->task;
    struct peer *ctx = t->ctx;
    struct evbuffer_iovec vec[PEER_TASK_IOV];
    size_t len = evbuffer_get_length(data);
    int n, rv;

    /* Write in large batches: the socket gives a few KiB per read, and a pwrite per read
     * costs more than the copy. The tail of a known body is always written. */
    if (len < PEER_TASK_WRITE_BATCH && f->len != UINT64_MAX && f->pos + len < f->len)
        return 0;
    if (ctx->cfg.download_rate > 0) {
        /* the host's download limiter (shared with uploads) runs on the process's clock */
        uint64_t now = df_time_mono_ns(), avail = net_ratelim_available(&ctx->down_rl, now);
        if (avail < len) {
            /* Take what the bucket allows now; pause the body until it refills. */
            uint64_t wait = net_ratelim_wait_ns(&ctx->down_rl, 65536, now);
            struct timeval tv = {(time_t)(wait / 1000000000u),
                                 (suseconds_t)(wait % 1000000000u / 1000u) + 1};
            net_fetch_pause(f->src);
            event_add(f->rate_timer, &tv);
            if (avail == 0)
                return 0;
            len = (size_t)avail;
        }
        net_ratelim_consume(&ctx->down_rl, len, now);
    }
    if (t->state == PEER_TASK_STREAMING)
        return peer_fetch_write_stream(f, data, len);
    while (len > 0) {
        size_t take = len < PEER_TASK_WRITE_CHUNK ? len : PEER_TASK_WRITE_CHUNK;

        if (f->pos == f->len && f->piece + 1 < f->run_end && (rv = peer_fetch_run_next(f)) != 0)
            return rv;
        if (f->piece + 1 < f->run_end && take > f->len - f->pos)
            take = (size_t)(f->len - f->pos); /* the rest of this piece of the run */
        n = evbuffer_peek(data, (ev_ssize_t)take, NULL, vec, PEER_TASK_IOV);
        if (n > PEER_TASK_IOV) {
            n = PEER_TASK_IOV;
            take = 0;
            for (int i = 0; i < n; i++)
                take += vec[i].iov_len;
        }
        if (f->pos + take > f->len) {
            snprintf(f->why, sizeof(f->why), "%s sent more than the asked range",
                     f->from_parent ? "parent" : "origin");
            return DF_EPROTO;
        }
        /* The last vector may reach past take. */
        {
            size_t sum = 0;
            for (int i = 0; i < n; i++) {
                if (sum + vec[i].iov_len > take)
                    vec[i].iov_len = take - sum;
                sum += vec[i].iov_len;
                if (!f->hash_later)
                    df_sha256_update(&f->sha, vec[i].iov_base, vec[i].iov_len);
            }
        }
        if ((rv = store_data_pwritev(t->fd, (struct iovec *)vec, n, f->off + f->pos)) != 0) {
            return peer_fetch_disk_error(f, "write cache file");
        }
        f->pos += take;
        evbuffer_drain(data, take);
        if (!f->from_parent) {
            t->bytes_from_source += take;
            ctx->bytes_from_source += take;
        }
        len -= take;
    }
    return 0;
}

/* Stream mode: f->pos just reached a piece boundary (or the end of the body). */
static int
peer_task_stream_piece_done(struct peer_fetch *f)
{
    struct peer_task *t = f->task;
    uint8_t md[DF_SHA256_LEN];
    uint64_t number = (f->pos - 1) / t->piece_length;
    uint64_t off = number * t->piece_length;
    int rv = 0;

    df_sha256_final(&f->sha, md);
    df_sha256_init(&f->sha);
    if (t->length_known) {
        if (number >= t->piece_count) {
            snprintf(t->why, sizeof(t->why), "origin sent more than its Content-Length");
            return DF_EPROTO;
        }
        rv = peer_task_record_piece(t, number, off, f->pos - off, md, NULL);
    } else {
        if (number >= t->stream_ndigests) {
            t->stream_digests = xrealloc(t->stream_digests, (number + 1) * DF_SHA256_LEN);
            t->stream_ndigests = number + 1;
        }
        memcpy(t->stream_digests[number], md, DF_SHA256_LEN);
    }
    peer_task_progress(t, false);
    return rv;
}

/* Stream mode with an unknown length: the body ended, so store the task and its pieces. */
static int
peer_task_stream_finish_unknown(struct peer_task *t, uint64_t length)
{
    struct df_error err;
    int rv;

    free(t->have);
    free(t->busy);
    t->have = t->busy = NULL;
    if (t->fd != -1) {
        close(t->fd);
        t->fd = -1;
    }
    /* The body was written to the data file already; keep it (geometry with 4 MiB pieces
     * would differ from the stored one, so store it explicitly). */
    if ((rv = peer_task_set_geometry(t, length, PEER_TASK_STREAM_PIECE, &err)) != 0) {
        snprintf(t->why, sizeof(t->why), "%s", err.msg);
        return rv;
    }
    if (t->piece_length != PEER_TASK_STREAM_PIECE && length > 0) {
        snprintf(t->why, sizeof(t->why), "content of unknown length larger than supported");
        return DF_ETOOBIG;
    }
    peer_task_swarm_source_started(t);
    for (uint64_t i = 0; i < t->piece_count; i++) {
        uint64_t off = i * t->piece_length;
        uint64_t len = length - off < t->piece_length ? length - off : t->piece_length;
        if ((rv = peer_task_record_piece(t, i, off, len, t->stream_digests[i], NULL)) != 0)
            return rv;
    }
    return 0;
}

static int
peer_fetch_on_head(struct net_fetch *s, const struct net_fetch_meta *m, void *arg)
{
    struct peer_fetch *f = arg;
    struct peer_task *t = f->task;
    int rv;

    (void)s;
    if (!m->ranged) {
        snprintf(t->why, sizeof(t->why), "origin stopped honouring Range");
        return DF_EPROTO;
    }
    if ((rv = peer_task_check_validators(t, m)) != 0)
        return rv;
    if (m->has_total && m->total != t->content_length) {
        snprintf(t->why, sizeof(t->why),
                 "content length changed at the origin (%" PRIu64 " -> %" PRIu64 ")",
                 t->content_length, m->total);
        return DF_EDIGEST;
    }
    return 0;
}

static int
peer_fetch_on_data(struct net_fetch *s, struct evbuffer *data, void *arg)
{
    (void)s;
    return peer_task_fetch_write(arg, data);
}

static void
peer_fetch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_fetch *f = arg;

    (void)fd;
    (void)what;
    DF_FREE(f->retry_timer, event_free);
    peer_task_fetch_next(f);
}

static void
peer_fetch_rate_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_fetch *f = arg;

    (void)fd;
    (void)what;
    if (f->src != NULL)
        net_fetch_resume(f->src);
}

void
peer_task_fetch_init(struct peer_fetch *f, struct peer_task *t, bool from_parent)
{
    memset(f, 0, sizeof(*f));
    f->task = t;
    f->from_parent = from_parent;
    f->rate_timer = evtimer_new(t->ctx->base, peer_fetch_rate_cb, f);
}

/* Schedule another attempt of f's piece, or fail the task when out of retries. */
static void
peer_fetch_retry(struct peer_fetch *f, int rv, const char *why, uint64_t retry_after_ms)
{
    struct peer_task *t = f->task;
    struct net_backoff b = {.base_ms = 200, .max_ms = 10000, .retry_after_max_ms = 60000};
    uint64_t delay;
    struct timeval tv;
    char msg[700];

    if (!net_fetch_is_retryable(rv) || f->attempt >= (unsigned)t->ctx->cfg.retries) {
        if (net_fetch_is_retryable(rv))
            snprintf(msg, sizeof(msg), "%s (after %u attempts)", why, f->attempt + 1);
        else
            snprintf(msg, sizeof(msg), "%s", why);
        peer_task_fail(t, rv, msg);
        return;
    }
    delay = net_backoff_delay_ms(&b, f->attempt, retry_after_ms, (uint64_t)random());
    f->attempt++;
    PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                  "%s: task %.12s piece %" PRIu64 ": %s; retry %u in %" PRIu64 " ms",
                  PEER_TAG(t->ctx), t->id, f->piece, why, f->attempt, delay);
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)(delay % 1000 * 1000);
    f->retry_timer = evtimer_new(t->ctx->base, peer_fetch_retry_cb, f);
    evtimer_add(f->retry_timer, &tv);
}

static void
peer_fetch_on_end(struct net_fetch *s, int rv, const char *why, uint64_t retry_after_ms, void *arg)
{
    struct peer_fetch *f = arg;
    struct peer_task *t = f->task;
    uint8_t md[DF_SHA256_LEN];

    (void)s;
    f->src = NULL;
    evtimer_del(f->rate_timer);
    if (rv == 0 && (f->pos != f->len || f->piece + 1 < f->run_end)) {
        rv = DF_EPROTO;
        why = "origin body shorter than the asked range";
    }
    if (rv != 0) {
        char msg[sizeof(t->why)];

        t->busy[f->piece] = 0;
        if (f->why[0] != '\0')
            why = f->why;
        else if (t->why[0] != '\0' &&
                 (rv == DF_EDIGEST || rv == DF_EPROTO || rv == DF_EIO || rv == DF_ENOSPC))
            why = t->why;
        /* A different version of the content is never retried into the same task, and a
         * disk that failed a write will not take the retry either. */
        if (rv == DF_EDIGEST || t->disk_failed) {
            peer_task_fail(t, rv, why);
            return;
        }
        snprintf(msg, sizeof(msg), "%s", why);
        t->why[0] = f->why[0] = '\0';
        f->busy = true; /* keeps the slot until the retry */
        t->busy[f->piece] = 1;
        peer_fetch_retry(f, rv, msg, retry_after_ms);
        return;
    }
    f->busy = false;
    f->attempt = 0;
    if (f->hash_later) {
        /* The piece stays busy until its hash, taken from the file, is recorded. */
        if ((rv = peer_task_hash_submit(t, PEER_HASH_SOURCE, f->piece, f->off, f->len, NULL)) !=
            0) {
            peer_task_fail(t, rv, "cannot start a worker thread");
            return;
        }
        peer_task_fetch_next(f);
        return;
    }
    df_sha256_final(&f->sha, md);
    t->busy[f->piece] = 0;
    if ((rv = peer_task_record_piece(t, f->piece, f->off, f->len, md, NULL)) != 0) {
        peer_task_fail(t, rv, t->why);
        return;
    }
    peer_task_progress(t, false);
    if (t->done_pieces == t->piece_count) {
        peer_task_complete(t);
        return;
    }
    peer_task_fetch_next(f);
}

/* Start fetching missing pieces again: a re-check dropped one. */
void
peer_task_kick(struct peer_task *t)
{
    if (t->state == PEER_TASK_P2P) {
        if (t->ctx->swarm != NULL)
            t->ctx->swarm->kick(t);
        return;
    }
    if (t->state != PEER_TASK_RUNNING)
        return;
    if (t->nworkers == 0)
        t->nworkers = 1;
    for (unsigned i = 0; i < t->nworkers && t->state == PEER_TASK_RUNNING; i++)
        if (!t->fetch[i].busy)
            peer_task_fetch_next(&t->fetch[i]);
}

/* Pick the next missing piece for slot f (or its pending retry) and start fetching it. */
static void
peer_task_fetch_next(struct peer_fetch *f)
{
    static const struct net_fetch_cbs cbs = {peer_fetch_on_head, peer_fetch_on_data,
                                             peer_fetch_on_end};
    struct peer_task *t = f->task;
    struct net_fetch_req req;
    struct df_error err;
    uint64_t n;
    int rv;

    if (!f->busy) {
        if (!peer_task_claim(t, NULL, NULL, &n))
            return; /* nothing left for this slot */
        f->piece = n;
        f->attempt = 0;
        /* the unclaimed pieces right after it join its range (a retry keeps its run) */
        for (f->run_end = n + 1;
             f->run_end < t->piece_count && f->run_end - n < PEER_TASK_RUN_PIECES &&
             !t->have[f->run_end] && !t->busy[f->run_end];
             f->run_end++)
            t->busy[f->run_end] = 1;
    }
    f->busy = true;
    t->busy[f->piece] = 1;
    df_id_piece_range(t->content_length, t->piece_length, f->piece, &f->off, &f->len);
    f->pos = 0;
    df_sha256_init(&f->sha);
    f->hash_later = true;
    memset(&req, 0, sizeof(req));
    req.url = t->url;
    req.headers = t->headers;
    req.nheaders = t->nheaders;
    req.has_range = true;
    req.start = f->off;
    req.end = f->run_end > f->piece + 1 ? t->content_length < f->run_end * t->piece_length
                                                  ? t->content_length - 1
                                                  : f->run_end * t->piece_length - 1
                                        : f->off + f->len - 1;
    req.insecure = t->insecure;
    req.policy = t->policy;
    if ((rv = net_fetch_start(&t->ctx->src_env, &req, &cbs, f, &f->src, &err)) != 0)
        peer_task_fail(t, rv, err.msg);
}

static void
peer_task_start_pieces(struct peer_task *t)
{
    unsigned n = (unsigned)t->ctx->cfg.concurrency;

    if (t->done_pieces == t->piece_count) {
        peer_task_complete(t);
        return;
    }
    if (n > PEER_MAX_WORKERS)
        n = PEER_MAX_WORKERS;
    if (n > t->piece_count - t->done_pieces)
        n = (unsigned)(t->piece_count - t->done_pieces);
    t->nworkers = n;
    for (unsigned i = 0; i < n && t->state == PEER_TASK_RUNNING; i++)
        peer_task_fetch_next(&t->fetch[i]);
}

static int
peer_probe_on_head(struct net_fetch *s, const struct net_fetch_meta *m, void *arg)
{
    struct peer_task *t = arg;
    struct peer_fetch *f = &t->fetch[0];
    struct df_error err;
    bool had_validators = t->etag != NULL || t->last_modified != NULL;
    int rv;

    (void)s;
    /* A resumed task must still be the same content. */
    if (had_validators && (rv = peer_task_check_validators(t, m)) != 0) {
        if (t->length_known)
            peer_task_release_geometry(t); /* what P2P stored is the old content too */
        if ((rv = peer_task_drop_storage(t->ctx, t->id)) != 0) {
            snprintf(t->why, sizeof(t->why),
                     "content changed at the origin, and the cached pieces cannot be dropped: "
                     "%s",
                     df_strerror(rv));
            return rv;
        }
        free(t->etag);
        free(t->last_modified);
        t->etag = t->last_modified = NULL;
        t->why[0] = '\0';
        PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                      "%s: task %.12s changed at the origin; cached pieces dropped",
                      PEER_TAG(t->ctx), t->id);
    }
    if (t->etag == NULL && m->etag != NULL)
        t->etag = xstrdup(m->etag);
    if (t->last_modified == NULL && m->last_modified != NULL)
        t->last_modified = xstrdup(m->last_modified);
    if (m->ranged && m->has_total) {
        if ((rv = peer_task_set_geometry(t, m->total, 0, &err)) != 0) {
            snprintf(t->why, sizeof(t->why), "%s", err.msg);
            return rv;
        }
        PEER_TASK_SET_STATE(t, PEER_TASK_RUNNING);
        peer_task_swarm_source_started(t);
        peer_task_started(t);
        return DF_ECANCELED; /* the probe's one byte is not needed: pieces follow */
    }
    /* Ranges ignored, or no total: this response is the content, streamed from 0. */
    if (m->has_total) {
        if ((rv = peer_task_set_geometry(t, m->total, 0, &err)) != 0) {
            snprintf(t->why, sizeof(t->why), "%s", err.msg);
            return rv;
        }
    } else {
        /* Nothing cached can be matched to a body of unknown length: start from nothing. */
        if (t->length_known)
            peer_task_release_geometry(t);
        if ((rv = peer_task_drop_storage(t->ctx, t->id)) != 0) {
            snprintf(t->why, sizeof(t->why), "cannot drop the cached pieces: %s", df_strerror(rv));
            return rv;
        }
        t->piece_length = PEER_TASK_STREAM_PIECE;
        if ((rv = store_data_open(t->ctx->cfg.data_dir, t->id, true, &t->fd, &err)) != 0) {
            snprintf(t->why, sizeof(t->why), "%s", err.msg);
            return rv;
        }
        t->have = xcalloc(1, 1);
    }
    PEER_TASK_SET_STATE(t, PEER_TASK_STREAMING);
    if (t->length_known)
        peer_task_swarm_source_started(t);
    f->busy = true;
    f->pos = 0;
    f->off = 0;
    f->len = m->has_total ? m->total : UINT64_MAX;
    df_sha256_init(&f->sha);
    peer_task_started(t);
    return 0;
}

static int
peer_probe_on_data(struct net_fetch *s, struct evbuffer *data, void *arg)
{
    struct peer_task *t = arg;

    (void)s;
    if (t->state != PEER_TASK_STREAMING) {
        evbuffer_drain(data, evbuffer_get_length(data));
        return 0;
    }
    return peer_task_fetch_write(&t->fetch[0], data);
}

static void
peer_probe_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_task *t = arg;

    (void)fd;
    (void)what;
    DF_FREE(t->probe_timer, event_free);
    peer_task_probe(t);
}

static void
peer_probe_on_end(struct net_fetch *s, int rv, const char *why, uint64_t retry_after_ms, void *arg)
{
    struct peer_task *t = arg;
    struct peer_fetch *f = &t->fetch[0];
    struct net_backoff b = {.base_ms = 200, .max_ms = 10000, .retry_after_max_ms = 60000};
    struct timeval tv;
    uint64_t delay;
    char msg[700];

    (void)s;
    f->src = NULL;
    evtimer_del(f->rate_timer);
    if (t->state == PEER_TASK_RUNNING && rv == DF_ECANCELED) {
        peer_task_start_pieces(t);
        return;
    }
    if (t->state == PEER_TASK_STREAMING && rv == 0) {
        if (t->length_known && f->pos != t->content_length) {
            rv = DF_EPROTO;
            why = "origin body shorter than its Content-Length";
        } else if (f->pos % t->piece_length != 0 && (rv = peer_task_stream_piece_done(f)) != 0) {
            why = t->why;
        } else if (!t->length_known && (rv = peer_task_stream_finish_unknown(t, f->pos)) != 0) {
            why = t->why;
        } else if (t->length_known && t->content_length == 0) {
            peer_task_complete(t);
            return;
        } else {
            peer_task_complete(t);
            return;
        }
    }
    if (rv == DF_EINVAL && t->state == PEER_TASK_PROBING && !t->length_known &&
        strstr(why, "416") != NULL && t->probe_attempt < 100) {
        /* 416 to bytes=0-0: an empty object. Ask again without a range. */
        t->probe_attempt = 100;
        peer_task_probe(t);
        return;
    }
    if (rv != 0 && f->why[0] != '\0')
        why = f->why;
    else if (rv != 0 && t->why[0] != '\0' &&
             (rv == DF_EPROTO || rv == DF_EIO || rv == DF_EDIGEST || rv == DF_ENOSPC))
        why = t->why;
    if (!net_fetch_is_retryable(rv) || t->disk_failed ||
        (t->probe_attempt % 100) >= (unsigned)t->ctx->cfg.retries) {
        if (net_fetch_is_retryable(rv) && !t->disk_failed)
            snprintf(msg, sizeof(msg), "%s (after %u attempts)", why, t->probe_attempt % 100 + 1);
        else
            snprintf(msg, sizeof(msg), "%s", why);
        peer_task_fail(t, rv, msg);
        return;
    }
    /* Retry the probe (a stream restarts from offset 0). */
    snprintf(msg, sizeof(msg), "%s", why);
    if (t->state == PEER_TASK_STREAMING) {
        f->pos = 0;
        df_sha256_init(&f->sha);
        t->why[0] = f->why[0] = '\0';
    }
    delay = net_backoff_delay_ms(&b, t->probe_attempt % 100, retry_after_ms, (uint64_t)random());
    t->probe_attempt++;
    PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL, "%s: task %.12s: %s; retry in %" PRIu64 " ms",
                  PEER_TAG(t->ctx), t->id, msg, delay);
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)(delay % 1000 * 1000);
    t->probe_timer = evtimer_new(t->ctx->base, peer_probe_retry_cb, t);
    evtimer_add(t->probe_timer, &tv);
}

/* Learn the length (and whether ranges work) with GET bytes=0-0; in stream mode, refetch. */
static void
peer_task_probe(struct peer_task *t)
{
    static const struct net_fetch_cbs cbs = {peer_probe_on_head, peer_probe_on_data,
                                             peer_probe_on_end};
    struct net_fetch_req req;
    struct df_error err;
    int rv;

    memset(&req, 0, sizeof(req));
    req.url = t->url;
    req.headers = t->headers;
    req.nheaders = t->nheaders;
    req.insecure = t->insecure;
    req.policy = t->policy;
    req.has_range = t->state == PEER_TASK_PROBING && t->probe_attempt < 100;
    req.start = 0;
    req.end = 0;
    if ((rv = net_fetch_start(&t->ctx->src_env, &req, &cbs, t, &t->fetch[0].src, &err)) != 0)
        peer_task_fail(t, rv, err.msg);
}

void
peer_task_back_to_source(struct peer_task *t)
{
    t->from_source = true;
    if (t->state == PEER_TASK_P2P)
        PEER_TASK_SET_STATE(t, PEER_TASK_PROBING);
    peer_task_probe(t);
}

void
peer_task_started(struct peer_task *t)
{
    struct peer_waiter *w;

    TAILQ_FOREACH (w, &t->waiters, entry)
        peer_waiter_started(w);
    /* a proxy stream sends its headers now, not with the first piece */
    for (struct peer_task_listener *l = t->ctx->task_listeners, *next; l != NULL; l = next) {
        next = l->next;
        if (l->ev->started != NULL)
            l->ev->started(t, l->arg);
    }
}
