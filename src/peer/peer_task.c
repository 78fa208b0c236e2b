/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tasks: one per task id, shared by every `get` of the same content. A task learns the
 * content length from the origin (GET Range: bytes=0-0), then fetches missing pieces with
 * ranged GETs on up to `concurrency` connections, writing each body straight to the task's
 * sparse data file while hashing it; a piece is recorded only once all its bytes are written
 * and hashed. An origin that ignores ranges or gives no length is streamed from offset 0 in
 * one response instead. A waiting download with an output (a descriptor its local caller
 * passed: the caller's own temp file or stdout) gets the verified prefix of the content
 * copied into it, in order, on workers, while the rest arrives; it is answered once all of
 * it is in and the optional whole-content digest matched. The peer never links, creates or
 * renames anything outside its data dir, so nothing a user does to an output reaches the
 * cache.
 *
 *   PROBING --(length known, ranges work)--> RUNNING --(all pieces)--> DONE
 *      |  \---(no ranges / no length)-----> STREAMING --(end)------> DONE
 *      +--------------(permanent failure or retries exhausted)-----> FAILED
 *
 * peer_task_set_state() is the only writer of the state. DONE and FAILED tasks stay in the
 * list only while they still have waiters being served.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_time.h"
#include "df/df_url.h"
#include "df/df_work.h"
#include "df/log.h"
#include "df/proto_dfdaemon.h"
#include "df/net_backoff.h"
#include "df/rpc_server.h"
#include "df/store_data.h"
#include "df/store_db.h"
#include "df/store_piece.h"
#include "df/store_task.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"

#define PEER_TASK_STREAM_PIECE (UINT64_C(4) << 20) /* piece length when the length is unknown */
#define PEER_TASK_WRITE_CHUNK  (256 * 1024)
#define PEER_TASK_WRITE_BATCH  (256 * 1024)
#define PEER_TASK_IOV          64
#define PEER_TASK_RECHECKS     4 /* re-check jobs at once: each is a thread hashing a piece */

/* Installed on a call before finishing it: the waiter is gone. */
static const struct rpc_call_cbs peer_no_cbs;

static const char *const peer_task_state_names[] = {"PROBING", "RUNNING", "STREAMING",
                                                    "DONE",    "FAILED",  "P2P"};

static void peer_task_fetch_next(struct peer_fetch *f);

static void peer_task_probe(struct peer_task *t);
static void peer_waiter_materialize(struct peer_waiter *w);
static void peer_task_maybe_free(struct peer_task *t);

enum peer_hash_kind {
    PEER_HASH_SOURCE,  /* a piece fetched from the source: its hash is recorded */
    PEER_HASH_RECHECK, /* a piece recorded before: its hash must equal the recorded digest */
    PEER_HASH_SEAL,    /* a DONE task: fsync the data file, then seal the rows to its stamp */
};

static int peer_task_hash_submit(struct peer_task *t, enum peer_hash_kind kind, uint64_t number,
                                 uint64_t off, uint64_t len, const uint8_t *want);
static void peer_task_hash_orphan(struct peer_task *t);
static int peer_task_stream_piece_done(struct peer_fetch *f);

static void
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
    log_debug("peer", "%s: task %.12s %s -> %s (line %d)", PEER_TAG(t->ctx), t->id,
              peer_task_state_names[t->state], peer_task_state_names[s], line);
    t->state = s;
}

#define PEER_TASK_SET_STATE(t, s) peer_task_set_state((t), (s), __LINE__)

/* ---------------------------------------------------------------- clocks */

static int64_t
peer_task_wall_ms(const struct peer *ctx)
{
    return ctx->clock != NULL ? ctx->clock->wall_ms(ctx->clock->arg) : df_time_wall_ms();
}

static uint64_t
peer_task_mono_ns(const struct peer *ctx)
{
    return ctx->clock != NULL ? ctx->clock->mono_ns(ctx->clock->arg) : df_time_mono_ns();
}

/* ---------------------------------------------------------------- listeners and the swarm */

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
    for (uint64_t k = 0; k < t->piece_count; k++) {
        uint64_t i = (t->next_scan + k) % t->piece_count;
        if (t->have[i] || t->busy[i] || (want != NULL && !want(i, arg)))
            continue;
        t->next_scan = i + 1;
        t->busy[i] = 1;
        *number = i;
        return true;
    }
    return false;
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

static void
peer_task_swarm_source_started(struct peer_task *t)
{
    if (t->ctx->swarm != NULL)
        t->ctx->swarm->source_started(t);
}

/* ---------------------------------------------------------------- waiters and outputs */

/* An answer of kind for w's task (hostId, taskId filled; strings borrowed from the task). */
static struct proto_dfdaemon_download_resp
peer_waiter_resp(struct peer_waiter *w, enum proto_dfdaemon_download_resp_kind kind)
{
    struct peer_task *t = w->task;
    struct proto_dfdaemon_download_resp r = {.kind = kind};

    r.host_id = t->ctx->host_id;
    r.task_id = t->id;
    r.has_content_length = t->length_known;
    r.content_length = t->content_length;
    r.piece_length = t->piece_length;
    r.piece_count = t->piece_count;
    r.finished_pieces = t->done_pieces;
    r.finished_bytes = t->done_bytes;
    r.bytes_from_source = t->bytes_from_source;
    return r;
}

/* Send r on w's call, if it is still there. r's strings are borrowed: it is never reset. */
static void
peer_waiter_send(struct peer_waiter *w, const struct proto_dfdaemon_download_resp *r)
{
    cJSON *msg;

    if (w->call == NULL)
        return;
    if ((msg = proto_dfdaemon_download_resp_to_json(r)) == NULL) {
        log_warnx("%s: task %.12s: answer dropped (out of memory)", PEER_TAG(w->task->ctx),
                  w->task->id);
        return;
    }
    rpc_call_send(w->call, msg); /* progress may be dropped when the queue is full */
    cJSON_Delete(msg);
}

static void
peer_waiter_started(struct peer_waiter *w)
{
    struct proto_dfdaemon_download_resp r = peer_waiter_resp(w, PROTO_DOWNLOAD_STARTED);

    peer_waiter_send(w, &r);
}

static void
peer_task_progress(struct peer_task *t, bool force)
{
    struct peer_waiter *w;
    uint64_t now = peer_task_mono_ns(t->ctx);

    TAILQ_FOREACH (w, &t->waiters, entry) {
        struct proto_dfdaemon_download_resp r;
        if (w->call == NULL || (!force && now - w->last_progress_ns < 100000000u))
            continue;
        w->last_progress_ns = now;
        r = peer_waiter_resp(w, PROTO_DOWNLOAD_PROGRESS);
        peer_waiter_send(w, &r);
    }
}

static void
peer_waiter_free(struct peer_waiter *w)
{
    peer_download_req_reset(&w->req);
    if (w->out_fd != -1)
        close(w->out_fd);
    free(w);
}

/* Stop writing w's output: a running job ends at its next chunk, and the descriptor is
 * closed once no job uses it. */
static void
peer_waiter_output_stop(struct peer_waiter *w)
{
    atomic_store(&w->out_stop, true);
    if (!w->out_busy && w->out_fd != -1) {
        close(w->out_fd);
        w->out_fd = -1;
    }
}

static void
peer_waiter_call_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    struct peer_waiter *w = arg;

    (void)call;
    (void)why;
    w->call = NULL; /* the task goes on for the cache; the output is not written */
    peer_waiter_output_stop(w);
}

/* Hash the whole data file (worker thread). */
static int
peer_waiter_check_digest(struct peer_waiter *w)
{
    struct df_sha256 sha;
    struct df_digest got;
    uint8_t md[DF_SHA256_LEN], *buf;
    ssize_t n;
    int fd = open(w->data_path, O_RDONLY | O_CLOEXEC);
    char want_s[DF_DIGEST_STR_LEN + 1], got_s[DF_DIGEST_STR_LEN + 1];

    if (fd == -1) {
        snprintf(w->why, sizeof(w->why), "open cache file: %s", strerror(errno));
        return DF_EIO;
    }
    buf = xmalloc(1 << 20);
    df_sha256_init(&sha);
    while ((n = read(fd, buf, 1 << 20)) > 0)
        df_sha256_update(&sha, buf, (size_t)n);
    free(buf);
    close(fd);
    if (n < 0) {
        snprintf(w->why, sizeof(w->why), "read cache file: %s", strerror(errno));
        return DF_EIO;
    }
    df_sha256_final(&sha, md);
    df_digest_set_sha256(&got, md);
    if (!df_digest_is_equal(&got, &w->req.digest)) {
        snprintf(w->why, sizeof(w->why), "digest mismatch: want %s, got %s",
                 df_digest_format(&w->req.digest, want_s), df_digest_format(&got, got_s));
        return DF_EDIGEST;
    }
    return 0;
}

/* How bytes move from the data file into an output, best first. */
enum peer_copy_mode {
    PEER_COPY_RANGE,    /* copy_file_range: regular files (a reflink where the fs can) */
    PEER_COPY_SPLICE,   /* splice into a pipe, never blocking the worker on a full pipe */
    PEER_COPY_SENDFILE, /* any other descriptor */
    PEER_COPY_RW,       /* pread + write, the last resort */
};

/* Write n bytes of buf to out, waiting (bounded by stop) while a non-blocking out is full. */
static ssize_t
peer_waiter_write_all(int out, const char *buf, size_t n, atomic_bool *stop)
{
    struct pollfd pfd = {.fd = out, .events = POLLOUT};
    size_t done = 0;
    ssize_t k;

    while (done < n) {
        if (atomic_load(stop)) {
            errno = ECANCELED;
            return -1;
        }
        k = write(out, buf + done, n - done);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
            poll(&pfd, 1, 200);
            continue;
        }
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return -1;
        }
        done += (size_t)k;
    }
    return (ssize_t)n;
}

/*
 * Worker thread: copy [off, end) of in to out at out's own file position (so `-O -` into a
 * file opened for append works too). A pipe whose reader stalls never pins the worker past
 * stop. Returns 0, or -1 with errno (ECANCELED when stopped, EIO when in is short).
 */
static int
peer_waiter_copy_range(int in, int out, off_t off, off_t end, atomic_bool *stop)
{
    struct pollfd pfd = {.fd = out, .events = POLLOUT};
    enum peer_copy_mode mode = PEER_COPY_SENDFILE;
    struct stat st;
    char *buf = NULL;
    ssize_t n;
    int rv = -1;

    if (fstat(out, &st) == 0 && S_ISREG(st.st_mode))
        mode = PEER_COPY_RANGE;
    else if (S_ISFIFO(st.st_mode))
        mode = PEER_COPY_SPLICE;
    while (off < end) {
        size_t rem = (size_t)(end - off), want;
        if (atomic_load(stop)) {
            errno = ECANCELED;
            goto out;
        }
        switch (mode) {
        case PEER_COPY_RANGE:
            want = rem < (64u << 20) ? rem : (64u << 20);
            n = copy_file_range(in, &off, out, NULL, want, 0);
            break;
        case PEER_COPY_SPLICE:
            want = rem < (1u << 20) ? rem : (1u << 20);
            n = splice(in, &off, out, NULL, want, SPLICE_F_NONBLOCK);
            break;
        case PEER_COPY_SENDFILE:
            want = rem < (1u << 20) ? rem : (1u << 20);
            n = sendfile(out, in, &off, want);
            break;
        default:
            want = rem < (1u << 20) ? rem : (1u << 20);
            if (buf == NULL)
                buf = xmalloc(1u << 20);
            if ((n = pread(in, buf, want, off)) > 0 &&
                (n = peer_waiter_write_all(out, buf, (size_t)n, stop)) > 0)
                off += n;
            break;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            poll(&pfd, 1, 200);
            continue;
        }
        if (n < 0 && mode != PEER_COPY_RW &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
             errno == EPERM || errno == EBADF)) {
            /* This pair cannot do it: try the next way (EBADF: out opened O_APPEND). */
            mode = mode == PEER_COPY_SENDFILE ? PEER_COPY_RW : PEER_COPY_SENDFILE;
            continue;
        }
        if (n == 0)
            errno = EIO; /* the data file is shorter than it was */
        if (n <= 0)
            goto out;
    }
    rv = 0;
out:
    free(buf);
    return rv;
}

/* Worker thread: the next stretch of the output, then (last job) the digest check. */
static void
peer_waiter_output_work(void *arg)
{
    struct peer_waiter *w = arg;
    int in = -1;

    w->rv = 0;
    if (w->job_end > w->out_done) {
        if ((in = open(w->data_path, O_RDONLY | O_CLOEXEC)) == -1) {
            snprintf(w->why, sizeof(w->why), "read cache file: %s", strerror(errno));
            w->rv = DF_EIO;
            return;
        }
        if (peer_waiter_copy_range(in, w->out_fd, (off_t)w->out_done, (off_t)w->job_end,
                                   &w->out_stop) != 0) {
            snprintf(w->why, sizeof(w->why), "output: %s", strerror(errno));
            w->rv = errno == ENOSPC ? DF_ENOSPC : DF_EIO;
            close(in);
            return;
        }
        close(in);
    }
    if (w->job_final && w->req.has_digest)
        w->rv = peer_waiter_check_digest(w);
}

/* Answer w's call (output complete, or failed with w->rv) and drop w. */
static void
peer_waiter_finish(struct peer_waiter *w)
{
    struct peer_task *t = w->task;
    struct proto_dfdaemon_download_from from[PEER_P2P_MAX_FROM];
    struct proto_dfdaemon_download_resp r;

    TAILQ_REMOVE(&t->waiters, w, entry);
    if (w->call != NULL) {
        if (w->rv == 0) {
            r = peer_waiter_resp(w, PROTO_DOWNLOAD_FINISHED);
            r.has_content_length = true;
            r.from = from;
            r.nfrom = t->ctx->swarm != NULL ? t->ctx->swarm->bytes_from(t, from) : 0;
            r.has_output_bytes = w->out_fd != -1;
            r.output_bytes = w->out_done;
            peer_waiter_send(w, &r);
            rpc_call_set_cbs(w->call, &peer_no_cbs, NULL);
            rpc_call_finish(w->call, RPC_OK, NULL);
        } else {
            log_warnx("%s: task %.12s output: %s", PEER_TAG(t->ctx), t->id, w->why);
            rpc_call_set_cbs(w->call, &peer_no_cbs, NULL);
            rpc_call_finish(w->call, rpc_err_from_df(w->rv), w->why);
        }
    }
    peer_waiter_free(w);
}

/* The end of the content verified without a gap from byte `from` on. */
static uint64_t
peer_task_verified_end(const struct peer_task *t, uint64_t from)
{
    uint64_t k, end;

    if (t->state == PEER_TASK_DONE)
        return t->content_length;
    if (!t->length_known || t->have == NULL || t->piece_length == 0)
        return from;
    for (k = from / t->piece_length; k < t->piece_count && t->have[k]; k++)
        ;
    end = k * t->piece_length < t->content_length ? k * t->piece_length : t->content_length;
    return end > from ? end : from;
}

static void peer_waiter_output_done(void *arg);

/*
 * Move w's output on: start a job for what was verified since the last one, or finish w
 * once the whole content is in and checked. Returns -1 when w is gone (freed).
 */
static int
peer_waiter_output_kick(struct peer_waiter *w)
{
    struct peer_task *t = w->task;
    uint64_t end;

    if (w->out_busy || w->out_fd == -1 || w->call == NULL)
        return 0;
    end = peer_task_verified_end(t, w->out_done);
    w->job_final = t->state == PEER_TASK_DONE;
    if (end == w->out_done && !w->job_final)
        return 0;
    if (end == w->out_done && !w->req.has_digest) {
        w->rv = 0;
        peer_waiter_finish(w);
        return -1;
    }
    w->job_end = end;
    store_data_path(t->ctx->cfg.data_dir, t->id, w->data_path, sizeof(w->data_path));
    if (df_work_submit(t->ctx->out_pool, peer_waiter_output_work, peer_waiter_output_done, w) !=
        0) {
        w->rv = DF_ENOMEM;
        snprintf(w->why, sizeof(w->why), "cannot start a worker thread");
        peer_waiter_finish(w);
        return -1;
    }
    w->out_busy = true;
    t->materializing++;
    return 0;
}

/* t's content is wrong: drop its rows and data file and stop offering it. t stays in
 * memory while its other waiters end, but is never found again. */
static void
peer_task_evict(struct peer_task *t)
{
    if (t->evicted)
        return;
    t->evicted = true;
    t->hold_pending = false;
    if (t->ctx->swarm != NULL)
        t->ctx->swarm->evict(t);
    if (peer_task_drop_storage(t->ctx, t->id) == 0)
        log_info("%s: task %.12s evicted: its content failed a whole-content digest",
                 PEER_TAG(t->ctx), t->id);
}

static void
peer_waiter_why_append(struct peer_waiter *w, const char *more)
{
    size_t n = strlen(w->why);

    snprintf(w->why + n, sizeof(w->why) - n, "%s", more);
}

/*
 * w's whole content failed its digest: the cached copy is wrong (poisoned, or the origin
 * changed since). Evict the task, so that nothing serves or offers it again, and fetch it
 * once more from the origin alone (not from peers, which may hold the same bytes), with w's
 * output restarted from byte 0. A second mismatch, or an output that cannot be restarted
 * (standard output), fails w. w is answered, or moved to the new task.
 */
static void
peer_waiter_refetch(struct peer_waiter *w)
{
    struct peer_task *t = w->task, *nt;
    struct peer *ctx = t->ctx;
    char *canonical = NULL;
    struct df_error err;

    peer_task_evict(t);
    if (w->refetched) {
        peer_waiter_why_append(w, " (fetched again from the origin)");
        peer_waiter_finish(w);
        return;
    }
    if (!w->req.output_rewind) {
        peer_waiter_why_append(w, "; the cached copy is dropped, but the output (standard "
                                  "output) cannot be restarted: run the get again");
        peer_waiter_finish(w);
        return;
    }
    if (lseek(w->out_fd, 0, SEEK_SET) != 0 || ftruncate(w->out_fd, 0) != 0) {
        peer_waiter_why_append(w, "; the output cannot be restarted: ");
        peer_waiter_why_append(w, strerror(errno));
        peer_waiter_finish(w);
        return;
    }
    if (df_url_canonical_new(w->req.url, w->req.filtered, DF_URL_CANON_SORT, &canonical, &err) !=
        0) {
        w->rv = DF_EINVAL;
        snprintf(w->why, sizeof(w->why), "%s", err.msg);
        peer_waiter_finish(w);
        return;
    }
    log_warnx("%s: task %.12s: %s; fetching it again from the origin", PEER_TAG(ctx), t->id,
              w->why);
    TAILQ_REMOVE(&t->waiters, w, entry);
    w->refetched = true;
    w->out_done = 0;
    w->rv = 0;
    w->why[0] = '\0';
    /* A get that came after the eviction may have started the task again: share it. */
    if ((nt = peer_task_find(ctx, t->id)) != NULL && nt->state != PEER_TASK_FAILED) {
        w->task = nt;
        TAILQ_INSERT_TAIL(&nt->waiters, w, entry);
        if (nt->state == PEER_TASK_DONE)
            peer_waiter_materialize(w);
        free(canonical);
        return;
    }
    nt = peer_task_new(ctx, t->id, canonical, &w->req);
    free(canonical);
    nt->hold_pending = true;
    w->task = nt;
    TAILQ_INSERT_TAIL(&nt->waiters, w, entry);
    peer_task_back_to_source(nt);
}

static void
peer_waiter_output_done(void *arg)
{
    struct peer_waiter *w = arg;
    struct peer_task *t = w->task;

    w->out_busy = false;
    t->materializing--;
    if (w->rv == 0)
        w->out_done = w->job_end;
    if (w->call == NULL || t->state == PEER_TASK_FAILED) {
        /* Answered already (the task failed) or nobody is listening. */
        TAILQ_REMOVE(&t->waiters, w, entry);
        peer_waiter_free(w);
    } else if (w->rv == DF_EDIGEST && w->job_final) {
        peer_waiter_refetch(w);
    } else if (w->rv != 0 || w->job_final) {
        if (w->rv == 0 && t->hold_pending) {
            /* verified whole: now the swarm may have it */
            t->hold_pending = false;
            if (t->ctx->swarm != NULL)
                t->ctx->swarm->hold(t->ctx, &w->req, t->id, t->content_length, t->piece_length,
                                    t->piece_count);
        }
        peer_waiter_finish(w);
    } else
        peer_waiter_output_kick(w);
    peer_task_maybe_free(t);
}

/* More of t is verified (or all of it): outputs follow. */
static void
peer_task_outputs_kick(struct peer_task *t)
{
    struct peer_waiter *w, *next;

    for (w = TAILQ_FIRST(&t->waiters); w != NULL; w = next) {
        next = TAILQ_NEXT(w, entry);
        peer_waiter_output_kick(w);
    }
}

/* The task is DONE: a cache-only waiter is answered now, an output once it is written. */
static void
peer_waiter_materialize(struct peer_waiter *w)
{
    if (w->out_busy)
        return; /* its job's completion goes on from here */
    if (w->out_fd == -1 || w->call == NULL) {
        /* Into the cache only (a seed peer triggered by the scheduler), or the get is gone. */
        w->rv = 0;
        peer_waiter_finish(w);
        return;
    }
    peer_waiter_output_kick(w);
}

/* ---------------------------------------------------------------- task lifetime */

static void
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

static void
peer_task_maybe_free(struct peer_task *t)
{
    if ((t->state == PEER_TASK_DONE || t->state == PEER_TASK_FAILED) && TAILQ_EMPTY(&t->waiters) &&
        t->materializing == 0 && TAILQ_EMPTY(&t->hashing))
        peer_task_free(t);
}

void
peer_task_fail(struct peer_task *t, int rv, const char *why)
{
    struct peer_waiter *w, *next;

    if (t->state == PEER_TASK_DONE || t->state == PEER_TASK_FAILED)
        return;
    if (why != t->why)
        snprintf(t->why, sizeof(t->why), "%s", why);
    why = t->why;
    log_warnx("%s: task %.12s failed: %s", PEER_TAG(t->ctx), t->id, why);
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
        log_warnx("%s: task %.12s: cannot start a worker to seal it; it will be re-checked "
                  "on its next use",
                  PEER_TAG(t->ctx), t->id);
    PEER_TASK_SET_STATE(t, PEER_TASK_DONE);
    t->ctx->tasks_done++;
    peer_task_tell_done(t);
    log_info("%s: task %.12s done: %" PRIu64 " bytes, %" PRIu64 " pieces, %" PRIu64
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
static void
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

/* Restart w's output from byte 0 (the content is fetched again); -1 when it cannot. */
static int
peer_waiter_output_rewind(struct peer_waiter *w)
{
    if (w->out_done == 0 && !w->out_busy)
        return 0;
    if (w->out_busy || !w->req.output_rewind || lseek(w->out_fd, 0, SEEK_SET) != 0 ||
        ftruncate(w->out_fd, 0) != 0)
        return -1;
    w->out_done = 0;
    return 0;
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
    log_info("%s: task %.12s: pieces dropped; fetching them again", PEER_TAG(t->ctx), t->id);
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
            log_warnx("%s: task %.12s: its data file was missing: %" PRIu64
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
            log_info("%s: task %.12s: %s: re-checking its %" PRIu64 " recorded bytes",
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

/* Start the next queued re-checks, up to PEER_TASK_RECHECKS at once. 0 or DF_ENOMEM. */
static int
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
        log_info("%s: task %.12s: %" PRIu64 " of %zu re-checked pieces failed and are fetched "
                 "again",
                 PEER_TAG(t->ctx), t->id, t->recheck_failed, t->nrecheck);
        DF_FREE(t->recheck, free);
        t->nrecheck = t->recheck_next = 0;
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
        log_info("%s: task %.12s resumes with %" PRIu64 "/%" PRIu64 " pieces, %" PRIu64
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
        log_info("%s: task %.12s: geometry %" PRIu64 "/%" PRIu64 " -> %" PRIu64 "/%" PRIu64
                 "; pieces start over",
                 PEER_TAG(t->ctx), t->id, t->content_length, t->piece_length, length, piece_length);
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

/* ---------------------------------------------------------------- writing bodies */

/* A write to the data file failed (errno set): fail the task rather than retry the origin. */
static int
peer_task_disk_error(struct peer_task *t, const char *what)
{
    int e = errno;

    snprintf(t->why, sizeof(t->why), "%s: %s", what, strerror(e));
    t->disk_failed = true;
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
                return peer_task_disk_error(t, "write cache file");
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
        n = evbuffer_peek(data, (ev_ssize_t)take, NULL, vec, PEER_TASK_IOV);
        if (n > PEER_TASK_IOV) {
            n = PEER_TASK_IOV;
            take = 0;
            for (int i = 0; i < n; i++)
                take += vec[i].iov_len;
        }
        if (f->pos + take > f->len) {
            snprintf(t->why, sizeof(t->why), "origin sent more than the asked range");
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
            return peer_task_disk_error(t, "write cache file");
        }
        f->pos += take;
        evbuffer_drain(data, take);
        t->bytes_from_source += take;
        ctx->bytes_from_source += take;
        len -= take;
    }
    return 0;
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

/* ---------------------------------------------------------------- piece fetches */

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
peer_task_fetch_init(struct peer_fetch *f, struct peer_task *t)
{
    memset(f, 0, sizeof(*f));
    f->task = t;
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
    log_info("%s: task %.12s piece %" PRIu64 ": %s; retry %u in %" PRIu64 " ms", PEER_TAG(t->ctx),
             t->id, f->piece, why, f->attempt, delay);
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
    if (rv == 0 && f->pos != f->len) {
        rv = DF_EPROTO;
        why = "origin body shorter than the asked range";
    }
    if (rv != 0) {
        char msg[sizeof(t->why)];

        t->busy[f->piece] = 0;
        if (t->why[0] != '\0' &&
            (rv == DF_EDIGEST || rv == DF_EPROTO || rv == DF_EIO || rv == DF_ENOSPC))
            why = t->why;
        /* A different version of the content is never retried into the same task, and a
         * disk that failed a write will not take the retry either. */
        if (rv == DF_EDIGEST || t->disk_failed) {
            peer_task_fail(t, rv, why);
            return;
        }
        snprintf(msg, sizeof(msg), "%s", why);
        t->why[0] = '\0';
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

/* ---------------------------------------------------------------- piece hashes */

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
};

/* Worker thread. */
static void
peer_task_hash_work(void *arg)
{
    struct peer_hash_job *j = arg;
    int rv;

    errno = 0;
    if (j->kind == PEER_HASH_SEAL)
        rv = store_data_seal(j->fd, &j->stamp);
    else
        rv = store_data_hash(j->fd, j->off, j->len, j->md);
    if (rv != 0)
        j->err = errno != 0 ? errno : EIO;
}

/* Start fetching missing pieces again: a re-check dropped one. */
static void
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
        log_warnx("%s: task %.12s piece %" PRIu64 " failed its re-check (%s); fetching it "
                  "again",
                  PEER_TAG(j->ctx), t->id, j->number,
                  j->err != 0 ? strerror(j->err) : "digest mismatch");
    else
        log_debug("peer", "%s: task %.12s piece %" PRIu64 " failed its re-check (%s)",
                  PEER_TAG(j->ctx), t->id, j->number,
                  j->err != 0 ? strerror(j->err) : "digest mismatch");
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

/* Hash (or seal) piece number of t from its data file on a worker; 0 or DF_ENOMEM. */
static int
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
    if (df_work_submit(t->ctx->hash_pool, peer_task_hash_work, peer_task_hash_done, j) != 0) {
        TAILQ_REMOVE(&t->hashing, j, entry);
        close(j->fd);
        free(j);
        return DF_ENOMEM;
    }
    return 0;
}

/* The task goes away (shutdown): its jobs finish on their own. */
static void
peer_task_hash_orphan(struct peer_task *t)
{
    struct peer_hash_job *j;

    while ((j = TAILQ_FIRST(&t->hashing)) != NULL) {
        TAILQ_REMOVE(&t->hashing, j, entry);
        j->task = NULL;
    }
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
    req.end = f->off + f->len - 1;
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

/* ---------------------------------------------------------------- probe and stream */

static int
peer_probe_on_head(struct net_fetch *s, const struct net_fetch_meta *m, void *arg)
{
    struct peer_task *t = arg;
    struct peer_fetch *f = &t->fetch[0];
    struct peer_waiter *w;
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
        log_info("%s: task %.12s changed at the origin; cached pieces dropped", PEER_TAG(t->ctx),
                 t->id);
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
        TAILQ_FOREACH (w, &t->waiters, entry)
            peer_waiter_started(w);
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
    TAILQ_FOREACH (w, &t->waiters, entry)
        peer_waiter_started(w);
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
    if (rv != 0 && t->why[0] != '\0' &&
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
        t->why[0] = '\0';
    }
    delay = net_backoff_delay_ms(&b, t->probe_attempt % 100, retry_after_ms, (uint64_t)random());
    t->probe_attempt++;
    log_info("%s: task %.12s: %s; retry in %" PRIu64 " ms", PEER_TAG(t->ctx), t->id, msg, delay);
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
}

/* ---------------------------------------------------------------- entry points */

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
        peer_task_fetch_init(&t->fetch[i], t);
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

/* A finished task in the cache: serve the output with no origin traffic. */
static bool
peer_task_from_cache(struct peer *ctx, const char *id, struct peer_waiter *w)
{
    struct store_task st;
    struct peer_task *t;
    char path[PATH_MAX];
    struct stat sb;

    memset(&st, 0, sizeof(st));
    if (store_task_get(ctx->db, id, &st) != 0)
        return false;
    if (!peer_task_cache_check(ctx, &st) ||
        store_data_path(ctx->cfg.data_dir, id, path, sizeof(path)) != 0 || stat(path, &sb) != 0) {
        store_task_reset(&st);
        return false;
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
        return false;
    }
    store_task_touch(ctx->db, id, peer_task_wall_ms(ctx));
    ctx->cache_hits++;
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
    w->task = t;
    TAILQ_INSERT_TAIL(&t->waiters, w, entry);
    peer_waiter_started(w);
    log_info("%s: task %.12s served from the cache", PEER_TAG(ctx), id);
    /* A digest-checked get offers the content to the swarm only once it passed. */
    if (w->req.has_digest)
        t->hold_pending = true;
    else if (ctx->swarm != NULL)
        ctx->swarm->hold(ctx, &w->req, id, t->content_length, t->piece_length, t->piece_count);
    peer_waiter_materialize(w);
    return true;
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
    struct df_id_task_params p;
    struct df_error err;
    char id[DF_ID_TASK_LEN + 1], *canonical = NULL;
    struct peer_waiter *w;
    struct peer_task *t;
    int rv;

    memset(&p, 0, sizeof(p));
    p.url = req->url;
    p.tag = req->tag;
    p.application = req->application;
    p.filtered_query_params = req->filtered;
    p.url_flags = DF_URL_CANON_SORT;
    if ((rv = df_id_task(&p, id, &err)) != 0 ||
        (rv = df_url_canonical_new(req->url, req->filtered, DF_URL_CANON_SORT, &canonical, &err)) !=
                0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        peer_download_req_reset(req);
        if (out_fd != -1)
            close(out_fd);
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->out_fd = out_fd;
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
    log_info("%s: task %.12s new", PEER_TAG(ctx), t->id);
    if (ctx->swarm == NULL || ctx->swarm->start(t) != 0)
        peer_task_back_to_source(t);
}

/*
 * Shutdown of a task still downloading while outputs are being written: stop fetching,
 * answer its gets and end their jobs early. The task is freed by the next
 * peer_task_shutdown() once the jobs are done.
 */
static void
peer_task_stop_outputs(struct peer_task *t)
{
    struct peer_waiter *w;

    peer_task_stop_fetches(t);
    TAILQ_FOREACH (w, &t->waiters, entry) {
        if (w->call != NULL) {
            rpc_call_set_cbs(w->call, &peer_no_cbs, NULL);
            rpc_call_finish(w->call, RPC_UNAVAILABLE, "peer is shutting down");
            w->call = NULL;
        }
        peer_waiter_output_stop(w);
    }
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
