/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Worker pools. Jobs wait in a FIFO under the pool's mutex; a thread is started on submit
 * when none is idle and the pool is below its bound, and then stays, sleeping on the
 * condition variable. A finished job moves to the done list and the worker activates the
 * pool's one event (libevent is made thread-aware by df_work_init), whose callback runs the
 * done callbacks on the loop thread in completion order. A running job may take queued
 * jobs of its own kind and do their work with its own (df_work_take); their done callbacks
 * follow its own.
 */
#include "df/df_work.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "df/df_err.h"
#include "df/xmalloc.h"

struct df_work_job {
    df_work_fn *work;
    df_work_fn *done;
    void *arg;
    STAILQ_ENTRY(df_work_job) entry;
};

STAILQ_HEAD(df_work_list, df_work_job);

/* On a worker: its pool, and the jobs its current job took (df_work_take). */
static __thread struct df_work_pool *df_work_self;
static __thread struct df_work_list df_work_taken;

struct df_work_pool {
    struct event *done_ev;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct df_work_list queue; /* submitted, not started */
    struct df_work_list done;  /* work ran, done not yet */
    pthread_t *threads;
    unsigned nthreads;
    unsigned max_threads;
    unsigned idle;    /* threads waiting on cv */
    unsigned queued;  /* jobs in queue */
    unsigned pending; /* submitted, done not yet run (loop thread only) */
    bool stopping;
};

void
df_work_init(void)
{
    evthread_use_pthreads();
}

unsigned
df_work_ncpu(void)
{
    cpu_set_t set;
    int n;

    if (sched_getaffinity(0, sizeof(set), &set) != 0 || (n = CPU_COUNT(&set)) < 1)
        return 1;
    return (unsigned)n;
}

/* Loop thread: run the done callbacks of the jobs finished so far. */
static void
df_work_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct df_work_pool *p = arg;
    struct df_work_list done = STAILQ_HEAD_INITIALIZER(done);
    struct df_work_job *job;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&p->mu);
    STAILQ_CONCAT(&done, &p->done);
    pthread_mutex_unlock(&p->mu);
    while ((job = STAILQ_FIRST(&done)) != NULL) {
        STAILQ_REMOVE_HEAD(&done, entry);
        p->pending--;
        job->done(job->arg);
        free(job);
    }
}

static void *
df_work_thread(void *arg)
{
    struct df_work_pool *p = arg;
    struct df_work_job *job;

    df_work_self = p;
    STAILQ_INIT(&df_work_taken);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (STAILQ_EMPTY(&p->queue) && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if ((job = STAILQ_FIRST(&p->queue)) == NULL)
            break; /* stopping and nothing left */
        STAILQ_REMOVE_HEAD(&p->queue, entry);
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        job->work(job->arg);
        pthread_mutex_lock(&p->mu);
        STAILQ_INSERT_HEAD(&df_work_taken, job, entry);
        if (p->stopping) {
            while ((job = STAILQ_FIRST(&df_work_taken)) != NULL) {
                STAILQ_REMOVE_HEAD(&df_work_taken, entry);
                free(job); /* the loop is over: its done never runs */
            }
        } else {
            STAILQ_CONCAT(&p->done, &df_work_taken);
            event_active(p->done_ev, EV_READ, 0);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct df_work_pool *
df_work_pool_new(struct event_base *base, unsigned max_threads)
{
    struct df_work_pool *p = xcalloc(1, sizeof(*p));

    p->max_threads = max_threads > 0 ? max_threads : 1;
    p->threads = xcalloc(p->max_threads, sizeof(*p->threads));
    STAILQ_INIT(&p->queue);
    STAILQ_INIT(&p->done);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if ((p->done_ev = event_new(base, -1, 0, df_work_done_cb, p)) == NULL) {
        df_work_pool_free(p);
        return NULL;
    }
    return p;
}

void
df_work_pool_free(struct df_work_pool *p)
{
    struct df_work_job *job;
    unsigned i;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while ((job = STAILQ_FIRST(&p->queue)) != NULL) { /* no thread ever started */
        STAILQ_REMOVE_HEAD(&p->queue, entry);
        job->work(job->arg);
        free(job);
    }
    while ((job = STAILQ_FIRST(&p->done)) != NULL) {
        STAILQ_REMOVE_HEAD(&p->done, entry);
        free(job);
    }
    if (p->done_ev != NULL)
        event_free(p->done_ev);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int
df_work_submit(struct df_work_pool *p, df_work_fn *work, df_work_fn *done, void *arg)
{
    struct df_work_job *job = xcalloc(1, sizeof(*job));
    int rv = 0;

    job->work = work;
    job->done = done;
    job->arg = arg;
    pthread_mutex_lock(&p->mu);
    /* Idle threads count until they wake up: start one when they are all spoken for. */
    if (p->queued >= p->idle && p->nthreads < p->max_threads) {
        if (pthread_create(&p->threads[p->nthreads], NULL, df_work_thread, p) == 0)
            p->nthreads++;
        else if (p->nthreads == 0)
            rv = DF_ENOMEM; /* nobody would ever run it */
    }
    if (rv == 0) {
        STAILQ_INSERT_TAIL(&p->queue, job, entry);
        p->queued++;
        p->pending++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (rv != 0)
        free(job);
    return rv;
}

void *
df_work_take(df_work_fn *work)
{
    struct df_work_pool *p = df_work_self;
    struct df_work_job *job;

    if (p == NULL)
        return NULL;
    pthread_mutex_lock(&p->mu);
    STAILQ_FOREACH(job, &p->queue, entry)
    {
        if (job->work == work)
            break;
    }
    if (job != NULL) {
        STAILQ_REMOVE(&p->queue, job, df_work_job, entry);
        p->queued--;
        STAILQ_INSERT_TAIL(&df_work_taken, job, entry);
    }
    pthread_mutex_unlock(&p->mu);
    return job != NULL ? job->arg : NULL;
}

unsigned
df_work_pending(const struct df_work_pool *p)
{
    return p->pending;
}
