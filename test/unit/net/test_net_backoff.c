/* SPDX-License-Identifier: Apache-2.0 */
/* net_backoff: the jitter range per attempt, the cap, Retry-After as a floor and parsing. */
#include <stdint.h>

#include <check.h>

#include "df/net_backoff.h"

START_TEST(test_full_jitter_range)
{
    struct net_backoff b = {.base_ms = 100, .max_ms = 10000};

    /* rnd 0 is the floor, rnd = ceiling is the top: [0, min(max, base * 2^n)]. */
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 0, 0, 0), 0);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 0, 0, 100), 100);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 0, 0, 101), 0);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 1, 0, 200), 200);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 3, 0, 800), 800);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 6, 0, 6400), 6400);
    /* Capped from attempt 7 (12800 > 10000) on, even at absurd attempts. */
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 7, 0, 10000), 10000);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 7, 0, 10001), 0);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 1000000, 0, 10000), 10000);
    ck_assert_uint_le(net_backoff_delay_ms(&b, 4000000000u, 0, UINT64_MAX), 10000);
}

END_TEST

START_TEST(test_jitter_is_spread)
{
    struct net_backoff b = {.base_ms = 1000, .max_ms = 1000};
    uint64_t x = 0x9e3779b97f4a7c15u, sum = 0, lo = UINT64_MAX, hi = 0, d;
    const int n = 20000;

    /* xorshift64 stands in for the caller's RNG; the mean of U[0,1000] is 500. */
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d = net_backoff_delay_ms(&b, 5, 0, x);
        sum += d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_uint_le(lo, 5);
    ck_assert_uint_ge(hi, 995);
    ck_assert_uint_ge(sum / (uint64_t)n, 490);
    ck_assert_uint_le(sum / (uint64_t)n, 510);
}

END_TEST

START_TEST(test_defaults_and_retry_after)
{
    struct net_backoff d = {0};
    struct net_backoff b = {.base_ms = 100, .max_ms = 1000, .retry_after_max_ms = 60000};

    ck_assert_uint_eq(net_backoff_delay_ms(&d, 0, 0, 100), 100);
    ck_assert_uint_eq(net_backoff_delay_ms(&d, 100, 0, 30000), 30000);
    /* Retry-After is a floor, above the cap too, but only up to retry_after_max_ms. */
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 0, 5000, 0), 5000);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 0, 50, 100), 100);
    ck_assert_uint_eq(net_backoff_delay_ms(&b, 0, 3600000, 0), 60000);
    ck_assert_uint_eq(net_backoff_delay_ms(&d, 0, 3600000, 0), 3600000);
}

END_TEST

START_TEST(test_parse_retry_after)
{
    uint64_t ms = 7;
    /* 2026-01-02T03:04:05Z */
    const int64_t now = 1767323045;

    ck_assert_int_eq(net_backoff_parse_retry_after("120", now, &ms), 0);
    ck_assert_uint_eq(ms, 120000);
    ck_assert_int_eq(net_backoff_parse_retry_after("0", now, &ms), 0);
    ck_assert_uint_eq(ms, 0);
    ck_assert_int_eq(net_backoff_parse_retry_after("99999999999999999999999", now, &ms), 0);
    ck_assert_uint_eq(ms, UINT64_MAX);
    ck_assert_int_eq(net_backoff_parse_retry_after("Fri, 02 Jan 2026 03:05:05 GMT", now, &ms), 0);
    ck_assert_uint_eq(ms, 60000);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, &ms), 0);
    ck_assert_uint_eq(ms, 0);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777, &ms),
                     0);
    ck_assert_uint_eq(ms, 0);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770, &ms),
                     0);
    ck_assert_uint_eq(ms, 7000);
    ms = 42;
    ck_assert_int_eq(net_backoff_parse_retry_after("", now, &ms), DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after("-1", now, &ms), DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after("12s", now, &ms), DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after(" 12", now, &ms), DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now, &ms),
                     DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 UTC", now, &ms),
                     DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now, &ms),
                     DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now, &ms),
                     DF_EINVAL);
    ck_assert_int_eq(net_backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT x", now, &ms),
                     DF_EINVAL);
    ck_assert_uint_eq(ms, 42);
}

END_TEST

Suite *test_net_backoff_suite(void);

Suite *
test_net_backoff_suite(void)
{
    Suite *s = suite_create("net_backoff");
    TCase *tc = tcase_create("backoff");

    tcase_add_test(tc, test_full_jitter_range);
    tcase_add_test(tc, test_jitter_is_spread);
    tcase_add_test(tc, test_defaults_and_retry_after);
    tcase_add_test(tc, test_parse_retry_after);
    suite_add_tcase(s, tc);
    return s;
}
