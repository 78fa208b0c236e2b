/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <check.h>

#include "df/df_err.h"
#include "df/df_time.h"

/* The units agree: one reading of each, taken in order, nests within the next. */
START_TEST(test_mono_units)
{
    uint64_t ns0 = df_time_mono_ns(), us = df_time_mono_us(), ms = df_time_mono_ms();
    uint64_t ns1 = df_time_mono_ns();

    ck_assert_uint_le(ns0 / 1000u, us);
    ck_assert_uint_le(us / 1000u, ms);
    ck_assert_uint_le(ms, ns1 / 1000000u);
    ck_assert_uint_gt(ns0, 0);
}

END_TEST

START_TEST(test_mono_never_back)
{
    uint64_t last_ms = df_time_mono_ms(), last_ns = df_time_mono_ns();

    for (int i = 0; i < 100000; i++) {
        uint64_t ms = df_time_mono_ms(), ns = df_time_mono_ns();

        ck_assert_uint_ge(ms, last_ms);
        ck_assert_uint_ge(ns, last_ns);
        last_ms = ms;
        last_ns = ns;
    }
}

END_TEST

/* The coarse clock lags the fine one by at most a tick; a minute covers any tick size. */
START_TEST(test_mono_coarse)
{
    uint64_t c = df_time_mono_coarse_ms(), m = df_time_mono_ms();

    ck_assert_uint_le(c, m + 1);
    ck_assert_uint_ge(c + 60000, m);
}

END_TEST

/* Wall readings are Unix-epoch based: within a minute of time(), in the right unit. */
START_TEST(test_wall_epoch)
{
    int64_t s = (int64_t)time(NULL), ms = df_time_wall_ms(), us = df_time_wall_us();

    ck_assert_int_ge(ms, (s - 60) * 1000);
    ck_assert_int_le(ms, (s + 60) * 1000);
    ck_assert_int_ge(us / 1000, ms);
    ck_assert_int_le(us / 1000, ms + 60000);
}

END_TEST

static void *
steady_worker(void *arg)
{
    int64_t last = 0;
    int *bad = arg;

    for (int i = 0; i < 20000; i++) {
        int64_t now = df_time_wall_steady_ms();

        if (now < last)
            (*bad)++;
        last = now;
    }
    return NULL;
}

/* Each thread sees a non-decreasing steady clock, and it stays near the wall clock. */
START_TEST(test_wall_steady)
{
    pthread_t th[4];
    int bad[4] = {0, 0, 0, 0};
    int64_t a, w;

    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, steady_worker, &bad[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(bad[i], 0);
    }
    a = df_time_wall_steady_ms();
    w = df_time_wall_ms();
    ck_assert_int_le(a, w + 60000);
    ck_assert_int_ge(a, w - 60000);
    ck_assert_int_ge(df_time_wall_steady_ms(), a);
}

END_TEST

START_TEST(test_parse_rfc3339)
{
    static const int64_t cases[] = {0, 1767323045678LL, -1, 253402300799999LL};
    char buf[DF_TIME_RFC3339_LEN];
    int64_t ms = 0;

    ck_assert_str_eq(df_time_format_rfc3339(1767323045678LL, buf), "2026-01-02T03:04:05.678Z");
    for (size_t i = 0; i < DF_NELEM(cases); i++) {
        ck_assert_int_eq(df_time_parse_rfc3339(df_time_format_rfc3339(cases[i], buf), &ms), 0);
        ck_assert_int_eq(ms, cases[i]);
    }
    ck_assert_int_eq(df_time_parse_rfc3339("2026-01-02T03:04:05Z", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339("2026-13-02T03:04:05.678Z", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339("2026-01-02 03:04:05.678Z", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339("2026-01-02T03:04:05.678+", &ms), DF_EINVAL);
}

END_TEST

START_TEST(test_format_rfc3339)
{
    char buf[DF_TIME_RFC3339_LEN];

    ck_assert_str_eq(df_time_format_rfc3339(0, buf), "1970-01-01T00:00:00.000Z");
    ck_assert_str_eq(df_time_format_rfc3339(1767323045678LL, buf), "2026-01-02T03:04:05.678Z");
    ck_assert_str_eq(df_time_format_rfc3339(-1, buf), "1969-12-31T23:59:59.999Z");
    ck_assert_str_eq(df_time_format_rfc3339(951782400000LL, buf), "2000-02-29T00:00:00.000Z");
    /* the hand-placed digits against gmtime_r and snprintf: the ends of four-digit years,
     * around them, and a sweep of the range */
    {
        static const int64_t edge[] = {-62167219200000LL, -62167219200001LL, 253402300799999LL,
                                       253402300800000LL, -2208988800000LL,  4107542400000LL};
        char want[DF_TIME_RFC3339_LEN];
        uint64_t x = 88172645463325252ULL;

        for (int i = 0; i < 20000; i++) {
            int64_t ms;
            time_t t;
            struct tm tm;

            if (i < (int)(sizeof(edge) / sizeof(edge[0]))) {
                ms = edge[i];
            } else {
                x ^= x << 13; /* xorshift: the same cases every run */
                x ^= x >> 7;
                x ^= x << 17;
                ms = (int64_t)(x % 315569520000000ULL) - 62167219200000LL;
            }
            t = (time_t)((ms >= 0 ? ms : ms - 999) / 1000);
            ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
            snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(ms - (int64_t)t * 1000));
            ck_assert_str_eq(df_time_format_rfc3339(ms, buf), want);
        }
    }
}

END_TEST

/* RFC 9110's example, the epoch, a leap day; a buffer too small stays a string. */
START_TEST(test_format_http)
{
    char buf[30], small[8];

    ck_assert_str_eq(df_time_format_http(784111777, buf, sizeof(buf)),
                     "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_str_eq(df_time_format_http(0, buf, sizeof(buf)), "Thu, 01 Jan 1970 00:00:00 GMT");
    ck_assert_str_eq(df_time_format_http(951782400, buf, sizeof(buf)),
                     "Tue, 29 Feb 2000 00:00:00 GMT");
    ck_assert_str_eq(df_time_format_http(784111777, small, sizeof(small)), "Sun, 06");
}

END_TEST

START_TEST(test_parse_rfc3339_any)
{
    int64_t ms = 0;

    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-02T03:04:05Z", &ms), 0);
    ck_assert_int_eq(ms, INT64_C(1893553445000));
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-02T11:04:05.123456+08:00", &ms), 0);
    ck_assert_int_eq(ms, INT64_C(1893553445000));
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-01T22:04:05-05:00", &ms), 0);
    ck_assert_int_eq(ms, INT64_C(1893553445000));
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-02 03:04:05Z", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-13-02T03:04:05Z", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-02T03:04:05", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-02T03:04:05Zjunk", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-02T03:04:05.Z", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030-01-02T03:04:05+0800", &ms), DF_EINVAL);
    ck_assert_int_eq(df_time_parse_rfc3339_any("2030", &ms), DF_EINVAL);
}

END_TEST

Suite *test_df_time_suite(void);

Suite *
test_df_time_suite(void)
{
    Suite *s = suite_create("df_time");
    TCase *tc = tcase_create("time");

    tcase_add_test(tc, test_mono_units);
    tcase_add_test(tc, test_mono_never_back);
    tcase_add_test(tc, test_mono_coarse);
    tcase_add_test(tc, test_wall_epoch);
    tcase_add_test(tc, test_parse_rfc3339_any);
    tcase_add_test(tc, test_wall_steady);
    tcase_add_test(tc, test_format_rfc3339);
    tcase_add_test(tc, test_parse_rfc3339);
    tcase_add_test(tc, test_format_http);
    suite_add_tcase(s, tc);
    return s;
}
