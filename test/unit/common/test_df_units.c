/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "df/df_err.h"
#include "df/df_units.h"

typedef int parse_fn(const char *s, int64_t *out);

static int64_t
ok(parse_fn *fn, const char *s)
{
    int64_t v = -1;

    ck_assert_msg(fn(s, &v) == 0, "\"%s\" should parse", s);
    return v;
}

static void
bad(parse_fn *fn, const char *s, int code)
{
    int64_t v = 12345;

    ck_assert_msg(fn(s, &v) == code, "\"%s\" should fail with %d", s, code);
    ck_assert_msg(v == 12345, "\"%s\" changed the output on error", s);
}

START_TEST(test_size_parse)
{
    ck_assert_int_eq(ok(df_units_size_parse, "0"), 0);
    ck_assert_int_eq(ok(df_units_size_parse, "123"), 123);
    ck_assert_int_eq(ok(df_units_size_parse, "123B"), 123);
    ck_assert_int_eq(ok(df_units_size_parse, "4KiB"), 4096);
    ck_assert_int_eq(ok(df_units_size_parse, "4kib"), 4096);
    ck_assert_int_eq(ok(df_units_size_parse, "4Ki"), 4096);
    ck_assert_int_eq(ok(df_units_size_parse, "4KB"), 4000);
    ck_assert_int_eq(ok(df_units_size_parse, "4k"), 4000);
    ck_assert_int_eq(ok(df_units_size_parse, "64MiB"), 64 << 20);
    ck_assert_int_eq(ok(df_units_size_parse, "64 MiB"), 64 << 20);
    ck_assert_int_eq(ok(df_units_size_parse, "1GB"), 1000000000);
    ck_assert_int_eq(ok(df_units_size_parse, "1GiB"), INT64_C(1) << 30);
    ck_assert_int_eq(ok(df_units_size_parse, "2TiB"), INT64_C(2) << 40);
    ck_assert_int_eq(ok(df_units_size_parse, "1PB"), INT64_C(1000000000000000));
    ck_assert_int_eq(ok(df_units_size_parse, "7EiB"), INT64_C(7) << 60);
    ck_assert_int_eq(ok(df_units_size_parse, "1.5KiB"), 1536);
    ck_assert_int_eq(ok(df_units_size_parse, "0.5MB"), 500000);
    ck_assert_int_eq(ok(df_units_size_parse, "9223372036854775807"), INT64_MAX);
    ck_assert_int_eq(ok(df_units_size_parse, "0.000000001GB"), 1);
}

END_TEST

START_TEST(test_size_parse_bad)
{
    bad(df_units_size_parse, "", DF_EINVAL);
    bad(df_units_size_parse, "MiB", DF_EINVAL);
    bad(df_units_size_parse, "-1", DF_EINVAL);
    bad(df_units_size_parse, "+1", DF_EINVAL);
    bad(df_units_size_parse, " 1", DF_EINVAL);
    bad(df_units_size_parse, "1 ", DF_EINVAL);
    bad(df_units_size_parse, "1.", DF_EINVAL);
    bad(df_units_size_parse, ".5K", DF_EINVAL);
    bad(df_units_size_parse, "1.5B", DF_EINVAL);           /* not whole bytes */
    bad(df_units_size_parse, "1.0000000001GB", DF_EINVAL); /* over 9 fraction digits */
    bad(df_units_size_parse, "64MiBs", DF_EINVAL);
    bad(df_units_size_parse, "64XB", DF_EINVAL);
    bad(df_units_size_parse, "1Mbit", DF_EINVAL); /* bits are for rates */
    bad(df_units_size_parse, "64MiB/s", DF_EINVAL);
    bad(df_units_size_parse, "8EiB", DF_ETOOBIG);
    bad(df_units_size_parse, "9223372036854775808", DF_ETOOBIG);
    bad(df_units_size_parse, "99999999999999999999999", DF_ETOOBIG);
    bad(df_units_size_parse, "20000000000EB", DF_ETOOBIG);
}

END_TEST

START_TEST(test_rate_parse)
{
    ck_assert_int_eq(ok(df_units_rate_parse, "0"), 0);
    ck_assert_int_eq(ok(df_units_rate_parse, "1048576"), 1048576);
    ck_assert_int_eq(ok(df_units_rate_parse, "100MiB/s"), INT64_C(100) << 20);
    ck_assert_int_eq(ok(df_units_rate_parse, "10MB/s"), 10000000);
    ck_assert_int_eq(ok(df_units_rate_parse, "800Mbit/s"), 100000000);
    ck_assert_int_eq(ok(df_units_rate_parse, "1Gbit/s"), 125000000);
    ck_assert_int_eq(ok(df_units_rate_parse, "1gbit/s"), 125000000);
    ck_assert_int_eq(ok(df_units_rate_parse, "8Kibit/s"), 1024);
    ck_assert_int_eq(ok(df_units_rate_parse, "64bit/s"), 8);
    ck_assert_int_eq(ok(df_units_rate_parse, "512B/s"), 512);
    ck_assert_int_eq(ok(df_units_rate_parse, "1.5GiB/s"), INT64_C(3) << 29);
    bad(df_units_rate_parse, "", DF_EINVAL);
    bad(df_units_rate_parse, "100MiB", DF_EINVAL); /* a unit needs "/s" */
    bad(df_units_rate_parse, "100MiB/m", DF_EINVAL);
    bad(df_units_rate_parse, "100MiB/s ", DF_EINVAL);
    bad(df_units_rate_parse, "100Mbps", DF_EINVAL);
    bad(df_units_rate_parse, "1bit/s", DF_EINVAL); /* an eighth of a byte */
    bad(df_units_rate_parse, "-1MiB/s", DF_EINVAL);
    bad(df_units_rate_parse, "8EiB/s", DF_ETOOBIG);
    bad(df_units_rate_parse, "100000Ebit/s", DF_ETOOBIG);
}

END_TEST

START_TEST(test_duration_parse)
{
    ck_assert_int_eq(ok(df_units_duration_parse, "0"), 0);
    ck_assert_int_eq(ok(df_units_duration_parse, "0s"), 0);
    ck_assert_int_eq(ok(df_units_duration_parse, "250ms"), 250);
    ck_assert_int_eq(ok(df_units_duration_parse, "30s"), 30000);
    ck_assert_int_eq(ok(df_units_duration_parse, "5m"), 300000);
    ck_assert_int_eq(ok(df_units_duration_parse, "1h"), 3600000);
    ck_assert_int_eq(ok(df_units_duration_parse, "1h30m"), 5400000);
    ck_assert_int_eq(ok(df_units_duration_parse, "7d"), INT64_C(604800000));
    ck_assert_int_eq(ok(df_units_duration_parse, "1.5s"), 1500);
    ck_assert_int_eq(ok(df_units_duration_parse, "1h0m0.001s"), 3600001);
    ck_assert_int_eq(ok(df_units_duration_parse, "2s500ms"), 2500);
    bad(df_units_duration_parse, "", DF_EINVAL);
    bad(df_units_duration_parse, "abc", DF_EINVAL);
    bad(df_units_duration_parse, "30", DF_EINVAL); /* a unit is required */
    bad(df_units_duration_parse, "30S", DF_EINVAL);
    bad(df_units_duration_parse, "1y", DF_EINVAL);
    bad(df_units_duration_parse, "1us", DF_EINVAL);
    bad(df_units_duration_parse, "0.5ms", DF_EINVAL);
    bad(df_units_duration_parse, "-1s", DF_EINVAL);
    bad(df_units_duration_parse, "1h 30m", DF_EINVAL);
    bad(df_units_duration_parse, "1hm", DF_EINVAL);
    bad(df_units_duration_parse, "10000000000000000d", DF_ETOOBIG);
    bad(df_units_duration_parse, "9223372036854775807ms1ms", DF_ETOOBIG);
}

END_TEST

START_TEST(test_format)
{
    char buf[DF_UNITS_FMT_MAX];

    ck_assert_str_eq(df_units_size_format(0, buf, sizeof(buf)), "0B");
    ck_assert_str_eq(df_units_size_format(1000, buf, sizeof(buf)), "1KB");
    ck_assert_str_eq(df_units_size_format(1023, buf, sizeof(buf)), "1023B");
    ck_assert_str_eq(df_units_size_format(4096, buf, sizeof(buf)), "4KiB");
    ck_assert_str_eq(df_units_size_format(64 << 20, buf, sizeof(buf)), "64MiB");
    ck_assert_str_eq(df_units_size_format(1000000000, buf, sizeof(buf)), "1GB");
    ck_assert_str_eq(df_units_size_format(1536, buf, sizeof(buf)), "1536B");
    ck_assert_str_eq(df_units_size_format(INT64_MAX, buf, sizeof(buf)), "9223372036854775807B");
    ck_assert_str_eq(df_units_size_format(-5, buf, sizeof(buf)), "-5");
    ck_assert_str_eq(df_units_rate_format(100000000, buf, sizeof(buf)), "100MB/s");
    ck_assert_str_eq(df_units_rate_format(INT64_C(1) << 30, buf, sizeof(buf)), "1GiB/s");
    ck_assert_str_eq(df_units_rate_format(0, buf, sizeof(buf)), "0B/s");
    ck_assert_str_eq(df_units_duration_format(0, buf, sizeof(buf)), "0s");
    ck_assert_str_eq(df_units_duration_format(250, buf, sizeof(buf)), "250ms");
    ck_assert_str_eq(df_units_duration_format(30000, buf, sizeof(buf)), "30s");
    ck_assert_str_eq(df_units_duration_format(1500, buf, sizeof(buf)), "1.5s");
    ck_assert_str_eq(df_units_duration_format(1050, buf, sizeof(buf)), "1.05s");
    ck_assert_str_eq(df_units_duration_format(5400000, buf, sizeof(buf)), "1h30m");
    ck_assert_str_eq(df_units_duration_format(3600001, buf, sizeof(buf)), "1h0.001s");
    ck_assert_str_eq(df_units_duration_format(INT64_C(604800000), buf, sizeof(buf)), "168h");
    ck_assert_str_eq(df_units_duration_format(-3, buf, sizeof(buf)), "-3");
    /* a short buffer truncates and stays terminated */
    ck_assert_str_eq(df_units_duration_format(5400000, buf, 4), "1h3");
    ck_assert_str_eq(df_units_size_format(64 << 20, buf, 3), "64");
}

END_TEST

/* Whatever is formatted parses back to the same value. */
START_TEST(test_round_trip)
{
    static const int64_t values[] = {
            0,
            1,
            7,
            999,
            1000,
            1024,
            1536,
            4194304,
            100000000,
            123456789,
            INT64_MAX / 3,
            INT64_MAX,
            INT64_C(1) << 62,
            86400000,
            3600001,
            59999,
    };
    char buf[DF_UNITS_FMT_MAX];
    int64_t v;

    for (size_t i = 0; i < DF_NELEM(values); i++) {
        ck_assert_int_eq(df_units_size_parse(df_units_size_format(values[i], buf, sizeof(buf)), &v),
                         0);
        ck_assert_int_eq(v, values[i]);
        ck_assert_int_eq(df_units_rate_parse(df_units_rate_format(values[i], buf, sizeof(buf)), &v),
                         0);
        ck_assert_int_eq(v, values[i]);
        ck_assert_int_eq(
                df_units_duration_parse(df_units_duration_format(values[i], buf, sizeof(buf)), &v),
                0);
        ck_assert_int_eq(v, values[i]);
    }
}

END_TEST

Suite *test_df_units_suite(void);

Suite *
test_df_units_suite(void)
{
    Suite *s = suite_create("df_units");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, test_size_parse);
    tcase_add_test(tc, test_size_parse_bad);
    tcase_add_test(tc, test_rate_parse);
    tcase_add_test(tc, test_duration_parse);
    suite_add_tcase(s, tc);
    tc = tcase_create("format");
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
