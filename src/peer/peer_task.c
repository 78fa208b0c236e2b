/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tasks: one per task id, shared by every `get` of the same content. This file is the task
 * core: its state, its listeners and piece claims, its geometry and storage (the rows and
 * the data file, and how far they are trusted), recording verified pieces, and the entry
 * points (a get, a cache hit, shutdown, GC, StatTask). Where the bytes come from is
 * peer_task_origin.c (the origin) or the swarm side (ctx->swarm); hashing off the loop is
 * peer_task_hash.c; the gets' outputs are peer_task_out.c.
 *
 *   PROBING --(length known, ranges work)--> RUNNING --(all pieces)--> DONE
 *      |  \---(no ranges / no length)-----> STREAMING --(end)------> DONE
 *      |  \---(the scheduler names parents)-> P2P --(all pieces)------> DONE
 *      +--------------(permanent failure or retries exhausted)-----> FAILED
 *
 * peer_task_set_state() is the only writer of the state. DONE and FAILED tasks stay in the
 * list only while they still have waiters being served.
 */

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_metrics.h"
#include "df/df_time.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/proto_dfdaemon.h"
#include "df/rpc_server.h"
#include "df/store_data.h"
#include "df/store_piece.h"
#include "df/store_task.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"
#include "peer_task_int.h"

/* Installed on a call before finishing it: the waiter is gone. */
const struct rpc_call_cbs peer_no_cbs;

static const char *const peer_task_state_names[] = {"PROBING", "RUNNING", "STREAMING",
                                                    "DONE",    "FAILED",  "P2P"};

void
peer_task_set_state(struct peer_task *t, enum peer_task_state s, int line)
{
    static const bool ok[6][6] = {
            /* to:    PROBING RUNNING STREAMING DONE FAILED P2P */
            [PEER_TASK_PROBING] = {false, true, true, true, true, true},
            [PEER_TASK_RUNNING] = {false, false, false, true, true, false},
            [PEER_TASK_STREAMING] = {false, false, true, true, true, false},
            [PEER_TASK_P2P] = {true, false, false, true, true, false},
    };

    DF_ASSERT(ok[t->state][s]);
    PEER_TASK_LOG(t, LOG_LEVEL_DEBUG, "peer", "%s: task %.12s %s -> %s (line %d)", PEER_TAG(t->ctx),
                  t->id, peer_task_state_names[t->state], peer_task_state_names[s], line);
    t->state = s;
}

static int64_t
peer_task_wall_ms(const struct peer *ctx)
{
    return ctx->clock != NULL ? ctx->clock->wall_ms(ctx->clock->arg) : df_time_wall_ms();
}

uint64_t
peer_task_mono_ns(const struct peer *ctx)
{
    return ctx->clock != NULL ? ctx->clock->mono_ns(ctx->clock->arg) : df_time_mono_ns();
}

void
peer_task_listen(struct peer *ctx, struct peer_task_listener *l)
{
    struct peer_task_listener **at = &ctx->task_listeners;

    while (*at != NULL)
        at = &(*at)->next;
    l->next = NULL;
    *at = l;
}

void
peer_task_unlisten(struct peer *ctx, struct peer_task_listener *l)
{
    for (struct peer_task_listener **at = &ctx->task_listeners; *at != NULL; at = &(*at)->next)
        if (*at == l) {
            *at = l->next;
            l->next = NULL;
            return;
        }
}

void
peer_task_bytes_written(struct peer_task *t)
{
    for (struct peer_task_listener *l = t->ctx->task_listeners, *next; l != NULL; l = next) {
        next = l->next;
        if (l->ev->bytes != NULL)
            l->ev->bytes(t, l->arg);
    }
}

static void
peer_task_tell_piece(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN],
                     const char *parent_id)
{
    for (struct peer_task_listener *l = t->ctx->task_listeners, *next; l != NULL; l = next) {
        next = l->next;
        if (l->ev->piece != NULL)
            l->ev->piece(t, number, md, parent_id, l->arg);
    }
}

static void
peer_task_tell_done(struct peer_task *t)
{
    for (struct peer_task_listener *l = t->ctx->task_listeners, *next; l != NULL; l = next) {
        next = l->next;
        if (l->ev->done != NULL)
            l->ev->done(t, l->arg);
    }
}

static void
peer_task_tell_failed(struct peer_task *t, const char *why)
{
    for (struct peer_task_listener *l = t->ctx->task_listeners, *next; l != NULL; l = next) {
        next = l->next;
        if (l->ev->failed != NULL)
            l->ev->failed(t, why, l->arg);
    }
}

bool
peer_task_claim(struct peer_task *t, bool (*want)(uint64_t number, void *arg), void *arg,
                uint64_t *number)
{
    uint64_t from = t->in_order > 0 ? 0 : t->next_scan;

    for (uint64_t k = 0; k < t->piece_count; k++) {
        uint64_t i = (from + k) % t->piece_count;
        if (t->have[i] || t->busy[i] || (want != NULL && !want(i, arg)))
            continue;
        t->next_scan = i + 1;
        t->busy[i] = 1;
        *number = i;
        return true;
    }
    return false;
}

bool
peer_task_claim_spread(struct peer_task *t, bool (*want)(uint64_t number, void *arg), void *arg,
                       uint64_t r, uint64_t *number)
{
    uint64_t n = 0, k;

    /* A reader waiting on the prefix (a proxy stream) matters more than spreading. */
    if (t->in_order > 0)
        return peer_task_claim(t, want, arg, number);
    for (uint64_t i = 0; i < t->piece_count; i++)
        n += !t->have[i] && !t->busy[i] && (want == NULL || want(i, arg)) ? 1 : 0;
    if (n == 0)
        return false;
    k = r % n;
    /* want() is asked again, so that the last answer it gave is about the one claimed. */
    for (uint64_t i = 0; i < t->piece_count; i++) {
        if (t->have[i] || t->busy[i] || (want != NULL && !want(i, arg)) || k-- > 0)
            continue;
        t->busy[i] = 1;
        *number = i;
        return true;
    }
    return false; /* want() changed its mind between the passes */
}

void
peer_task_release(struct peer_task *t, uint64_t number)
{
    t->busy[number] = 0;
}

void
peer_task_join_swarm(struct peer_task *t)
{
    PEER_TASK_SET_STATE(t, PEER_TASK_P2P);
}

void
peer_task_swarm_source_started(struct peer_task *t)
{
    if (t->ctx->swarm != NULL)
        t->ctx->swarm->source_started(t);
}

void
peer_task_stop_fetches(struct peer_task *t)
{
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
        struct peer_fetch *f = &t->fetch[i];
        DF_FREE(f->src, net_fetch_cancel);
        if (f->retry_timer != NULL)
            DF_FREE(f->retry_timer, event_free);
        if (f->rate_timer != NULL)
            DF_FREE(f->rate_timer, event_free);
        f->busy = false;
    }
    if (t->probe_timer != NULL)
        DF_FREE(t->probe_timer, event_free);
}

static void
peer_task_free(struct peer_task *t)
{
    struct peer_waiter *w;

    peer_task_stop_fetches(t);
    if (t->hash_hold_timer != NULL)
        event_free(t->hash_hold_timer);
    if (t->ctx->swarm != NULL)
        t->ctx->swarm->free(t);
    peer_task_hash_orphan(t);
    while ((w = TAILQ_FIRST(&t->waiters)) != NULL) {
        TAILQ_REMOVE(&t->waiters, w, entry);
        if (w->call != NULL) {
            rpc_call_set_cbs(w->call, &peer_no_cbs, NULL);
            rpc_call_finish(w->call, RPC_UNAVAILABLE, "peer is shutting down");
        }
        peer_waiter_free(w);
    }
    TAILQ_REMOVE(&t->ctx->tasks, t, entry);
    if (t->fd != -1)
        close(t->fd);
    for (size_t i = 0; i < t->nheaders; i++) {
        free((char *)(uintptr_t)t->headers[i].name);
        free((char *)(uintptr_t)t->headers[i].value);
    }
    free(t->headers);
    free(t->url);
    free(t->canonical);
    free(t->etag);
    free(t->last_modified);
    free(t->have);
    free(t->busy);
    free(t->stream_digests);
    free(t->recheck);
    free(t);
}

void
peer_task_maybe_free(struct peer_task *t)
{
    if ((t->state == PEER_TASK_DONE || t->state == PEER_TASK_FAILED) && TAILQ_EMPTY(&t->waiters) &&
        t->materializing == 0 && TAILQ_EMPTY(&t->hashing) && t->holds == 0)
        peer_task_free(t);
}

void
peer_task_fail(struct peer_task *t, int rv, const char *why)
{
    struct peer_waiter *w, *next;

    if (t->state == PEER_TASK_DONE || t->state == PEER_TASK_FAILED)
        return;
    if (why != NULL && why != t->why)
        snprintf(t->why, sizeof(t->why), "%s", why);
    why = t->why;
    PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL, "%s: task %.12s failed: %s", PEER_TAG(t->ctx), t->id,
                  why);
    peer_task_stop_fetches(t);
    PEER_TASK_SET_STATE(t, PEER_TASK_FAILED);
    peer_task_tell_failed(t, why);
    t->ctx->tasks_failed++;
    if (rv == DF_ENOSPC) {
        /*
         * Its pieces filled the disk: give the space back rather than keep them to resume.
         * When the full disk refuses the delete too, the file goes anyway: rows are trusted
         * only with the file they were sealed to (this task's never were), and a missing or
         * new file resets them before anything could use them (H3).
         */
        if (peer_task_drop_storage(t->ctx, t->id) != 0 &&
            store_data_remove(t->ctx->cfg.data_dir, t->id) != 0)
            log_warn("%s: task %.12s: cannot remove its data file", PEER_TAG(t->ctx), t->id);
    } else if (t->length_known)
        store_task_mark_failed(t->ctx->db, t->id);
    for (w = TAILQ_FIRST(&t->waiters); w != NULL; w = next) {
        next = TAILQ_NEXT(w, entry);
        if (w->call != NULL) {
            rpc_call_set_cbs(w->call, &peer_no_cbs, NULL);
            rpc_call_finish(w->call, rpc_err_from_df(rv), why);
            w->call = NULL;
        }
        /* A waiter whose output job still runs stays (and holds the task) until it ends. */
        peer_waiter_output_stop(w);
        if (!w->out_busy) {
            TAILQ_REMOVE(&t->waiters, w, entry);
            peer_waiter_free(w);
        }
    }
    peer_task_maybe_free(t);
}

void
peer_task_complete(struct peer_task *t)
{
    struct peer_waiter *w, *next;
    int rv;

    if ((rv = store_task_mark_done(t->ctx->db, t->id)) != 0) {
        peer_task_fail(t, rv, "cannot record the finished task");
        return;
    }
    /* A probe or retry of the source may still be pending when re-checked or P2P pieces
     * finish the task. */
    peer_task_stop_fetches(t);
    /* Seal the rows to the data file once it is durable (M5): until then a restart
     * re-checks them. The task stays in memory (its hashing list) until it is sealed. */
    if (t->fd != -1 && peer_task_hash_submit(t, PEER_HASH_SEAL, 0, 0, 0, NULL) != 0)
        PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL,
                      "%s: task %.12s: cannot start a worker to seal it; it will be re-checked "
                      "on its next use",
                      PEER_TAG(t->ctx), t->id);
    PEER_TASK_SET_STATE(t, PEER_TASK_DONE);
    t->ctx->tasks_done++;
    df_metrics_observe(t->ctx->task_duration, (double)(peer_task_wall_ms(t->ctx) - t->started_ms));
    peer_task_tell_done(t);
    PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                  "%s: task %.12s done: %" PRIu64 " bytes, %" PRIu64 " pieces, %" PRIu64
                  " from source in %" PRId64 " ms",
                  PEER_TAG(t->ctx), t->id, t->content_length, t->piece_count, t->bytes_from_source,
                  peer_task_wall_ms(t->ctx) - t->started_ms);
    peer_task_progress(t, true);
    /* A cache-only waiter finishes synchronously: hold the task until the loop is over. */
    t->materializing++;
    for (w = TAILQ_FIRST(&t->waiters); w != NULL; w = next) {
        next = TAILQ_NEXT(w, entry);
        peer_waiter_materialize(w);
    }
    t->materializing--;
    peer_task_gc(t->ctx);
    peer_task_maybe_free(t);
}

int
peer_task_drop_storage(struct peer *ctx, const char *id)
{
    int rv;

    /* Rows first: a failure here (a full disk refuses the delete too) keeps the file, so
     * rows never outlive the bytes they describe (H3). */
    rv = store_task_delete(ctx->db, id);
    if (rv != 0 && rv != DF_ENOTFOUND) {
        log_warnx("%s: task %.12s: cannot delete its rows: %s", PEER_TAG(ctx), id, df_strerror(rv));
        return rv;
    }
    if (store_data_remove(ctx->cfg.data_dir, id) != 0)
        log_warn("%s: task %.12s: cannot remove its data file", PEER_TAG(ctx), id);
    return 0;
}

/* Forget the geometry and everything sized by it: the data file, maps and counts. */
void
peer_task_release_geometry(struct peer_task *t)
{
    if (t->ctx->swarm != NULL)
        t->ctx->swarm->fetches_cancel(t);
    peer_task_hash_orphan(t); /* their piece numbers belong to the old geometry */
    DF_FREE(t->recheck, free);
    t->nrecheck = t->recheck_next = 0;
    t->recheck_inflight = 0;
    if (t->fd != -1) {
        close(t->fd);
        t->fd = -1;
    }
    DF_FREE(t->have, free);
    DF_FREE(t->busy, free);
    t->npieces_alloc = 0;
    t->done_pieces = t->done_bytes = 0;
    t->next_scan = 0;
    t->length_known = false;
}

int
peer_task_drop_pieces(struct peer_task *t)
{
    struct peer_waiter *w;
    int rv;

    TAILQ_FOREACH (w, &t->waiters, entry) {
        if (w->call == NULL || w->out_fd == -1 || peer_waiter_output_rewind(w) == 0)
            continue;
        /* Answered here; a running job ends early and its completion frees w. */
        rpc_call_set_cbs(w->call, &peer_no_cbs, NULL);
        rpc_call_finish(w->call, RPC_DATA_LOSS,
                        "the content is fetched again (conflicting source data), and the "
                        "output cannot be restarted: run the get again");
        w->call = NULL;
        peer_waiter_output_stop(w);
    }
    if (t->length_known)
        peer_task_release_geometry(t);
    if ((rv = peer_task_drop_storage(t->ctx, t->id)) != 0) {
        snprintf(t->why, sizeof(t->why), "cannot drop the task's pieces: %s", df_strerror(rv));
        return rv;
    }
    PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL, "%s: task %.12s: pieces dropped; fetching them again",
                  PEER_TAG(t->ctx), t->id);
    return 0;
}

/*
 * Decide how far the task's rows can be trusted now that its data file is open: a new file
 * holds none of them; a file that is not exactly as sealed may hold other bytes, so every
 * recorded piece is re-checked before it counts; a sealed one is trusted. Either way the
 * task is unsealed, since we may write to the file from here on.
 */
static int
peer_task_trust_file(struct peer_task *t, bool created, struct df_error *err)
{
    struct store_data_stamp now;
    struct store_task st;
    const char *what;
    int rv;

    memset(&st, 0, sizeof(st));
    if ((rv = store_task_get(t->ctx->db, t->id, &st)) != 0)
        return df_error_set(err, rv, "cannot read the task: %s", df_strerror(rv));
    if (created) {
        what = "reset";
        rv = store_task_reset_pieces(t->ctx->db, t->id);
        if (rv == 0 && st.bytes > 0)
            PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL,
                          "%s: task %.12s: its data file was missing: %" PRIu64
                          " recorded bytes dropped",
                          PEER_TAG(t->ctx), t->id, st.bytes);
    } else if (st.sealed && store_data_stamp(t->fd, &now) == 0 &&
               store_data_stamp_is_equal(&now, &st.stamp)) {
        what = "unseal";
        rv = store_task_unseal(t->ctx->db, t->id);
    } else {
        what = "re-check";
        rv = store_task_unverify(t->ctx->db, t->id);
        if (rv == 0 && st.bytes > 0)
            PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                          "%s: task %.12s: %s: re-checking its %" PRIu64 " recorded bytes",
                          PEER_TAG(t->ctx), t->id,
                          st.sealed ? "data file changed since it was sealed"
                                    : "rows not sealed (interrupted or unclean stop)",
                          st.bytes);
    }
    store_task_reset(&st);
    if (rv != 0) {
        /* A new file next to rows that still claim pieces would be served from: not kept */
        if (created)
            store_data_remove(t->ctx->cfg.data_dir, t->id);
        return df_error_set(err, rv, "cannot %s the cached pieces: %s", what, df_strerror(rv));
    }
    return 0;
}

/* Mark the pieces recorded as FINISHED, and queue the UNVERIFIED ones for re-hashing. */
static int
peer_task_load_pieces(struct peer_task *t, struct df_error *err)
{
    struct store_piece *pieces = NULL;
    uint64_t rechecks = 0;
    size_t n = 0;
    int rv;

    if ((rv = store_piece_list(t->ctx->db, t->id, STORE_PIECE_FINISHED, &pieces, &n)) != 0)
        return df_error_set(err, rv, "cannot read the cached pieces: %s", df_strerror(rv));
    for (size_t i = 0; i < n; i++) {
        if (pieces[i].number < t->piece_count && !t->have[pieces[i].number]) {
            t->have[pieces[i].number] = 1;
            t->done_pieces++;
            t->done_bytes += pieces[i].length;
        }
    }
    DF_FREE(pieces, free);
    if ((rv = store_piece_list(t->ctx->db, t->id, STORE_PIECE_UNVERIFIED, &pieces, &n)) != 0)
        return df_error_set(err, rv, "cannot read the cached pieces: %s", df_strerror(rv));
    for (size_t i = 0; i < n; i++) {
        struct store_piece *p = &pieces[i];
        if (p->number >= t->piece_count || t->have[p->number] || t->busy[p->number])
            continue;
        t->busy[p->number] = 1; /* not fetched while it may still count */
        pieces[rechecks++] = *p;
    }
    free(t->recheck);
    t->recheck = pieces;
    t->nrecheck = (size_t)rechecks;
    t->recheck_next = 0;
    t->recheck_failed = 0;
    if ((rv = peer_task_recheck_next(t)) != 0)
        return df_error_set(err, rv, "cannot start a worker thread");
    if (t->done_pieces > 0 || rechecks > 0)
        PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                      "%s: task %.12s resumes with %" PRIu64 "/%" PRIu64 " pieces, %" PRIu64
                      " to re-check",
                      PEER_TAG(t->ctx), t->id, t->done_pieces, t->piece_count, rechecks);
    return 0;
}

/*
 * Allocate the piece maps and store the task once the length is known. Called again with
 * the same geometry (the scheduler's digests then the tiny content; P2P then back to
 * source) it keeps everything (M1); with another one, the old state goes first.
 */
int
peer_task_set_geometry(struct peer_task *t, uint64_t length, uint64_t piece_length,
                       struct df_error *err)
{
    struct store_task st;
    bool created = false;
    int rv;

    if (piece_length == 0)
        piece_length = t->length_known && length == t->content_length ? t->piece_length
                                                                      : df_id_piece_length(length);
    if (t->length_known) {
        if (length == t->content_length && piece_length == t->piece_length)
            return 0;
        PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                      "%s: task %.12s: geometry %" PRIu64 "/%" PRIu64 " -> %" PRIu64 "/%" PRIu64
                      "; pieces start over",
                      PEER_TAG(t->ctx), t->id, t->content_length, t->piece_length, length,
                      piece_length);
        peer_task_release_geometry(t);
    }
    t->length_known = true;
    t->content_length = length;
    t->piece_length = piece_length;
    t->piece_count = df_id_piece_count(length, t->piece_length);
    memset(&st, 0, sizeof(st));
    memcpy(st.id, t->id, sizeof(st.id));
    st.url = t->canonical;
    st.content_length = length;
    st.piece_length = t->piece_length;
    st.etag = t->etag;
    st.last_modified = t->last_modified;
    rv = store_task_put(t->ctx->db, &st, peer_task_wall_ms(t->ctx));
    if (rv == DF_EEXIST) {
        /* The origin's content changed size since we cached part of it: start over. */
        if ((rv = peer_task_drop_storage(t->ctx, t->id)) == 0)
            rv = store_task_put(t->ctx->db, &st, peer_task_wall_ms(t->ctx));
    }
    if (rv != 0)
        return df_error_set(err, rv, "cannot record the task: %s", df_strerror(rv));
    if ((rv = store_data_open_created(t->ctx->cfg.data_dir, t->id, &t->fd, &created, err)) != 0)
        return rv;
    t->npieces_alloc = t->piece_count > 0 ? t->piece_count : 1;
    t->have = xcalloc(t->npieces_alloc, 1);
    t->busy = xcalloc(t->npieces_alloc, 1);
    if ((rv = peer_task_trust_file(t, created, err)) != 0)
        return rv;
    return peer_task_load_pieces(t, err);
}

void
peer_task_inline_content(struct peer_task *t, const uint8_t *buf, size_t n)
{
    uint8_t md[DF_SHA256_LEN];
    struct df_error err;
    int rv;

    if ((rv = peer_task_set_geometry(t, n, 0, &err)) != 0) {
        peer_task_fail(t, rv, err.msg);
        return;
    }
    df_sha256(buf, n, md);
    if (n > 0 && (rv = store_data_pwrite(t->fd, buf, n, 0)) != 0) {
        peer_task_fail(t, rv, "write cache file");
        return;
    }
    if (n > 0 && (rv = peer_task_record_piece(t, 0, 0, n, md, NULL)) != 0) {
        peer_task_fail(t, rv, NULL);
        return;
    }
    peer_task_started(t);
    peer_task_complete(t);
}

int
peer_task_read(struct peer_task *t, void *buf, size_t len, uint64_t off)
{
    if (t->fd == -1)
        return DF_EIO;
    return store_data_pread(t->fd, buf, len, off);
}

int
peer_task_record_piece(struct peer_task *t, uint64_t number, uint64_t off, uint64_t len,
                       const uint8_t md[DF_SHA256_LEN], const char *parent_id)
{
    struct store_piece p;
    int rv;

    if (t->have[number])
        return 0;
    if (t->ctx->cfg.sync == STORE_DATA_SYNC_PIECE &&
        (rv = store_data_sync(t->fd, STORE_DATA_SYNC_PIECE)) != 0) {
        snprintf(t->why, sizeof(t->why), "cannot sync the cache file: %s", df_strerror(rv));
        return rv;
    }
    memset(&p, 0, sizeof(p));
    p.number = number;
    p.offset = off;
    p.length = len;
    memcpy(p.digest, md, DF_SHA256_LEN);
    if ((rv = store_piece_record_verified(t->ctx->db, t->id, &p)) != 0) {
        snprintf(t->why, sizeof(t->why), "cannot record piece %" PRIu64 ": %s", number,
                 df_strerror(rv));
        return rv;
    }
    t->have[number] = 1;
    t->done_pieces++;
    t->done_bytes += len;
    peer_task_tell_piece(t, number, md, parent_id);
    peer_task_outputs_kick(t);
    return 0;
}

static bool
peer_task_is_active(struct peer *ctx, const char *id)
{
    return peer_task_find(ctx, id) != NULL;
}

struct peer_task *
peer_task_find(struct peer *ctx, const char *id)
{
    struct peer_task *t, *failed = NULL;

    /* A FAILED task lingers while its hash jobs end; a new one for the id may run then,
     * and it is the one whose rows are live. */
    TAILQ_FOREACH (t, &ctx->tasks, entry) {
        if (strcmp(t->id, id) != 0 || t->evicted)
            continue;
        if (t->state != PEER_TASK_FAILED)
            return t;
        failed = t;
    }
    return failed;
}

struct peer_task *
peer_task_new(struct peer *ctx, const char *id, const char *canonical,
              const struct peer_download_req *req)
{
    struct peer_task *t = xcalloc(1, sizeof(*t));
    struct store_task st;

    t->ctx = ctx;
    memcpy(t->id, id, sizeof(t->id));
    t->url = xstrdup(req->url);
    t->canonical = xstrdup(canonical);
    t->insecure = req->insecure;
    t->policy = req->policy;
    t->fd = -1;
    t->started_ms = peer_task_wall_ms(ctx);
    if (req->nheaders > 0) {
        t->headers = xcalloc(req->nheaders, sizeof(*t->headers));
        for (size_t i = 0; i < req->nheaders; i++) {
            t->headers[i].name = xstrdup(req->headers[i].name);
            t->headers[i].value = xstrdup(req->headers[i].value);
        }
        t->nheaders = req->nheaders;
    }
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++)
        peer_task_fetch_init(&t->fetch[i], t, false);
    TAILQ_INIT(&t->waiters);
    TAILQ_INIT(&t->hashing);
    /* Validators of a partially cached task: a resumed download must match them. */
    memset(&st, 0, sizeof(st));
    if (store_task_get(ctx->db, id, &st) == 0) {
        if (st.etag != NULL)
            t->etag = xstrdup(st.etag);
        if (st.last_modified != NULL)
            t->last_modified = xstrdup(st.last_modified);
        store_task_reset(&st);
    }
    TAILQ_INSERT_TAIL(&ctx->tasks, t, entry);
    return t;
}

/*
 * The rows of a task not in memory are trusted only while its data file is exactly as it
 * was sealed. Otherwise take the trust away in the rows: nothing of it is served or
 * announced until a download re-checks (or, file gone, refetches) its pieces. Returns
 * whether the task is DONE and trusted.
 */
static bool
peer_task_cache_check(struct peer *ctx, const struct store_task *st)
{
    struct store_data_stamp now;
    int found, rv;

    if (st->state != STORE_TASK_DONE && st->bytes == 0)
        return false; /* nothing is trusted: nothing to check */
    found = store_data_stamp_path(ctx->cfg.data_dir, st->id, &now);
    if (st->sealed && found == 0 && store_data_stamp_is_equal(&now, &st->stamp))
        return st->state == STORE_TASK_DONE;
    if (found == DF_ENOTFOUND)
        rv = store_task_reset_pieces(ctx->db, st->id);
    else
        rv = store_task_unverify(ctx->db, st->id);
    if (rv != 0)
        log_warnx("%s: task %.12s: data file %s, and its rows cannot be updated: %s", PEER_TAG(ctx),
                  st->id, found == DF_ENOTFOUND ? "missing" : "not as sealed", df_strerror(rv));
    else
        log_info(
                "peer: task %.12s: %s", st->id,
                found == DF_ENOTFOUND ? "data file missing: its recorded pieces are dropped"
                : st->sealed
                        ? "data file changed since it was sealed: its pieces are "
                          "re-checked before use"
                        : "rows not sealed (interrupted or unclean stop): its pieces are re-checked "
                          "before use");
    return false;
}

/* A finished task of the cache, trusted, as a DONE task in ctx->tasks; NULL when there is none. */
static struct peer_task *
peer_task_cached(struct peer *ctx, const char *id)
{
    struct store_task st;
    struct peer_task *t;
    char path[PATH_MAX];
    struct stat sb;

    memset(&st, 0, sizeof(st));
    if (store_task_get(ctx->db, id, &st) != 0)
        return NULL;
    if (!peer_task_cache_check(ctx, &st) ||
        store_data_path(ctx->cfg.data_dir, id, path, sizeof(path)) != 0 || stat(path, &sb) != 0) {
        store_task_reset(&st);
        return NULL;
    }
    if (sb.st_nlink > 1 && !peer_task_is_active(ctx, id)) {
        /* A hard-linked output of an older version shares this file: anything may have
         * changed it. Drop the task; it is fetched and verified again. */
        log_warnx("%s: task %.12s: cache file has %lu links (an old hard-linked output); "
                  "fetching it again",
                  PEER_TAG(ctx), id, (unsigned long)sb.st_nlink);
        store_task_delete(ctx->db, id);
        if (ctx->swarm != NULL)
            ctx->swarm->forget(ctx, id);
        store_data_remove(ctx->cfg.data_dir, id);
        store_task_reset(&st);
        return NULL;
    }
    store_task_touch(ctx->db, id, peer_task_wall_ms(ctx));
    ctx->cache_hits++;
    ctx->bytes_local += st.content_length;
    t = xcalloc(1, sizeof(*t));
    t->ctx = ctx;
    memcpy(t->id, id, sizeof(t->id));
    t->fd = -1;
    t->state = PEER_TASK_DONE;
    t->length_known = true;
    t->content_length = st.content_length;
    t->piece_length = st.piece_length;
    t->piece_count = st.piece_count;
    t->done_pieces = st.piece_count;
    t->done_bytes = st.content_length;
    TAILQ_INIT(&t->waiters);
    TAILQ_INIT(&t->hashing);
    TAILQ_INSERT_TAIL(&ctx->tasks, t, entry);
    store_task_reset(&st);
    log_info("%s: task %.12s served from the cache", PEER_TAG(ctx), id);
    return t;
}

/* Offer a cached task to the swarm now, or (a digest-checked request) once it passed. */
static void
peer_task_cached_offer(struct peer_task *t, const struct peer_download_req *req)
{
    struct peer *ctx = t->ctx;

    if (req->has_digest)
        t->hold_pending = true;
    else if (ctx->swarm != NULL)
        ctx->swarm->hold(ctx, req, t->id, t->content_length, t->piece_length, t->piece_count);
}

/* A finished task in the cache: serve the output with no origin traffic. */
static bool
peer_task_from_cache(struct peer *ctx, const char *id, struct peer_waiter *w)
{
    struct peer_task *t = peer_task_cached(ctx, id);

    if (t == NULL)
        return false;
    w->task = t;
    TAILQ_INSERT_TAIL(&t->waiters, w, entry);
    peer_waiter_started(w);
    peer_task_cached_offer(t, &w->req);
    peer_waiter_materialize(w);
    return true;
}

/* req's task id and canonical URL (the caller frees it); 0 or DF_EINVAL with err set. */
static int
peer_task_req_id(const struct peer_download_req *req, char id[DF_ID_TASK_LEN + 1], char **canonical,
                 struct df_error *err)
{
    struct df_id_task_params p;

    memset(&p, 0, sizeof(p));
    p.url = req->url;
    p.tag = req->tag;
    p.application = req->application;
    p.filtered_query_params = req->filtered;
    p.url_flags = DF_URL_CANON_SORT;
    if (df_id_task(&p, id, err) != 0 ||
        df_url_canonical_new(req->url, req->filtered, DF_URL_CANON_SORT, canonical, err) != 0)
        return DF_EINVAL;
    return 0;
}

int
peer_task_open(struct peer *ctx, const struct peer_download_req *req, struct peer_task **out,
               struct df_error *err)
{
    char id[DF_ID_TASK_LEN + 1], *canonical = NULL;
    struct peer_task *t;

    if (peer_task_req_id(req, id, &canonical, err) != 0)
        return DF_EINVAL;
    t = peer_task_find(ctx, id);
    if (t == NULL || t->state == PEER_TASK_FAILED) {
        if ((t = peer_task_cached(ctx, id)) != NULL) {
            peer_task_cached_offer(t, req);
        } else if (req->disable_back_to_source) {
            free(canonical);
            return df_error_set(err, DF_ENOTFOUND,
                                "content not in the cache and back-to-source is disabled");
        } else {
            t = peer_task_new(ctx, id, canonical, req);
            PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL, "%s: task %.12s new (proxy)", PEER_TAG(ctx),
                          t->id);
            t->holds++; /* before the start: a failure at once must not free it */
            if (ctx->swarm == NULL || ctx->swarm->start(t, req) != 0)
                peer_task_back_to_source(t);
            free(canonical);
            *out = t;
            return 0;
        }
    }
    free(canonical);
    t->holds++;
    *out = t;
    return 0;
}

void
peer_task_hold(struct peer_task *t)
{
    t->holds++;
}

void
peer_task_unhold(struct peer_task *t)
{
    DF_ASSERT(t->holds > 0);
    t->holds--;
    peer_task_maybe_free(t);
}

void
peer_task_content_verified(struct peer_task *t, const struct peer_download_req *req)
{
    if (!t->hold_pending || t->evicted)
        return;
    t->hold_pending = false;
    if (t->ctx->swarm != NULL)
        t->ctx->swarm->hold(t->ctx, req, t->id, t->content_length, t->piece_length, t->piece_count);
}

void
peer_task_download(struct peer *ctx, struct rpc_call *call, struct peer_download_req *req)
{
    peer_task_download_fd(ctx, call, req, -1);
}

void
peer_task_download_fd(struct peer *ctx, struct rpc_call *call, struct peer_download_req *req,
                      int out_fd)
{
    static const struct rpc_call_cbs call_cbs = {.on_cancel = peer_waiter_call_cancel_cb};
    struct df_error err;
    char id[DF_ID_TASK_LEN + 1], *canonical = NULL;
    struct peer_waiter *w;
    struct peer_task *t;

    if (peer_task_req_id(req, id, &canonical, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        peer_download_req_reset(req);
        if (out_fd != -1)
            close(out_fd);
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->out_fd = out_fd;
    /* The caller's own new file takes pieces where they belong (it says so: outputRewind). */
    w->out_seek = out_fd != -1 && req->output_rewind && lseek(out_fd, 0, SEEK_CUR) == 0;
    atomic_init(&w->out_stop, false);
    w->call = call;
    w->req = *req;
    memset(req, 0, sizeof(*req));
    rpc_call_set_cbs(call, &call_cbs, w);
    t = peer_task_find(ctx, id);
    if (t != NULL && t->state != PEER_TASK_FAILED) {
        w->task = t;
        TAILQ_INSERT_TAIL(&t->waiters, w, entry);
        if (t->state != PEER_TASK_PROBING)
            peer_waiter_started(w);
        if (t->state == PEER_TASK_DONE)
            peer_waiter_materialize(w);
        free(canonical);
        return;
    }
    if (peer_task_from_cache(ctx, id, w)) {
        free(canonical);
        return;
    }
    if (w->req.disable_back_to_source) {
        rpc_call_set_cbs(call, &peer_no_cbs, NULL);
        rpc_call_finish(call, RPC_FAILED_PRECONDITION,
                        "content not in the cache and back-to-source is disabled");
        peer_waiter_free(w);
        free(canonical);
        return;
    }
    t = peer_task_new(ctx, id, canonical, &w->req);
    free(canonical);
    w->task = t;
    TAILQ_INSERT_TAIL(&t->waiters, w, entry);
    PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL, "%s: task %.12s new", PEER_TAG(ctx), t->id);
    if (ctx->swarm == NULL || ctx->swarm->start(t, &w->req) != 0)
        peer_task_back_to_source(t);
}

void
peer_task_shutdown(struct peer *ctx)
{
    struct peer_task *t, *next;

    /*
     * A task whose outputs are being written on workers is left to finish them: its waiters
     * get their answer and the task frees itself. Everything else goes now.
     */
    for (t = TAILQ_FIRST(&ctx->tasks); t != NULL; t = next) {
        next = TAILQ_NEXT(t, entry);
        if (t->materializing == 0)
            peer_task_free(t);
        else if (t->state != PEER_TASK_DONE && t->state != PEER_TASK_FAILED)
            peer_task_stop_outputs(t);
    }
}

void
peer_task_gc(struct peer *ctx)
{
    struct store_task *list = NULL;
    uint64_t total = 0;
    int64_t now = peer_task_wall_ms(ctx);
    size_t n = 0;

    if (store_task_list_lru(ctx->db, 100000, &list, &n) != 0)
        return;
    store_task_bytes_total(ctx->db, &total);
    for (size_t i = 0; i < n; i++) {
        struct store_task *st = &list[i];
        bool expired = ctx->cfg.cache_ttl > 0 && now - st->accessed_at > ctx->cfg.cache_ttl;
        bool over = ctx->cfg.cache_quota > 0 && total > (uint64_t)ctx->cfg.cache_quota;
        if (peer_task_is_active(ctx, st->id))
            continue;
        if (!expired && !over) {
            /* Rows this process did not write (the first pass runs before anything is
             * served), or whose file changed, lose their trust here. */
            if (!peer_task_cache_check(ctx, st) && st->state == STORE_TASK_DONE &&
                ctx->swarm != NULL)
                ctx->swarm->forget(ctx, st->id);
            continue;
        }
        if (peer_task_drop_storage(ctx, st->id) == 0) {
            if (ctx->swarm != NULL)
                ctx->swarm->forget(ctx, st->id);
            total -= st->bytes < total ? st->bytes : total;
            log_info("%s: evicted task %.12s (%" PRIu64 " bytes, %s)", PEER_TAG(ctx), st->id,
                     st->bytes, expired ? "ttl" : "quota");
        }
    }
    store_task_list_free(list, n);
}

cJSON *
peer_task_stat(struct peer *ctx, const char *task_id)
{
    struct peer_task *t = peer_task_find(ctx, task_id);
    struct proto_dfdaemon_task pt;
    struct store_task st;
    char state[16];
    cJSON *o;

    memset(&pt, 0, sizeof(pt)); /* strings borrowed: pt is never reset */
    if (t != NULL) {
        pt.id = t->id;
        snprintf(state, sizeof(state), "%s", peer_task_state_names[t->state]);
        pt.state = state;
        pt.content_length = t->content_length;
        pt.piece_length = t->piece_length;
        pt.piece_count = t->piece_count;
        pt.has_finished_pieces = true;
        pt.finished_pieces = t->done_pieces;
        pt.has_bytes_from_source = true;
        pt.bytes_from_source = t->bytes_from_source;
        return proto_dfdaemon_task_to_json(&pt);
    }
    memset(&st, 0, sizeof(st));
    if (store_task_get(ctx->db, task_id, &st) != 0)
        return NULL;
    pt.id = st.id;
    snprintf(state, sizeof(state), "%s",
             st.state == STORE_TASK_DONE     ? "DONE"
             : st.state == STORE_TASK_FAILED ? "FAILED"
                                             : "PARTIAL");
    pt.state = state;
    pt.content_length = st.content_length;
    pt.piece_length = st.piece_length;
    pt.piece_count = st.piece_count;
    pt.has_finished_bytes = true;
    pt.finished_bytes = st.bytes;
    o = proto_dfdaemon_task_to_json(&pt);
    store_task_reset(&st);
    return o;
}
