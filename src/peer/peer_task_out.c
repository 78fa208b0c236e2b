/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A task's waiters (the gets) and their outputs. A waiting download with an output (a
 * descriptor its local caller passed: the caller's own temp file or stdout) gets the
 * content copied into it on workers while the rest arrives (each verified piece at its
 * offset into a temp file, the verified prefix in order into anything else); it is answered
 * once all of it is in and the optional whole-content digest matched. The peer never links,
 * creates or renames anything outside its data dir, so nothing a user does to an output
 * reaches the cache.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_url.h"
#include "df/df_work.h"
#include "df/log.h"
#include "df/proto_dfdaemon.h"
#include "df/rpc_server.h"
#include "df/store_data.h"
#include "df/store_task.h"
#include "df/xmalloc.h"
#include "peer.h"
#include "peer_task.h"
#include "peer_task_int.h"

static void peer_waiter_output_done(void *arg);

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
        PEER_TASK_LOG(w->task, LOG_LEVEL_WARN, NULL,
                      "%s: task %.12s: answer dropped (out of memory)", PEER_TAG(w->task->ctx),
                      w->task->id);
        return;
    }
    rpc_call_send(w->call, msg); /* progress may be dropped when the queue is full */
    cJSON_Delete(msg);
}

void
peer_waiter_started(struct peer_waiter *w)
{
    struct proto_dfdaemon_download_resp r = peer_waiter_resp(w, PROTO_DOWNLOAD_STARTED);

    peer_waiter_send(w, &r);
}

void
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

void
peer_waiter_free(struct peer_waiter *w)
{
    free(w->out_taken);
    peer_download_req_reset(&w->req);
    if (w->out_fd != -1)
        close(w->out_fd);
    free(w);
}

/* Stop writing w's output: a running job ends at its next chunk, and the descriptor is
 * closed once no job uses it. */
void
peer_waiter_output_stop(struct peer_waiter *w)
{
    atomic_store(&w->out_stop, true);
    if (!w->out_busy && w->out_fd != -1) {
        close(w->out_fd);
        w->out_fd = -1;
    }
}

void
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

/* Worker thread: the job's stretches of the output, then (last job) the digest check. */
static void
peer_waiter_output_work(void *arg)
{
    struct peer_waiter *w = arg;
    int in = -1;

    w->rv = 0;
    if (w->job_nruns > 0 && (in = open(w->data_path, O_RDONLY | O_CLOEXEC)) == -1) {
        snprintf(w->why, sizeof(w->why), "read cache file: %s", strerror(errno));
        w->rv = DF_EIO;
        return;
    }
    for (unsigned i = 0; i < w->job_nruns; i++) {
        const struct peer_out_run *r = &w->job_runs[i];
        if ((w->out_seek && lseek(w->out_fd, (off_t)r->off, SEEK_SET) == -1) ||
            peer_waiter_copy_range(in, w->out_fd, (off_t)r->off, (off_t)r->end, &w->out_stop) !=
                    0) {
            snprintf(w->why, sizeof(w->why), "output: %s", strerror(errno));
            w->rv = errno == ENOSPC ? DF_ENOSPC : DF_EIO;
            close(in);
            return;
        }
    }
    if (in != -1)
        close(in);
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
            PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL, "%s: task %.12s output: %s", PEER_TAG(t->ctx),
                          t->id, w->why);
            rpc_call_set_cbs(w->call, &peer_no_cbs, NULL);
            rpc_call_finish(w->call, rpc_err_from_df(w->rv), w->why);
        }
    }
    peer_waiter_free(w);
}

uint64_t
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

/* Add [off, end) to w's next job; false when the job has no room for another run. */
static bool
peer_waiter_run_add(struct peer_waiter *w, uint64_t off, uint64_t end)
{
    struct peer_out_run *last = w->job_nruns > 0 ? &w->job_runs[w->job_nruns - 1] : NULL;

    if (last != NULL && last->end == off)
        last->end = end;
    else if (w->job_nruns < PEER_OUTPUT_RUNS)
        w->job_runs[w->job_nruns++] = (struct peer_out_run){off, end};
    else
        return false;
    w->job_bytes += end - off;
    return true;
}

/*
 * The stretches of w's next job: the verified pieces not taken yet (out_seek), or the
 * verified prefix after out_done. Returns true when they are all of the content still to
 * be written and the task is done (the job is the last).
 */
static bool
peer_waiter_runs(struct peer_waiter *w)
{
    struct peer_task *t = w->task;
    bool done = t->state == PEER_TASK_DONE;
    uint64_t k, off, len, end;

    w->job_nruns = 0;
    w->job_bytes = 0;
    if (!w->out_seek || !t->length_known || t->piece_length == 0) {
        end = peer_task_verified_end(t, w->out_done);
        if (end > w->out_done)
            peer_waiter_run_add(w, w->out_done, end);
        return done;
    }
    if (!done && t->have == NULL)
        return false;
    if (w->out_taken == NULL)
        w->out_taken = xcalloc(t->piece_count > 0 ? t->piece_count : 1, 1);
    while (w->out_scan < t->piece_count && w->out_taken[w->out_scan])
        w->out_scan++;
    for (k = w->out_scan; k < t->piece_count; k++) {
        if (w->out_taken[k] || (!done && !t->have[k]))
            continue;
        df_id_piece_range(t->content_length, t->piece_length, k, &off, &len);
        if (!peer_waiter_run_add(w, off, off + len))
            return false;
        w->out_taken[k] = 1;
    }
    return done;
}

/* Forget what w's output had: it starts over from nothing. */
static void
peer_waiter_output_reset(struct peer_waiter *w)
{
    w->out_done = 0;
    w->out_scan = 0;
    DF_FREE(w->out_taken, free);
}

/*
 * Move w's output on: start a job for what was verified since the last one, or finish w
 * once the whole content is in and checked. Returns -1 when w is gone (freed).
 */
static int
peer_waiter_output_kick(struct peer_waiter *w)
{
    struct peer_task *t = w->task;

    if (w->out_busy || w->out_fd == -1 || w->call == NULL)
        return 0;
    w->job_final = peer_waiter_runs(w);
    if (w->job_nruns == 0 && !w->job_final)
        return 0;
    if (w->job_nruns == 0 && !w->req.has_digest) {
        w->rv = 0;
        peer_waiter_finish(w);
        return -1;
    }
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

/* Drop t's rows and data file and stop offering it (why: for the log). t stays in memory
 * while its other waiters end, but is never found again; readers that opened the data file
 * keep their bytes (the file is unlinked, not truncated). */
static int
peer_task_evict_why(struct peer_task *t, const char *why)
{
    int rv;

    if (t->evicted)
        return 0;
    t->evicted = true;
    t->hold_pending = false;
    if (t->ctx->swarm != NULL)
        t->ctx->swarm->evict(t);
    if ((rv = peer_task_drop_storage(t->ctx, t->id)) == 0)
        PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL, "%s: task %.12s evicted: %s", PEER_TAG(t->ctx),
                      t->id, why);
    return rv;
}

/* t's content is wrong. */
static void
peer_task_evict(struct peer_task *t)
{
    (void)peer_task_evict_why(t, "its content failed a whole-content digest");
}

int
peer_task_delete(struct peer *ctx, const char *id, struct df_error *err)
{
    struct peer_task *t = peer_task_find(ctx, id);
    struct store_task st;
    int rv;

    /* A download in progress writes rows and pieces as they come: deleting under it would
     * leave rows for bytes that are gone, or a half task in the cache. It ends first. */
    if (t != NULL && t->state != PEER_TASK_DONE && t->state != PEER_TASK_FAILED)
        return df_error_set(err, DF_EAGAIN,
                            "task %.12s is being downloaded here; delete it once "
                            "it ends",
                            id);
    /* Done and still held (outputs being written, a get waiting): the eviction path, which
     * leaves the open readers their file. */
    if (t != NULL) {
        if ((rv = peer_task_evict_why(t, "deleted on request")) != 0)
            return df_error_set(err, rv, "task %.12s: cannot delete its rows: %s", id,
                                df_strerror(rv));
        return 0;
    }
    memset(&st, 0, sizeof(st));
    if ((rv = store_task_get(ctx->db, id, &st)) != 0)
        return df_error_set(err, rv,
                            rv == DF_ENOTFOUND ? "task %.12s is not in this peer's cache"
                                               : "task %.12s: cannot read it: %s",
                            id, df_strerror(rv));
    store_task_reset(&st);
    if ((rv = peer_task_drop_storage(ctx, id)) != 0)
        return df_error_set(err, rv, "task %.12s: cannot delete its rows: %s", id, df_strerror(rv));
    /* the scheduler hears that this peer left the task: it is no one's parent here now */
    if (ctx->swarm != NULL)
        ctx->swarm->forget(ctx, id);
    log_info("%s: task %.12s deleted on request", PEER_TAG(ctx), id);
    return 0;
}

void
peer_task_reject(struct peer_task *t, const char *why)
{
    if (!t->evicted)
        PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL, "%s: task %.12s: %s", PEER_TAG(t->ctx), t->id, why);
    peer_task_evict(t);
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
    PEER_TASK_LOG(t, LOG_LEVEL_WARN, NULL, "%s: task %.12s: %s; fetching it again from the origin",
                  PEER_TAG(ctx), t->id, w->why);
    TAILQ_REMOVE(&t->waiters, w, entry);
    w->refetched = true;
    peer_waiter_output_reset(w);
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
        w->out_done += w->job_bytes;
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
void
peer_task_outputs_kick(struct peer_task *t)
{
    struct peer_waiter *w, *next;

    for (w = TAILQ_FIRST(&t->waiters); w != NULL; w = next) {
        next = TAILQ_NEXT(w, entry);
        peer_waiter_output_kick(w);
    }
}

/* The task is DONE: a cache-only waiter is answered now, an output once it is written. */
void
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

/* Restart w's output from byte 0 (the content is fetched again); -1 when it cannot. */
int
peer_waiter_output_rewind(struct peer_waiter *w)
{
    if (w->out_busy)
        return -1;
    if (w->out_done > 0 && (!w->req.output_rewind || lseek(w->out_fd, 0, SEEK_SET) != 0 ||
                            ftruncate(w->out_fd, 0) != 0))
        return -1;
    peer_waiter_output_reset(w);
    return 0;
}

/*
 * Shutdown of a task still downloading while outputs are being written: stop fetching,
 * answer its gets and end their jobs early. The task is freed by the next
 * peer_task_shutdown() once the jobs are done.
 */
void
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
