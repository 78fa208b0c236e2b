/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Piece hashes off the loop. A source run's bytes are hashed from the very buffers they were
 * written to the data file from: once written they move (their chains, not copies) to the
 * run's hash stream, and jobs on the peer's worker pool hash them, two streams side by side
 * on the two SHA-NI lanes when two have bytes, closing each piece's digest at its end. A
 * piece is recorded on the loop only once all its bytes were written and its digest is in.
 * The same pool re-checks the pieces a resumed task cannot vouch for (read back from the
 * data file) and seals a finished task.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "df/df_work.h"
#include "df/log.h"
#include "df/net_fetch.h"
#include "df/store_data.h"
#include "df/store_piece.h"
#include "df/store_task.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"
#include "peer_task_int.h"

#define PEER_TASK_RECHECKS 4 /* re-check jobs at once: each is a thread hashing a piece */
/*
 * When a stream's bytes go to a job. Two streams share a job, one per SHA-NI lane, for about
 * the cost of one: so a stream with PEER_HASH_RIPE bytes waits for another to be ripe too
 * while one could be, and a job hashes the two side by side as far as the shorter goes,
 * handing the rest of the longer back. A stream goes at once, whole, when its run is over,
 * past PEER_HASH_SOLO bytes, or when a piece has ended in its bytes PEER_HASH_WAIT_MS ago
 * (its digest is wanted: that long a partner may take to ripen); it then takes along
 * another's bytes (at least PEER_HASH_MATE) as far as its own go.
 */
#define PEER_HASH_RIPE    (512 * 1024)
#define PEER_HASH_SOLO    (4096 * 1024)
#define PEER_HASH_MATE    (64 * 1024)
#define PEER_HASH_WAIT_MS 10
/* Written bytes waiting for their hash, per task, before its source fetches pause (the
 * buffers are held until hashed): a starved worker slows the transfer, not the memory. */
#define PEER_HASH_BACKLOG (16u << 20)

/* Start the next queued re-checks, up to PEER_TASK_RECHECKS at once. 0 or DF_ENOMEM. */
int
peer_task_recheck_next(struct peer_task *t)
{
    int rv;

    while (t->recheck_inflight < PEER_TASK_RECHECKS && t->recheck_next < t->nrecheck) {
        const struct store_piece *p = &t->recheck[t->recheck_next++];
        if ((rv = peer_task_hash_submit(t, PEER_HASH_RECHECK, p->number, p->offset, p->length,
                                        p->digest)) != 0)
            return rv;
        t->recheck_inflight++;
    }
    if (t->recheck_inflight == 0 && t->nrecheck > 0 && t->recheck_next == t->nrecheck) {
        PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                      "%s: task %.12s: %" PRIu64 " of %zu re-checked pieces failed and are fetched "
                      "again",
                      PEER_TAG(t->ctx), t->id, t->recheck_failed, t->nrecheck);
        DF_FREE(t->recheck, free);
        t->nrecheck = t->recheck_next = 0;
    }
    return 0;
}

/*
 * A source run's bytes between the data file and their hash. The slot that writes the run
 * appends to `queued` what it wrote; a job takes all of it (one lane), hashes it into `sha`
 * and hands back the digests of the pieces that ended in it. The stream outlives its slot
 * (closed: `f` NULL) until its last whole piece is hashed; bytes past `end` (a piece cut
 * short) are dropped. Orphaned (`task` NULL) while a job runs, the job frees it.
 */
struct peer_hash_stream {
    TAILQ_ENTRY(peer_hash_stream) entry; /* on its task's streams */
    struct peer_task *task;              /* NULL once orphaned */
    struct peer_fetch *f;                /* the slot writing into it; NULL once closed */
    struct evbuffer *queued;             /* written, not taken by a job yet */
    uint64_t off;                        /* content offset of queued's first byte */
    uint64_t end;                        /* closed: nothing from here on is hashed */
    struct df_sha256 sha;                /* the piece at off; the job's while one runs */
    struct peer_hash_job *job;           /* the job hashing it, or NULL */
    uint64_t ended_ns;                   /* since when a piece's end waits in queued, or 0 */
};

/* A stream's bytes in a job; on the worker, the digests of the pieces ending in them. */
struct peer_hash_lane {
    struct peer_hash_stream *s;
    struct evbuffer *buf; /* the bytes, taken from s->queued; after the job, those not hashed */
    uint64_t off, len;    /* their place in the content */
    bool all;             /* hash every byte (else as far as the other lane goes) */
    uint64_t hashed;      /* the bytes hashed, from off */
    uint64_t first;       /* the piece at off: md[k] is piece first + k's */
    size_t ndone;
    uint8_t (*md)[DF_SHA256_LEN];
};

/*
 * A job on the hash pool: one or two streams' bytes (PEER_HASH_STREAM), or a piece read
 * back from the data file (a re-check), or a seal. A job outlives its task only at
 * shutdown: then it is orphaned and frees itself (a seal is still recorded: the file is
 * durable by then).
 */
struct peer_hash_job {
    TAILQ_ENTRY(peer_hash_job) entry;
    struct peer_task *task; /* NULL once orphaned */
    struct peer *ctx;
    char id[DF_ID_TASK_LEN + 1];
    enum peer_hash_kind kind;
    int fd; /* a dup of the task's, closed by the job; -1 for streams */
    uint64_t number, off, len;
    uint8_t md[DF_SHA256_LEN];
    uint8_t want[DF_SHA256_LEN];   /* PEER_HASH_RECHECK: the recorded digest */
    struct store_data_stamp stamp; /* PEER_HASH_SEAL */
    int err;                       /* errno of a failed read or sync */
    /* PEER_HASH_STREAM */
    struct peer_hash_lane lane[2];
    unsigned nlanes;
    uint64_t piece_length, content_length;
};

static void peer_task_hash_done(void *arg);

/* Worker thread: a seal. */
static void
peer_task_seal_work(void *arg)
{
    struct peer_hash_job *j = arg;

    errno = 0;
    if (store_data_seal(j->fd, &j->stamp) != 0)
        j->err = errno != 0 ? errno : EIO;
}

/* Worker thread: the pieces of j and k (two re-checks) hashed side by side. */
static void
peer_task_hash_x2(struct peer_hash_job *j, struct peer_hash_job *k)
{
    struct store_data_range r[2] = {{.fd = j->fd, .off = j->off, .len = j->len},
                                    {.fd = k->fd, .off = k->off, .len = k->len}};

    store_data_hash_x2(r);
    memcpy(j->md, r[0].md, DF_SHA256_LEN);
    memcpy(k->md, r[1].md, DF_SHA256_LEN);
    j->err = r[0].rv != 0 ? (r[0].err != 0 ? r[0].err : EIO) : 0;
    k->err = r[1].rv != 0 ? (r[1].err != 0 ? r[1].err : EIO) : 0;
}

/*
 * Worker thread: a re-check, and with it the next queued one's when there is one (the pool
 * is busy then): two pieces hashed side by side cost about half of one after the other.
 * Each job's done runs as usual.
 */
static void
peer_task_hash_work(void *arg)
{
    struct peer_hash_job *j = arg, *k = df_work_take(peer_task_hash_work);

    if (k == NULL) {
        errno = 0;
        if (store_data_hash(j->fd, j->off, j->len, j->md) != 0)
            j->err = errno != 0 ? errno : EIO;
        return;
    }
    peer_task_hash_x2(j, k);
}

/* Where a lane's hash stands on the worker: its buffer's vectors, the content offset. */
struct peer_hash_cursor {
    struct evbuffer_iovec *v;
    int n, i;
    size_t at;     /* bytes of v[i] hashed */
    uint64_t pos;  /* content offset reached */
    uint64_t end;  /* the lane's end */
    uint64_t stop; /* the end of the piece at pos */
};

/* Set c up for lane l of j; false when its vectors cannot be had (out of memory). */
static bool
peer_hash_cursor_init(const struct peer_hash_job *j, const struct peer_hash_lane *l,
                      struct peer_hash_cursor *c)
{
    memset(c, 0, sizeof(*c));
    c->pos = l->off;
    c->end = l->off + l->hashed;
    c->stop = (l->off / j->piece_length + 1) * j->piece_length;
    if (c->stop > j->content_length)
        c->stop = j->content_length;
    if (l->hashed == 0)
        return true;
    c->n = evbuffer_peek(l->buf, (ev_ssize_t)l->hashed, NULL, NULL, 0);
    if (c->n <= 0 || (c->v = calloc((size_t)c->n, sizeof(*c->v))) == NULL)
        return false;
    c->n = evbuffer_peek(l->buf, (ev_ssize_t)l->hashed, NULL, c->v, c->n);
    return true;
}

/* The bytes c can hash in one go: to the end of its vector or of its piece. */
static size_t
peer_hash_cursor_span(struct peer_hash_cursor *c, const uint8_t **p)
{
    uint64_t room = (c->stop < c->end ? c->stop : c->end) - c->pos;
    size_t n;

    while (c->i < c->n && c->at == c->v[c->i].iov_len) {
        c->i++;
        c->at = 0;
    }
    if (c->pos == c->end || c->i == c->n)
        return 0;
    n = c->v[c->i].iov_len - c->at;
    *p = (const uint8_t *)c->v[c->i].iov_base + c->at;
    return n < room ? n : (size_t)room;
}

/* n bytes of lane l are hashed: at a piece's end, close its digest and start the next. */
static void
peer_hash_cursor_advance(const struct peer_hash_job *j, struct peer_hash_lane *l,
                         struct peer_hash_cursor *c, size_t n)
{
    c->at += n;
    c->pos += n;
    if (c->pos < c->stop)
        return;
    df_sha256_final(&l->s->sha, l->md[l->ndone++]);
    df_sha256_init(&l->s->sha);
    c->stop += j->piece_length;
    if (c->stop > j->content_length)
        c->stop = j->content_length;
}

/*
 * Worker thread: the lanes' bytes into their streams' hashes, side by side while both have
 * some. Only this job touches the streams' sha and the lanes' buffers while it runs.
 */
static void
peer_task_hash_stream_work(void *arg)
{
    struct peer_hash_job *j = arg;
    struct peer_hash_cursor c[2];
    const uint8_t *p0 = NULL, *p1 = NULL;

    memset(c, 0, sizeof(c));
    for (unsigned i = 0; i < j->nlanes; i++) {
        struct peer_hash_lane *l = &j->lane[i], *o = &j->lane[j->nlanes - 1 - i];
        l->hashed = l->all || o == l || o->len >= l->len ? l->len : o->len;
        if (!peer_hash_cursor_init(j, l, &c[i])) {
            j->err = ENOMEM;
            goto out;
        }
    }
    for (;;) {
        size_t a = peer_hash_cursor_span(&c[0], &p0);
        size_t b = j->nlanes == 2 ? peer_hash_cursor_span(&c[1], &p1) : 0;

        if (a > 0 && b > 0) {
            size_t n = a < b ? a : b;
            df_sha256_update_pair(&j->lane[0].s->sha, p0, n, &j->lane[1].s->sha, p1, n);
            peer_hash_cursor_advance(j, &j->lane[0], &c[0], n);
            peer_hash_cursor_advance(j, &j->lane[1], &c[1], n);
        } else if (a > 0) {
            df_sha256_update(&j->lane[0].s->sha, p0, a);
            peer_hash_cursor_advance(j, &j->lane[0], &c[0], a);
        } else if (b > 0) {
            df_sha256_update(&j->lane[1].s->sha, p1, b);
            peer_hash_cursor_advance(j, &j->lane[1], &c[1], b);
        } else {
            break;
        }
    }
    for (unsigned i = 0; i < j->nlanes; i++) {
        if (c[i].pos != c[i].end)
            j->err = EIO; /* the buffer held fewer bytes than the lane says */
        else if (evbuffer_drain(j->lane[i].buf, (size_t)j->lane[i].hashed) != 0)
            j->err = EIO;
    }
out:
    free(c[0].v);
    free(c[1].v);
}

/* Drop s (not running a job) and the bytes it still holds. */
static void
peer_hash_stream_free(struct peer_task *t, struct peer_hash_stream *s)
{
    if (t != NULL) {
        t->hash_backlog -= evbuffer_get_length(s->queued);
        TAILQ_REMOVE(&t->streams, s, entry);
        if (s->f != NULL)
            s->f->stream = NULL;
    }
    evbuffer_free(s->queued);
    free(s);
}

/* Free j, its lanes' buffers, and the orphaned streams it was the last to hold. */
static void
peer_hash_job_free(struct peer_hash_job *j)
{
    for (unsigned i = 0; i < j->nlanes; i++) {
        struct peer_hash_lane *l = &j->lane[i];
        if (l->buf != NULL)
            evbuffer_free(l->buf);
        free(l->md);
        if (l->s != NULL && l->s->task == NULL && l->s->job == j)
            peer_hash_stream_free(NULL, l->s);
    }
    free(j);
}

/* The bytes of s a job may take now: queued ones before its end. */
static uint64_t
peer_hash_stream_ready_bytes(const struct peer_hash_stream *s)
{
    uint64_t q = evbuffer_get_length(s->queued);

    if (s->off >= s->end)
        return 0;
    return q < s->end - s->off ? q : s->end - s->off;
}

/*
 * Whether s's bytes must go to a job now, whole (see PEER_HASH_RIPE); now: the clock. Notes
 * since when a piece's end waits in them.
 */
static bool
peer_hash_stream_is_urgent(const struct peer_task *t, struct peer_hash_stream *s, uint64_t now)
{
    uint64_t q = peer_hash_stream_ready_bytes(s);

    if (s->job != NULL || q == 0)
        return false;
    if (q >= PEER_HASH_SOLO || s->f == NULL || t->hash_backlog >= PEER_HASH_BACKLOG)
        return true;
    if ((s->off + q) / t->piece_length == s->off / t->piece_length &&
        s->off + q != t->content_length) {
        s->ended_ns = 0;
        return false;
    }
    if (s->ended_ns == 0)
        s->ended_ns = now;
    return now - s->ended_ns >= (uint64_t)PEER_HASH_WAIT_MS * 1000000;
}

/* Whether s, free of jobs, holds at least min (> 0) bytes to hash. */
static bool
peer_hash_stream_has(const struct peer_hash_stream *s, uint64_t min)
{
    return s->job == NULL && peer_hash_stream_ready_bytes(s) >= min;
}

/* Move s's ready bytes into lane l of j; false when out of memory. */
static bool
peer_hash_lane_take(struct peer_task *t, struct peer_hash_job *j, struct peer_hash_stream *s)
{
    struct peer_hash_lane *l = &j->lane[j->nlanes];
    uint64_t q = peer_hash_stream_ready_bytes(s), rest;

    if ((l->buf = evbuffer_new()) == NULL)
        return false;
    j->nlanes++;
    l->s = s;
    l->all = peer_hash_stream_is_urgent(t, s, peer_task_mono_ns(t->ctx));
    s->ended_ns = 0;
    l->off = s->off;
    l->first = s->off / t->piece_length;
    l->md = xcalloc(q / t->piece_length + 2, DF_SHA256_LEN);
    if (evbuffer_remove_buffer(s->queued, l->buf, (size_t)q) != (int)q)
        return false;
    l->len = q;
    s->off += q;
    s->job = j;
    if (s->f == NULL && (rest = evbuffer_get_length(s->queued)) > 0) {
        /* past the end of a closed run: never hashed */
        evbuffer_drain(s->queued, rest);
        t->hash_backlog -= rest;
    }
    return true;
}

/* Hash a's ready bytes, and b's beside them (b may be NULL). 0 or DF_ENOMEM. */
static int
peer_hash_stream_submit(struct peer_task *t, struct peer_hash_stream *a, struct peer_hash_stream *b)
{
    struct peer_hash_job *j = xcalloc(1, sizeof(*j));

    j->task = t;
    j->ctx = t->ctx;
    memcpy(j->id, t->id, sizeof(j->id));
    j->kind = PEER_HASH_STREAM;
    j->fd = -1;
    j->piece_length = t->piece_length;
    j->content_length = t->content_length;
    TAILQ_INSERT_TAIL(&t->hashing, j, entry);
    if (!peer_hash_lane_take(t, j, a) || (b != NULL && !peer_hash_lane_take(t, j, b)) ||
        df_work_submit(t->ctx->hash_pool, peer_task_hash_stream_work, peer_task_hash_done, j) !=
                0) {
        /* the task fails: its bytes are dropped with the job */
        TAILQ_REMOVE(&t->hashing, j, entry);
        for (unsigned i = 0; i < j->nlanes; i++) {
            j->lane[i].s->job = NULL;
            t->hash_backlog -= j->lane[i].len;
        }
        peer_hash_job_free(j);
        return DF_ENOMEM;
    }
    return 0;
}

/* A piece's end waited long enough for a partner: its stream goes on its own. */
static void
peer_task_hash_wait_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_task *t = arg;

    (void)fd;
    (void)what;
    if (peer_task_hash_pump(t) != 0)
        peer_task_fail(t, DF_ENOMEM, "cannot start a worker thread");
}

/* Wake up when the first piece end waiting in a stream has waited PEER_HASH_WAIT_MS. */
static void
peer_task_hash_arm(struct peer_task *t, uint64_t now)
{
    const uint64_t wait = (uint64_t)PEER_HASH_WAIT_MS * 1000000;
    struct peer_hash_stream *s;
    uint64_t first = UINT64_MAX;
    struct timeval tv;

    TAILQ_FOREACH (s, &t->streams, entry) {
        if (s->job == NULL && s->ended_ns != 0 && s->ended_ns < first)
            first = s->ended_ns;
    }
    if (first == UINT64_MAX)
        return;
    if (t->hash_timer == NULL &&
        (t->hash_timer = evtimer_new(t->ctx->base, peer_task_hash_wait_cb, t)) == NULL)
        return; /* the next event pumps again */
    first = first + wait > now ? first + wait - now : 0;
    tv.tv_sec = 0;
    tv.tv_usec = (suseconds_t)(first / 1000) + 1;
    evtimer_add(t->hash_timer, &tv);
}

int
peer_task_hash_pump(struct peer_task *t)
{
    struct peer_hash_stream *s, *a, *b;
    uint64_t now = peer_task_mono_ns(t->ctx);
    bool urgent, open;
    int rv;

    if (t->state == PEER_TASK_DONE || t->state == PEER_TASK_FAILED)
        return 0;
    for (;;) {
        /* an urgent stream first, else the fullest ripe one; beside it the fullest other */
        a = b = NULL;
        urgent = open = false;
        TAILQ_FOREACH (s, &t->streams, entry) {
            bool u = peer_hash_stream_is_urgent(t, s, now);
            if ((u || peer_hash_stream_has(s, PEER_HASH_RIPE)) &&
                (a == NULL || (u && !urgent) ||
                 (u == urgent &&
                  evbuffer_get_length(s->queued) > evbuffer_get_length(a->queued)))) {
                a = s;
                urgent = u;
            }
        }
        if (a != NULL) {
            TAILQ_FOREACH (s, &t->streams, entry) {
                if (s == a)
                    continue;
                open = open || s->f != NULL;
                if (peer_hash_stream_has(s, urgent ? PEER_HASH_MATE : PEER_HASH_RIPE) &&
                    (b == NULL || evbuffer_get_length(s->queued) > evbuffer_get_length(b->queued)))
                    b = s;
            }
        }
        /* a ripe stream waits for a partner while another run still brings bytes */
        if (a == NULL || (b == NULL && !urgent && open)) {
            peer_task_hash_arm(t, now);
            return 0;
        }
        if ((rv = peer_hash_stream_submit(t, a, b)) != 0)
            return rv;
    }
}

bool
peer_task_hash_is_full(const struct peer_task *t)
{
    return t->hash_backlog >= PEER_HASH_BACKLOG;
}

/* Fetches paused for the backlog go on once it has halved. */
static void
peer_task_hash_resume(struct peer_task *t)
{
    if (t->hash_backlog >= PEER_HASH_BACKLOG / 2)
        return;
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
        struct peer_fetch *f = &t->fetch[i];
        if (!f->hash_paused)
            continue;
        f->hash_paused = false;
        if (f->src != NULL)
            net_fetch_resume(f->src);
    }
}

int
peer_task_hash_stream_open(struct peer_fetch *f)
{
    struct peer_task *t = f->task;
    struct peer_hash_stream *s = xcalloc(1, sizeof(*s));

    peer_task_hash_stream_close(f, f->off);
    if ((s->queued = evbuffer_new()) == NULL) {
        free(s);
        return DF_ENOMEM;
    }
    s->task = t;
    s->f = f;
    s->off = f->off;
    s->end = UINT64_MAX;
    df_sha256_init(&s->sha);
    TAILQ_INSERT_TAIL(&t->streams, s, entry);
    f->stream = s;
    return 0;
}

int
peer_task_hash_stream_add(struct peer_fetch *f, struct evbuffer *data, size_t len)
{
    struct peer_task *t = f->task;

    if (evbuffer_remove_buffer(data, f->stream->queued, len) != (int)len)
        return DF_ENOMEM;
    t->hash_backlog += len;
    return peer_task_hash_pump(t);
}

void
peer_task_hash_stream_close(struct peer_fetch *f, uint64_t end)
{
    struct peer_hash_stream *s = f->stream;

    if (s == NULL)
        return;
    f->stream = NULL;
    s->f = NULL;
    s->end = end;
    if (s->job == NULL && peer_hash_stream_ready_bytes(s) == 0)
        peer_hash_stream_free(s->task, s);
}

/*
 * A stream job is back: record the pieces that ended in its lanes (each written whole and
 * now hashed from the bytes written), drop the streams that are through, start what is due.
 */
static void
peer_task_hash_stream_done(struct peer_task *t, struct peer_hash_job *j)
{
    bool live = t->state != PEER_TASK_DONE && t->state != PEER_TASK_FAILED;
    char why[300];
    uint64_t off, len;
    int rv = 0;

    for (unsigned i = 0; i < j->nlanes; i++) {
        struct peer_hash_lane *l = &j->lane[i];
        struct peer_hash_stream *s = l->s;

        s->job = NULL;
        t->hash_backlog -= j->err == 0 ? l->hashed : l->len;
        if (j->err == 0 && l->hashed < l->len) {
            /* not hashed: back to the head of the stream, before what came meanwhile */
            evbuffer_prepend_buffer(s->queued, l->buf);
            s->off = l->off + l->hashed;
        }
        for (size_t k = 0; k < l->ndone; k++) {
            t->busy[l->first + k] = 0;
            if (!live || rv != 0 || j->err != 0)
                continue;
            df_id_piece_range(t->content_length, t->piece_length, l->first + k, &off, &len);
            rv = peer_task_record_piece(t, l->first + k, off, len, l->md[k], NULL);
        }
        l->s = NULL; /* the stream is the task's again */
        if (s->f == NULL && peer_hash_stream_ready_bytes(s) == 0)
            peer_hash_stream_free(t, s);
    }
    if (live && j->err != 0) {
        snprintf(why, sizeof(why), "hash source bytes: %s", strerror(j->err));
        peer_hash_job_free(j);
        peer_task_fail(t, DF_ENOMEM, why);
        return;
    }
    peer_hash_job_free(j);
    if (!live) {
        peer_task_maybe_free(t);
        return;
    }
    if (rv != 0) {
        peer_task_fail(t, rv, t->why);
        return;
    }
    if (peer_task_hash_pump(t) != 0) {
        peer_task_fail(t, DF_ENOMEM, "cannot start a worker thread");
        return;
    }
    peer_task_hash_resume(t);
    peer_task_progress(t, false);
    if (t->done_pieces == t->piece_count)
        peer_task_complete(t);
}

/* A re-check finished on the loop: count the piece, or drop it for a fetch. 0 or DF_E*. */
static int
peer_task_recheck_done(struct peer_task *t, struct peer_hash_job *j)
{
    struct store_piece p;
    int rv;

    if (t->have[j->number])
        return 0; /* written and recorded again meanwhile (a stream) */
    if (j->err == 0 && memcmp(j->md, j->want, DF_SHA256_LEN) == 0) {
        memset(&p, 0, sizeof(p));
        p.number = j->number;
        p.offset = j->off;
        p.length = j->len;
        memcpy(p.digest, j->want, DF_SHA256_LEN);
        if ((rv = store_piece_record_verified(t->ctx->db, t->id, &p)) != 0) {
            snprintf(t->why, sizeof(t->why), "cannot record piece %" PRIu64 ": %s", j->number,
                     df_strerror(rv));
            return rv;
        }
        t->have[j->number] = 1;
        t->done_pieces++;
        t->done_bytes += j->len;
        if (t->ctx->swarm != NULL)
            t->ctx->swarm->piece_rechecked(t, j->number, j->md);
        return 0;
    }
    /* one warning per task (the first); the rest are counted (peer_task_recheck_next) */
    if (t->recheck_failed++ == 0)
        PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL,
                      "%s: task %.12s piece %" PRIu64 " failed its re-check (%s); fetching it "
                      "again",
                      PEER_TAG(j->ctx), t->id, j->number,
                      j->err != 0 ? strerror(j->err) : "digest mismatch");
    else
        PEER_TASK_LOG(t, LOG_LEVEL_DEBUG, "peer",
                      "%s: task %.12s piece %" PRIu64 " failed its re-check (%s)", PEER_TAG(j->ctx),
                      t->id, j->number, j->err != 0 ? strerror(j->err) : "digest mismatch");
    if ((rv = store_piece_drop(t->ctx->db, t->id, j->number)) != 0) {
        snprintf(t->why, sizeof(t->why), "cannot drop piece %" PRIu64 ": %s", j->number,
                 df_strerror(rv));
        return rv;
    }
    peer_task_kick(t);
    return 0;
}

/* Record a seal (the task may be gone: the row is the task's either way). */
static void
peer_task_seal_done(struct peer_hash_job *j)
{
    int rv;

    if (j->err != 0) {
        log_warnx("%s: task %.12s: cannot sync its data file (%s); it will be re-checked on "
                  "its next use",
                  PEER_TAG(j->ctx), j->id, strerror(j->err));
        return;
    }
    if ((rv = store_task_seal(j->ctx->db, j->id, &j->stamp)) != 0 && rv != DF_ENOTFOUND)
        log_warnx("%s: task %.12s: cannot seal it (%s); it will be re-checked on its next use",
                  PEER_TAG(j->ctx), j->id, df_strerror(rv));
}

static void
peer_task_hash_done(void *arg)
{
    struct peer_hash_job *j = arg;
    struct peer_task *t = j->task;
    int rv;

    if (j->fd != -1)
        close(j->fd);
    if (j->kind == PEER_HASH_SEAL)
        peer_task_seal_done(j);
    if (t == NULL) {
        peer_hash_job_free(j);
        return;
    }
    TAILQ_REMOVE(&t->hashing, j, entry);
    if (j->kind == PEER_HASH_STREAM) {
        peer_task_hash_stream_done(t, j);
        return;
    }
    if (j->kind == PEER_HASH_RECHECK) {
        t->busy[j->number] = 0;
        t->recheck_inflight--;
    }
    if (j->kind == PEER_HASH_SEAL || t->state == PEER_TASK_DONE || t->state == PEER_TASK_FAILED) {
        free(j);
        peer_task_maybe_free(t);
        return;
    }
    if ((rv = peer_task_recheck_done(t, j)) == 0 && (rv = peer_task_recheck_next(t)) != 0)
        snprintf(t->why, sizeof(t->why), "cannot start a worker thread");
    free(j);
    if (rv != 0) {
        peer_task_fail(t, rv, t->why);
        return;
    }
    peer_task_progress(t, false);
    if (t->done_pieces == t->piece_count)
        peer_task_complete(t);
}

/* Hash (or seal) piece number of t from its data file on a worker; 0 or DF_ENOMEM. */
int
peer_task_hash_submit(struct peer_task *t, enum peer_hash_kind kind, uint64_t number, uint64_t off,
                      uint64_t len, const uint8_t *want)
{
    struct peer_hash_job *j = xcalloc(1, sizeof(*j));
    df_work_fn *work = kind == PEER_HASH_SEAL ? peer_task_seal_work : peer_task_hash_work;

    j->task = t;
    j->ctx = t->ctx;
    memcpy(j->id, t->id, sizeof(j->id));
    j->kind = kind;
    j->number = number;
    j->off = off;
    j->len = len;
    if (want != NULL)
        memcpy(j->want, want, DF_SHA256_LEN);

    if ((j->fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 0)) == -1) {
        free(j);
        return DF_ENOMEM;
    }
    TAILQ_INSERT_TAIL(&t->hashing, j, entry);
    if (df_work_submit(t->ctx->hash_pool, work, peer_task_hash_done, j) != 0) {
        TAILQ_REMOVE(&t->hashing, j, entry);
        close(j->fd);
        free(j);
        return DF_ENOMEM;
    }
    return 0;
}

/* The task goes away (shutdown, or its geometry does): its jobs finish on their own. */
void
peer_task_hash_orphan(struct peer_task *t)
{
    struct peer_hash_stream *s;
    struct peer_hash_job *j;

    while ((s = TAILQ_FIRST(&t->streams)) != NULL) {
        if (s->f != NULL) {
            s->f->stream = NULL;
            s->f = NULL;
        }
        if (s->job == NULL) {
            peer_hash_stream_free(t, s);
            continue;
        }
        /* its job frees it */
        TAILQ_REMOVE(&t->streams, s, entry);
        s->task = NULL;
    }
    t->hash_backlog = 0;
    while ((j = TAILQ_FIRST(&t->hashing)) != NULL) {
        TAILQ_REMOVE(&t->hashing, j, entry);
        j->task = NULL;
    }
}
