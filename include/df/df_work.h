/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking work off the loop: hashing a piece, copying an output, fsync. A pool belongs to
 * one event_base; a job runs work(arg) on one of at most max_threads threads (started when
 * needed, kept until the pool is freed; jobs beyond that wait in order) and then done(arg)
 * on the pool's loop. Only done may touch loop-owned objects.
 */
#ifndef DF_DF_WORK_H
#define DF_DF_WORK_H

struct event_base;
struct df_work_pool;

typedef void df_work_fn(void *arg);

/* Make libevent thread-aware; call once at startup before creating the event_base. */
void df_work_init(void);

/* A pool of at most max_threads (>= 1) threads for base's loop, or NULL (out of memory). */
struct df_work_pool *df_work_pool_new(struct event_base *base, unsigned max_threads);

/*
 * Free p: waits for the running jobs' work and runs the queued jobs' work (none of their
 * done callbacks: the loop is over), then joins the threads. NULL is a no-op.
 */
void df_work_pool_free(struct df_work_pool *p);

/* Queue work(arg), then done(arg) on the loop. Returns 0 or DF_ENOMEM (nothing queued). */
int df_work_submit(struct df_work_pool *p, df_work_fn *work, df_work_fn *done, void *arg);

/*
 * From inside a work function: take the first queued job of this pool whose work is
 * `work` and return its arg (NULL when there is none, or when not called on a worker). The
 * caller does that job's work itself, in its own; the job's done then runs as usual, right
 * after the caller's. Lets a job batch queued work that runs faster together.
 */
void *df_work_take(df_work_fn *work);

/* Jobs submitted whose done has not run yet. */
unsigned df_work_pending(const struct df_work_pool *p);

/* The processors this process may run on (at least 1). */
unsigned df_work_ncpu(void);

#endif
