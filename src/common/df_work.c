/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One detached thread per job; completion comes back to the loop by activating an event
 * from the worker (libevent is made thread-aware by df_work_init). Jobs are few and long
 * (whole-file hashing, copies), so a pool would buy nothing.
 */
#include "df/df_work.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "df/df_err.h"
#include "df/xmalloc.h"

struct df_work_job {
    struct event *ev;
    df_work_fn *work;
    df_work_fn *done;
    void *arg;
};

static atomic_uint df_work_count;

void
df_work_init(void)
{
    evthread_use_pthreads();
}

unsigned
df_work_pending(void)
{
    return atomic_load(&df_work_count);
}

static void
df_work_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct df_work_job *job = arg;

    (void)fd;
    (void)what;
    event_free(job->ev);
    atomic_fetch_sub(&df_work_count, 1);
    job->done(job->arg);
    free(job);
}

static void *
df_work_thread(void *arg)
{
    struct df_work_job *job = arg;

    job->work(job->arg);
    event_active(job->ev, EV_TIMEOUT, 0);
    return NULL;
}

int
df_work_submit(struct event_base *base, df_work_fn *work, df_work_fn *done, void *arg)
{
    struct df_work_job *job = xcalloc(1, sizeof(*job));
    pthread_attr_t attr;
    pthread_t t;
    int rv;

    job->work = work;
    job->done = done;
    job->arg = arg;
    job->ev = event_new(base, -1, 0, df_work_done_cb, job);
    if (job->ev == NULL) {
        free(job);
        return DF_ENOMEM;
    }
    atomic_fetch_add(&df_work_count, 1);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rv = pthread_create(&t, &attr, df_work_thread, job);
    pthread_attr_destroy(&attr);
    if (rv != 0) {
        atomic_fetch_sub(&df_work_count, 1);
        event_free(job->ev);
        free(job);
        return DF_ENOMEM;
    }
    return 0;
}
