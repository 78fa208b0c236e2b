/* SPDX-License-Identifier: Apache-2.0 */
/* net_ratelim: burst, refill, waits, debt and long-run rate within 1%, on a simulated clock. */
#include <stdint.h>

#include <check.h>

#include "df/net_ratelim.h"

#define MS 1000000ull
#define S  1000000000ull

START_TEST(test_burst_and_refill)
{
    struct net_ratelim rl;
    uint64_t t0 = 5 * S;

    net_ratelim_init(&rl, 1000000, 65536, t0);
    ck_assert_uint_eq(net_ratelim_available(&rl, t0), 65536);
    ck_assert(net_ratelim_try(&rl, 65536, t0));
    ck_assert(!net_ratelim_try(&rl, 1, t0));
    /* 1 MB/s: 1000 bytes take 1 ms. */
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, 1000, t0), 1 * MS);
    ck_assert_uint_eq(net_ratelim_available(&rl, t0 + 10 * MS), 10000);
    /* Never above the burst, however long the idle time. */
    ck_assert_uint_eq(net_ratelim_available(&rl, t0 + 3600 * S), 65536);
    /* A clock that goes backwards adds nothing. */
    ck_assert_uint_eq(net_ratelim_available(&rl, t0), 65536);
}

END_TEST

START_TEST(test_wait_is_enough)
{
    struct net_ratelim rl;
    uint64_t now = 0, w;

    net_ratelim_init(&rl, 333333, 4096, now);
    net_ratelim_consume(&rl, 4096, now);
    for (int i = 0; i < 1000; i++) {
        w = net_ratelim_wait_ns(&rl, 777, now);
        now += w;
        ck_assert_msg(net_ratelim_try(&rl, 777, now), "iteration %d", i);
    }
}

END_TEST

START_TEST(test_large_request_and_debt)
{
    struct net_ratelim rl;

    net_ratelim_init(&rl, 1000, 100, 0);
    /* More than the burst: waits for a full bucket, then is allowed (into debt). */
    net_ratelim_consume(&rl, 100, 0);
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, 5000, 0), 100 * MS);
    ck_assert(net_ratelim_try(&rl, 5000, 100 * MS));
    ck_assert_uint_eq(net_ratelim_available(&rl, 100 * MS), 0);
    /* Paying off 4900 bytes of debt at 1000 B/s takes 4.9 s, then one byte 1 ms. */
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, 1, 100 * MS), 4901 * MS);
}

END_TEST

START_TEST(test_unlimited_and_set)
{
    struct net_ratelim rl;

    net_ratelim_init(&rl, 0, 0, 0);
    ck_assert_uint_eq(net_ratelim_available(&rl, 0), UINT64_MAX);
    ck_assert_uint_eq(net_ratelim_wait_ns(&rl, UINT64_MAX, 0), 0);
    ck_assert(net_ratelim_try(&rl, 1u << 30, 0));
    net_ratelim_set(&rl, 1000, 0, 0); /* burst 0 means one second's worth */
    ck_assert_uint_eq(net_ratelim_available(&rl, 0), 0);
    ck_assert_uint_eq(net_ratelim_available(&rl, 2 * S), 1000);
    net_ratelim_set(&rl, 1000, 10, 2 * S);
    ck_assert_uint_eq(net_ratelim_available(&rl, 2 * S), 10);
}

END_TEST

/* A sender that always sends as soon as allowed moves rate * time + burst bytes. */
START_TEST(test_long_run_rate)
{
    static const struct {
        uint64_t rate, burst, chunk;
    } cases[] = {
            {1000000, 65536, 16384},
            {100u * 1024 * 1024, 4u * 1024 * 1024, 256 * 1024},
            {1000, 1000, 1},
            {12345, 2000, 1500},
    };
    struct net_ratelim rl;
    uint64_t now = 7 * S, end = now + 10 * S, sent = 0;
    double want;

    net_ratelim_init(&rl, cases[_i].rate, cases[_i].burst, now);
    while (now < end) {
        uint64_t w = net_ratelim_wait_ns(&rl, cases[_i].chunk, now);

        if (w > 0) {
            now += w;
            continue;
        }
        net_ratelim_consume(&rl, cases[_i].chunk, now);
        sent += cases[_i].chunk;
    }
    want = (double)cases[_i].rate * 10.0 + (double)cases[_i].burst;
    ck_assert_msg((double)sent >= want * 0.99 && (double)sent <= want * 1.01,
                  "rate %lu: sent %lu want %.0f", (unsigned long)cases[_i].rate,
                  (unsigned long)sent, want);
}

END_TEST

Suite *test_net_ratelim_suite(void);

Suite *
test_net_ratelim_suite(void)
{
    Suite *s = suite_create("net_ratelim");
    TCase *tc = tcase_create("bucket");

    tcase_add_test(tc, test_burst_and_refill);
    tcase_add_test(tc, test_wait_is_enough);
    tcase_add_test(tc, test_large_request_and_debt);
    tcase_add_test(tc, test_unlimited_and_set);
    tcase_add_loop_test(tc, test_long_run_rate, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}
