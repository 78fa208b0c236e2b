/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Piece hashes off the loop: source pieces read back from the data file, re-checks of the
 * pieces a resumed task cannot vouch for, and the seal of a finished task, each a job on
 * the peer's worker pool whose result comes back to the loop.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_work.h"
#include "df/log.h"
#include "df/store_data.h"
#include "df/store_piece.h"
#include "df/store_task.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"
#include "peer_task_int.h"

#define PEER_TASK_RECHECKS 4 /* re-check jobs at once: each is a thread hashing a piece */
/*
 * How long a finished source piece may wait for a partner: one SHA-NI lane is bound by the
 * latency of its rounds, so two pieces hashed side by side cost about what one costs alone.
 * It waits only while source pieces come in at least this often (a fast origin), so a slow
 * one never pays the delay.
 */
#define PEER_HASH_HOLD_MS 20

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
 * A source piece is hashed off the loop: the loop thread then only moves bytes from the
 * socket to the data file while another core hashes finished pieces read back from the
 * page cache. Hashing what was written also verifies the write. The same jobs re-check the
 * pieces of a resumed task that its rows alone cannot vouch for, and seal a finished task
 * (fsync, then the stamp into its row). A job outlives its task only at shutdown: then it
 * is orphaned and frees itself (a seal is still recorded: the file is durable by then).
 */
struct peer_hash_job {
    TAILQ_ENTRY(peer_hash_job) entry;
    struct peer_task *task; /* NULL once orphaned */
    struct peer *ctx;
    char id[DF_ID_TASK_LEN + 1];
    enum peer_hash_kind kind;
    int fd; /* a dup of the task's, closed by the job */
    uint64_t number, off, len;
    uint8_t md[DF_SHA256_LEN];
    uint8_t want[DF_SHA256_LEN];   /* PEER_HASH_RECHECK: the recorded digest */
    struct store_data_stamp stamp; /* PEER_HASH_SEAL */
    int err;                       /* errno of a failed read or sync */
    struct peer_hash_job *pair;    /* hashed beside this one, in one job */
};

/* Worker thread: a seal. */
static void
peer_task_seal_work(void *arg)
{
    struct peer_hash_job *j = arg;

    errno = 0;
    if (store_data_seal(j->fd, &j->stamp) != 0)
        j->err = errno != 0 ? errno : EIO;
}

/* Worker thread: the pieces of j and k hashed side by side (two-lane SHA-NI). */
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
 * Worker thread: a piece's hash, and with it the next queued one's when there is one (the
 * pool is busy then): two pieces hashed side by side cost about two thirds of one after
 * the other. Each job's done runs as usual.
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

/* Worker thread: a held piece and its partner, side by side. */
static void
peer_task_hash_pair_work(void *arg)
{
    struct peer_hash_job *j = arg;

    peer_task_hash_x2(j, j->pair);
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
    char why[300];
    int rv;

    close(j->fd);
    if (j->kind == PEER_HASH_SEAL)
        peer_task_seal_done(j);
    if (t == NULL) {
        free(j);
        return;
    }
    TAILQ_REMOVE(&t->hashing, j, entry);
    if (j->kind != PEER_HASH_SEAL)
        t->busy[j->number] = 0;
    if (j->kind == PEER_HASH_RECHECK)
        t->recheck_inflight--;
    if (j->kind == PEER_HASH_SEAL || t->state == PEER_TASK_DONE || t->state == PEER_TASK_FAILED) {
        free(j);
        peer_task_maybe_free(t);
        return;
    }
    if (j->kind == PEER_HASH_RECHECK) {
        if ((rv = peer_task_recheck_done(t, j)) == 0 && (rv = peer_task_recheck_next(t)) != 0)
            snprintf(t->why, sizeof(t->why), "cannot start a worker thread");
    } else if (j->err != 0) {
        snprintf(why, sizeof(why), "read cache file: %s", strerror(j->err));
        free(j);
        peer_task_fail(t, DF_EIO, why);
        return;
    } else {
        rv = peer_task_record_piece(t, j->number, j->off, j->len, j->md, NULL);
    }
    free(j);
    if (rv != 0) {
        peer_task_fail(t, rv, t->why);
        return;
    }
    peer_task_progress(t, false);
    if (t->done_pieces == t->piece_count)
        peer_task_complete(t);
}

/* Both jobs of a pair are done: each is recorded as a job of its own would be. */
static void
peer_task_hash_pair_done(void *arg)
{
    struct peer_hash_job *j = arg, *k = j->pair;

    /* j's done cannot free the task: k is still on its hashing list */
    peer_task_hash_done(j);
    peer_task_hash_done(k);
}

/* Queue j on the pool (with its partner when it has one); 0 or DF_ENOMEM (j is dropped). */
static int
peer_task_hash_queue(struct peer_task *t, struct peer_hash_job *j)
{
    df_work_fn *work = j->kind == PEER_HASH_SEAL ? peer_task_seal_work : peer_task_hash_work;
    df_work_fn *done = peer_task_hash_done;

    if (j->pair != NULL) {
        work = peer_task_hash_pair_work;
        done = peer_task_hash_pair_done;
    }
    if (df_work_submit(t->ctx->hash_pool, work, done, j) == 0)
        return 0;
    for (struct peer_hash_job *x = j, *next; x != NULL; x = next) {
        next = x->pair;
        TAILQ_REMOVE(&t->hashing, x, entry);
        close(x->fd);
        free(x);
    }
    return DF_ENOMEM;
}

/* The held piece found no partner in time: hash it alone. */
static void
peer_task_hash_hold_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_task *t = arg;
    struct peer_hash_job *j = t->hash_held;

    (void)fd;
    (void)what;
    if (j == NULL)
        return;
    t->hash_held = NULL;
    if (peer_task_hash_queue(t, j) != 0)
        peer_task_fail(t, DF_ENOMEM, "cannot start a worker thread");
}

/*
 * A source piece j is in: pair it with the held one, or hold it when another is likely to
 * follow within PEER_HASH_HOLD_MS (a source slot is still fetching, and the last piece came
 * that recently), else queue it alone. 0 or DF_ENOMEM.
 */
static int
peer_task_hash_source(struct peer_task *t, struct peer_hash_job *j)
{
    struct peer_hash_job *h = t->hash_held;
    uint64_t now = peer_task_mono_ns(t->ctx), last = t->hash_last_ns;
    struct timeval tv = {0, PEER_HASH_HOLD_MS * 1000};
    bool more = false;

    t->hash_last_ns = now;
    if (h != NULL) {
        t->hash_held = NULL;
        evtimer_del(t->hash_hold_timer);
        h->pair = j;
        return peer_task_hash_queue(t, h);
    }
    for (unsigned i = 0; i < t->nworkers && !more; i++)
        more = t->fetch[i].busy && t->fetch[i].hash_later;
    if (!more || last == 0 || now - last > (uint64_t)PEER_HASH_HOLD_MS * 1000000)
        return peer_task_hash_queue(t, j);
    if (t->hash_hold_timer == NULL &&
        (t->hash_hold_timer = evtimer_new(t->ctx->base, peer_task_hash_hold_cb, t)) == NULL)
        return peer_task_hash_queue(t, j);
    t->hash_held = j;
    evtimer_add(t->hash_hold_timer, &tv);
    return 0;
}

/* Hash (or seal) piece number of t from its data file on a worker; 0 or DF_ENOMEM. */
int
peer_task_hash_submit(struct peer_task *t, enum peer_hash_kind kind, uint64_t number, uint64_t off,
                      uint64_t len, const uint8_t *want)
{
    struct peer_hash_job *j = xcalloc(1, sizeof(*j));

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
    return kind == PEER_HASH_SOURCE ? peer_task_hash_source(t, j) : peer_task_hash_queue(t, j);
}

/* The task goes away (shutdown): its jobs finish on their own. */
void
peer_task_hash_orphan(struct peer_task *t)
{
    struct peer_hash_job *j;

    if ((j = t->hash_held) != NULL) {
        /* never queued: nobody would free it (its piece is fetched again next time) */
        t->hash_held = NULL;
        TAILQ_REMOVE(&t->hashing, j, entry);
        close(j->fd);
        free(j);
    }
    while ((j = TAILQ_FIRST(&t->hashing)) != NULL) {
        TAILQ_REMOVE(&t->hashing, j, entry);
        j->task = NULL;
    }
}
