/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Priorities (sched_prio.c): the effective level (the peer's, else its application's by URL
 * regex or value) and what each level makes of a task's first download, with the seed's
 * last failure on an injected clock.
 */
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "df/df_err.h"
#include "df/proto_mgr.h"
#include "sched_test_util.h"
#include "../../../src/scheduler/sched_prio.h"

/* Two applications: "web" (value LEVEL3; two URL rules, both matching /a/x), "ci" (LEVEL2,
 * one regex that does not compile, then one that does). */
static struct sched_prio_apps *
apps_make(void)
{
    struct proto_mgr_url_priority web_urls[] = {{(char[]){"^https://h/a/"}, 1},
                                                {(char[]){"/a/x$"}, 5}};
    struct proto_mgr_url_priority ci_urls[] = {{(char[]){"(unclosed"}, 1},
                                               {(char[]){"\\.tar$"}, 4}};
    struct proto_mgr_app v[] = {
            {.id = 1, .name = (char[]){"web"}, .priority = 3, .urls = web_urls, .nurls = 2},
            {.id = 2, .name = (char[]){"ci"}, .priority = 2, .urls = ci_urls, .nurls = 2},
    };
    struct proto_mgr_apps a = {.v = v, .n = DF_NELEM(v)};

    return sched_prio_apps_new(&a);
}

START_TEST(test_effective)
{
    struct sched_prio_apps *apps = apps_make();

    ck_assert_uint_eq(sched_prio_apps_count(apps), 2);
    /* the peer's own level wins over any application */
    ck_assert_uint_eq(sched_prio_effective(apps, 6, "web", "https://h/a/x"), 6);
    ck_assert_uint_eq(sched_prio_effective(apps, 2, "web", "https://h/b"), 2);
    /* LEVEL0: the application's first matching URL rule, in the manager's order */
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "web", "https://h/a/x"), 1);
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "web", "https://g/a/x"), 5);
    /* no rule matches: the application's value */
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "web", "https://h/b"), 3);
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "web", NULL), 3);
    /* a bad regex is skipped, the next rule still applies */
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "ci", "https://h/(unclosed"), 2);
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "ci", "https://h/x.tar"), 4);
    /* no such application, no application, no applications: LEVEL0 */
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "Web", "https://h/a/x"), 0);
    ck_assert_uint_eq(sched_prio_effective(apps, 0, NULL, "https://h/a/x"), 0);
    ck_assert_uint_eq(sched_prio_effective(NULL, 0, "web", "https://h/a/x"), 0);
    sched_prio_apps_free(apps);
    sched_prio_apps_free(NULL);
}

END_TEST

START_TEST(test_no_applications)
{
    struct proto_mgr_apps none = {0};
    struct sched_prio_apps *apps = sched_prio_apps_new(&none);

    ck_assert_uint_eq(sched_prio_apps_count(apps), 0);
    ck_assert_uint_eq(sched_prio_effective(apps, 0, "web", "https://h/a/x"), 0);
    ck_assert_uint_eq(sched_prio_effective(apps, 4, "web", "https://h/a/x"), 4);
    sched_prio_apps_free(apps);
}

END_TEST

/* Each level on a task whose seed never failed. */
START_TEST(test_decide_levels)
{
    static const enum sched_prio_action want[] = {
            SCHED_PRIO_SEED, SCHED_PRIO_FORBIDDEN, SCHED_PRIO_NO_PEERS, SCHED_PRIO_SOURCE,
            SCHED_PRIO_SEED, SCHED_PRIO_SEED,      SCHED_PRIO_SEED,
    };

    for (uint32_t l = 0; l < DF_NELEM(want); l++)
        ck_assert_msg(sched_prio_decide(l, 0, 1000) == want[l], "LEVEL%u", l);
    /* the manager's REST API stores up to 20: above LEVEL6 is LEVEL6 */
    ck_assert_int_eq(sched_prio_decide(20, 0, 1000), SCHED_PRIO_SEED);
    ck_assert_str_eq(sched_prio_level_name(3), "LEVEL3");
    ck_assert_str_eq(sched_prio_level_name(20), "LEVEL6");
}

END_TEST

/* A seed that failed within 30 minutes turns the seed levels into LEVEL3; then it is tried
 * again. The refusing levels stay refusals. */
START_TEST(test_decide_seed_failed)
{
    const int64_t failed = INT64_C(1000000000);

    for (uint32_t l = 0; l <= 6; l++) {
        enum sched_prio_action recent = sched_prio_decide(l, failed, failed + 1);
        enum sched_prio_action edge =
                sched_prio_decide(l, failed, failed + SCHED_PRIO_SEED_FAILED_MS - 1);
        enum sched_prio_action later =
                sched_prio_decide(l, failed, failed + SCHED_PRIO_SEED_FAILED_MS);

        if (l == 1 || l == 2) {
            ck_assert_int_eq(recent, l == 1 ? SCHED_PRIO_FORBIDDEN : SCHED_PRIO_NO_PEERS);
            ck_assert_int_eq(later, recent);
            continue;
        }
        ck_assert_msg(recent == SCHED_PRIO_SOURCE && edge == SCHED_PRIO_SOURCE, "LEVEL%u", l);
        ck_assert_msg(later == (l == 3 ? SCHED_PRIO_SOURCE : SCHED_PRIO_SEED), "LEVEL%u", l);
    }
}

END_TEST

/* Which register is a task's first download (the one a priority decides), and the seed's
 * last failure handed to sched_prio_decide. */
START_TEST(test_first_download)
{
    struct sched_config cfg;
    struct sched_actions acts = {0};
    struct sched_state *st;
    struct df_error err;
    int64_t now = 1000000, fail_at = -1;
    char task[65];

    sched_config_default(&cfg);
    ck_assert_msg(sched_config_check(&cfg, &err) == 0, "%s", err.msg);
    st = sched_state_new(&cfg);
    t_task_id(task, 7);
    t_host(st, "a", SCHED_HOST_NORMAL, 8, now);
    t_host(st, "b", SCHED_HOST_NORMAL, 8, now);
    t_host(st, "seed", SCHED_HOST_SEED, 8, now);
    ck_assert(!sched_state_is_first_download(st, task, "nobody", now, &fail_at));
    ck_assert(!sched_state_is_first_download(st, task, "seed", now, &fail_at));
    ck_assert(sched_state_is_first_download(st, task, "a", now, &fail_at));
    ck_assert_int_eq(fail_at, 0);
    /* a's register triggers the seed: while it is on its way, b's is no first download */
    ck_assert_int_eq(t_register(st, "pa", "a", task, 64 << 20, 4 << 20, false, now, &acts), 0);
    ck_assert(!sched_state_is_first_download(st, task, "b", now, &fail_at));
    /* the seed comes, fetches and fails: nothing feeds the task, its failure is told */
    now += 10;
    ck_assert_int_eq(t_register(st, "ps", "seed", task, 64 << 20, 4 << 20, true, now, &acts), 0);
    ck_assert(!sched_state_is_first_download(st, task, "b", now, &fail_at));
    ck_assert_int_eq(sched_state_peer_failed(st, "ps", now, &acts), 0);
    ck_assert(sched_state_is_first_download(st, task, "b", now + 1, &fail_at));
    ck_assert_int_eq(fail_at, now);
    ck_assert_int_eq(sched_prio_decide(6, fail_at, now + 1), SCHED_PRIO_SOURCE);
    sched_actions_reset(&acts);
    sched_state_free(st);
}

END_TEST

Suite *test_sched_prio_suite(void);

Suite *
test_sched_prio_suite(void)
{
    Suite *s = suite_create("sched_prio");
    TCase *tc = tcase_create("prio");

    tcase_add_test(tc, test_effective);
    tcase_add_test(tc, test_no_applications);
    tcase_add_test(tc, test_decide_levels);
    tcase_add_test(tc, test_decide_seed_failed);
    tcase_add_test(tc, test_first_download);
    suite_add_tcase(s, tc);
    return s;
}
