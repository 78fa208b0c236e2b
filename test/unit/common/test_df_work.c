/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/df_work.h"

/* Jobs that park until released, so that the test sees how many run at once. */
struct wk {
    atomic_uint running;
    atomic_uint most;
    atomic_uint worked;
    atomic_bool release;
    unsigned done;
    unsigned order[16];
    struct event_base *base;
    struct df_work_pool *pool;
    unsigned want;
};

struct wk_job {
    struct wk *wk;
    unsigned n;
};

static void
wk_work(void *arg)
{
    struct wk_job *j = arg;
    struct wk *wk = j->wk;
    unsigned now = atomic_fetch_add(&wk->running, 1) + 1, most = atomic_load(&wk->most);

    while (now > most && !atomic_compare_exchange_weak(&wk->most, &most, now))
        ;
    while (!atomic_load(&wk->release))
        usleep(1000);
    atomic_fetch_add(&wk->worked, 1);
    atomic_fetch_sub(&wk->running, 1);
}

static void
wk_done(void *arg)
{
    struct wk_job *j = arg;
    struct wk *wk = j->wk;

    wk->order[wk->done++] = j->n;
    if (wk->done == wk->want)
        event_base_loopbreak(wk->base);
}

/* Loop callback: once the pool's bound is reached, let the jobs go. */
static void
wk_tick(evutil_socket_t fd, short what, void *arg)
{
    struct wk *wk = arg;

    (void)fd;
    (void)what;
    if (atomic_load(&wk->running) >= 2)
        atomic_store(&wk->release, true);
}

START_TEST(test_pool_bound_and_done_on_loop)
{
    struct wk wk = {.want = 6};
    struct wk_job jobs[6];
    struct timeval tv = {0, 2000};
    struct event *tick;
    unsigned i;

    wk.base = event_base_new();
    wk.pool = df_work_pool_new(wk.base, 2);
    ck_assert_ptr_nonnull(wk.pool);
    for (i = 0; i < 6; i++) {
        jobs[i] = (struct wk_job){&wk, i};
        ck_assert_int_eq(df_work_submit(wk.pool, wk_work, wk_done, &jobs[i]), 0);
    }
    ck_assert_uint_eq(df_work_pending(wk.pool), 6);
    tick = event_new(wk.base, -1, EV_PERSIST, wk_tick, &wk);
    event_add(tick, &tv);
    event_base_dispatch(wk.base);
    ck_assert_uint_eq(wk.done, 6);
    ck_assert_uint_eq(df_work_pending(wk.pool), 0);
    ck_assert_uint_eq(atomic_load(&wk.most), 2); /* both threads, never a third */
    for (i = 0; i < 6; i++)                      /* every job's done ran exactly once */
        ck_assert_uint_lt(wk.order[i], 6);
    event_free(tick);
    df_work_pool_free(wk.pool);
    event_base_free(wk.base);
}

END_TEST

/* Freeing a pool runs the work of jobs still queued, and none of the done callbacks. */
START_TEST(test_pool_free_drains_work)
{
    struct wk wk = {.want = 99};
    struct wk_job jobs[5];
    unsigned i;

    wk.base = event_base_new();
    wk.pool = df_work_pool_new(wk.base, 1);
    atomic_store(&wk.release, true);
    for (i = 0; i < 5; i++) {
        jobs[i] = (struct wk_job){&wk, i};
        ck_assert_int_eq(df_work_submit(wk.pool, wk_work, wk_done, &jobs[i]), 0);
    }
    df_work_pool_free(wk.pool);
    ck_assert_uint_eq(atomic_load(&wk.worked), 5);
    ck_assert_uint_eq(wk.done, 0);
    event_base_free(wk.base);
}

END_TEST

/* A job of another kind: only counted. */
static void
wk_other(void *arg)
{
    struct wk_job *j = arg;

    atomic_fetch_add(&j->wk->worked, 1);
}

/* Waits for the release, then takes one queued wk_work job and does its work too. */
static void
wk_taker(void *arg)
{
    struct wk_job *j = arg, *t;

    while (!atomic_load(&j->wk->release))
        usleep(1000);
    atomic_fetch_add(&j->wk->worked, 1);
    if ((t = df_work_take(wk_work)) != NULL) {
        ck_assert_uint_eq(t->n, 2);
        atomic_fetch_add(&j->wk->worked, 1);
    }
    ck_assert_ptr_null(df_work_take(wk_work)); /* nothing more of that kind is queued */
}

/* A job takes the first queued job of its kind (skipping others); the taken job's work is
 * not run again and its done runs right after the taker's, on the loop. */
START_TEST(test_take_batches_queued_work)
{
    struct wk wk = {.want = 3};
    struct wk_job jobs[3];
    struct timeval tv = {0, 2000};
    struct event *tick;
    unsigned i;

    ck_assert_ptr_null(df_work_take(wk_work)); /* not on a worker */
    wk.base = event_base_new();
    wk.pool = df_work_pool_new(wk.base, 1);
    for (i = 0; i < 3; i++)
        jobs[i] = (struct wk_job){&wk, i};
    ck_assert_int_eq(df_work_submit(wk.pool, wk_taker, wk_done, &jobs[0]), 0);
    ck_assert_int_eq(df_work_submit(wk.pool, wk_other, wk_done, &jobs[1]), 0);
    ck_assert_int_eq(df_work_submit(wk.pool, wk_work, wk_done, &jobs[2]), 0);
    atomic_store(&wk.release, true);
    tick = event_new(wk.base, -1, EV_PERSIST, wk_tick, &wk); /* keeps the loop waiting */
    event_add(tick, &tv);
    event_base_dispatch(wk.base);
    event_free(tick);
    ck_assert_uint_eq(wk.done, 3);
    ck_assert_uint_eq(atomic_load(&wk.worked), 3);
    ck_assert_uint_eq(atomic_load(&wk.most), 0); /* wk_work never ran on its own */
    ck_assert_uint_eq(wk.order[0], 0);
    ck_assert_uint_eq(wk.order[1], 2);
    ck_assert_uint_eq(wk.order[2], 1);
    ck_assert_uint_eq(df_work_pending(wk.pool), 0);
    df_work_pool_free(wk.pool);
    event_base_free(wk.base);
}

END_TEST

START_TEST(test_ncpu)
{
    ck_assert_uint_ge(df_work_ncpu(), 1);
}

END_TEST

Suite *test_df_work_suite(void);

Suite *
test_df_work_suite(void)
{
    Suite *s = suite_create("df_work");
    TCase *tc = tcase_create("pool");

    df_work_init();
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_pool_bound_and_done_on_loop);
    tcase_add_test(tc, test_pool_free_drains_work);
    tcase_add_test(tc, test_take_batches_queued_work);
    tcase_add_test(tc, test_ncpu);
    suite_add_tcase(s, tc);
    return s;
}
