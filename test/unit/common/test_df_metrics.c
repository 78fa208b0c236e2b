/* SPDX-License-Identifier: Apache-2.0 */
/* The registry against exact Prometheus text: HELP/TYPE once, labels, escaping, histograms. */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/df_metrics.h"

/* Render r and compare with want, showing both on a mismatch. */
static void
check_render(const struct df_metrics *r, const char *want)
{
    char *text = NULL;
    size_t len = 0;

    ck_assert_int_eq(df_metrics_render(r, &text, &len), 0);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_msg(strcmp(text, want) == 0, "got:\n%s\nwant:\n%s", text, want);
    free(text);
}

static double
read_half(void *arg)
{
    return *(const double *)arg / 2;
}

START_TEST(test_unlabelled)
{
    struct df_metrics *r = df_metrics_new();
    uint64_t kept = 7;
    double base = 5;
    struct df_metrics_family *c, *g;

    c = df_metrics_family_new(r, DF_METRICS_COUNTER, "t_requests_total", "requests served", NULL);
    g = df_metrics_family_new(r, DF_METRICS_GAUGE, "t_temp", "a gauge", NULL);
    df_metrics_u64_new(r, DF_METRICS_COUNTER, "t_kept_total", "kept by the caller", &kept);
    df_metrics_fn_new(r, "t_half", "computed", read_half, &base);
    df_metrics_add(df_metrics_series_get(c, NULL), 2);
    df_metrics_add(df_metrics_series_get(c, NULL), 3);
    df_metrics_set(df_metrics_series_get(g, NULL), 0.1);
    kept = 9; /* read when rendering, not when bound */
    check_render(r, "# HELP t_requests_total requests served\n"
                    "# TYPE t_requests_total counter\n"
                    "t_requests_total 5\n"
                    "# HELP t_temp a gauge\n"
                    "# TYPE t_temp gauge\n"
                    "t_temp 0.1\n"
                    "# HELP t_kept_total kept by the caller\n"
                    "# TYPE t_kept_total counter\n"
                    "t_kept_total 9\n"
                    "# HELP t_half computed\n"
                    "# TYPE t_half gauge\n"
                    "t_half 2.5\n");
    df_metrics_free(r);
}

END_TEST

/* Many series of one name: one HELP and one TYPE line, series in creation order. */
START_TEST(test_labels_once_per_name)
{
    struct df_metrics *r = df_metrics_new();
    const char *const labels[] = {"type", "code", NULL};
    const char *const a[] = {"REMOTE_PEER", "200"}, *const b[] = {"BACK_TO_SOURCE", "200"};
    struct df_metrics_family *f, *empty;
    uint64_t bytes = 100;

    f = df_metrics_family_new(r, DF_METRICS_COUNTER, "t_traffic_total", "bytes", labels);
    empty = df_metrics_family_new(r, DF_METRICS_GAUGE, "t_unused", "never set", labels);
    df_metrics_add(df_metrics_series_get(f, a), 1);
    df_metrics_series_bind_u64(df_metrics_series_get(f, b), &bytes);
    df_metrics_add(df_metrics_series_get(f, a), 1);
    ck_assert_ptr_eq(df_metrics_series_get(f, a), df_metrics_series_get(f, a));
    ck_assert_ptr_ne(df_metrics_series_get(f, a), df_metrics_series_get(f, b));
    (void)empty;
    check_render(r, "# HELP t_traffic_total bytes\n"
                    "# TYPE t_traffic_total counter\n"
                    "t_traffic_total{type=\"REMOTE_PEER\",code=\"200\"} 2\n"
                    "t_traffic_total{type=\"BACK_TO_SOURCE\",code=\"200\"} 100\n");
    df_metrics_free(r);
}

END_TEST

/* HELP escapes backslash and newline; label values also escape the double quote. */
START_TEST(test_escaping)
{
    struct df_metrics *r = df_metrics_new();
    const char *const labels[] = {"path", NULL};
    const char *const v[] = {"C:\\dir\n\"q\""};
    struct df_metrics_family *f;

    f = df_metrics_family_new(r, DF_METRICS_GAUGE, "t_esc", "line one\nback\\slash \"quoted\"",
                              labels);
    df_metrics_set(df_metrics_series_get(f, v), 1);
    check_render(r, "# HELP t_esc line one\\nback\\\\slash \"quoted\"\n"
                    "# TYPE t_esc gauge\n"
                    "t_esc{path=\"C:\\\\dir\\n\\\"q\\\"\"} 1\n");
    df_metrics_free(r);
}

END_TEST

START_TEST(test_histogram)
{
    struct df_metrics *r = df_metrics_new();
    const double bounds[] = {0.5, 1, 2.5};
    const char *const labels[] = {"method", NULL};
    const char *const get[] = {"GET"};
    struct df_metrics_family *f, *u;
    struct df_metrics_series *s;

    f = df_metrics_histogram_new(r, "t_duration_seconds", "time taken", labels, bounds, 3);
    u = df_metrics_histogram_new(r, "t_size", "sizes", NULL, bounds, 1);
    s = df_metrics_series_get(f, get);
    df_metrics_observe(s, 0.25);
    df_metrics_observe(s, 0.5); /* on a bound: counted in it (le is <=) */
    df_metrics_observe(s, 2);
    df_metrics_observe(s, 100);
    df_metrics_observe(s, NAN); /* ignored */
    df_metrics_add(s, 5);       /* not a counter: ignored */
    df_metrics_observe(df_metrics_series_get(u, NULL), 3);
    check_render(r, "# HELP t_duration_seconds time taken\n"
                    "# TYPE t_duration_seconds histogram\n"
                    "t_duration_seconds_bucket{method=\"GET\",le=\"0.5\"} 2\n"
                    "t_duration_seconds_bucket{method=\"GET\",le=\"1\"} 2\n"
                    "t_duration_seconds_bucket{method=\"GET\",le=\"2.5\"} 3\n"
                    "t_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 4\n"
                    "t_duration_seconds_sum{method=\"GET\"} 102.75\n"
                    "t_duration_seconds_count{method=\"GET\"} 4\n"
                    "# HELP t_size sizes\n"
                    "# TYPE t_size histogram\n"
                    "t_size_bucket{le=\"0.5\"} 0\n"
                    "t_size_bucket{le=\"+Inf\"} 1\n"
                    "t_size_sum 3\n"
                    "t_size_count 1\n");
    df_metrics_free(r);
}

END_TEST

/* Floats read back exactly; the special values are spelled as Prometheus parses them. */
START_TEST(test_float_format)
{
    struct df_metrics *r = df_metrics_new();
    const char *const labels[] = {"v", NULL};
    const char *const n[][1] = {{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}};
    const double vals[] = {1e-9, -3, 123456789012, INFINITY, -INFINITY, NAN};
    struct df_metrics_family *f;

    f = df_metrics_family_new(r, DF_METRICS_GAUGE, "t_f", "floats", labels);
    for (size_t i = 0; i < 6; i++)
        df_metrics_set(df_metrics_series_get(f, n[i]), vals[i]);
    check_render(r, "# HELP t_f floats\n# TYPE t_f gauge\n"
                    "t_f{v=\"a\"} 1e-09\n"
                    "t_f{v=\"b\"} -3\n"
                    "t_f{v=\"c\"} 123456789012\n"
                    "t_f{v=\"d\"} +Inf\n"
                    "t_f{v=\"e\"} -Inf\n"
                    "t_f{v=\"f\"} NaN\n");
    df_metrics_free(r);
}

END_TEST

/* The series cap holds: beyond it get returns NULL, and updates through NULL are dropped. */
START_TEST(test_series_cap)
{
    struct df_metrics *r = df_metrics_new();
    const char *const labels[] = {"id", NULL};
    struct df_metrics_family *f;
    char id[32], *text = NULL;
    const char *v[1] = {id};
    size_t len = 0, lines = 0;

    f = df_metrics_family_new(r, DF_METRICS_COUNTER, "t_capped_total", "capped", labels);
    for (unsigned i = 0; i < DF_METRICS_MAX_SERIES; i++) {
        snprintf(id, sizeof(id), "%u", i);
        ck_assert_ptr_nonnull(df_metrics_series_get(f, v));
    }
    snprintf(id, sizeof(id), "one-too-many");
    ck_assert_ptr_null(df_metrics_series_get(f, v));
    df_metrics_add(NULL, 1);
    df_metrics_set(NULL, 1);
    df_metrics_observe(NULL, 1);
    snprintf(id, sizeof(id), "0"); /* an existing series is still found */
    ck_assert_ptr_nonnull(df_metrics_series_get(f, v));
    ck_assert_int_eq(df_metrics_render(r, &text, &len), 0);
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    ck_assert_uint_eq(lines, DF_METRICS_MAX_SERIES + 2);
    free(text);
    df_metrics_free(r);
}

END_TEST

/* Names come from the program: a name Prometheus refuses, or a repeated one, is a bug. */
START_TEST(test_bad_name)
{
    struct df_metrics *r = df_metrics_new();

    df_metrics_family_new(r, DF_METRICS_COUNTER, "t-bad", "dash", NULL);
}

END_TEST

START_TEST(test_repeated_name)
{
    struct df_metrics *r = df_metrics_new();

    df_metrics_family_new(r, DF_METRICS_COUNTER, "t_x", "one", NULL);
    df_metrics_family_new(r, DF_METRICS_GAUGE, "t_x", "two", NULL);
}

END_TEST

START_TEST(test_bad_label)
{
    struct df_metrics *r = df_metrics_new();
    const char *const labels[] = {"__reserved", NULL};

    df_metrics_family_new(r, DF_METRICS_COUNTER, "t_y", "label", labels);
}

END_TEST

/* Exponential bounds as Prometheus clients make them: start, start*factor, ... */
START_TEST(test_histogram_exp)
{
    struct df_metrics *r = df_metrics_new();
    struct df_metrics_family *f = df_metrics_histogram_exp_new(r, "t_ms", "exp", NULL, 1, 2, 3);

    df_metrics_observe(df_metrics_series_get(f, NULL), 3);
    check_render(r, "# HELP t_ms exp\n"
                    "# TYPE t_ms histogram\n"
                    "t_ms_bucket{le=\"1\"} 0\n"
                    "t_ms_bucket{le=\"2\"} 0\n"
                    "t_ms_bucket{le=\"4\"} 1\n"
                    "t_ms_bucket{le=\"+Inf\"} 1\n"
                    "t_ms_sum 3\n"
                    "t_ms_count 1\n");
    df_metrics_free(r);
}

END_TEST

START_TEST(test_empty_registry)
{
    struct df_metrics *r = df_metrics_new();

    check_render(r, "");
    df_metrics_free(r);
    df_metrics_free(NULL);
}

END_TEST

Suite *test_df_metrics_suite(void);

Suite *
test_df_metrics_suite(void)
{
    Suite *s = suite_create("df_metrics");
    TCase *tc = tcase_create("render");
    TCase *tb = tcase_create("bugs");

    tcase_add_test(tc, test_unlabelled);
    tcase_add_test(tc, test_labels_once_per_name);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_histogram);
    tcase_add_test(tc, test_histogram_exp);
    tcase_add_test(tc, test_float_format);
    tcase_add_test(tc, test_series_cap);
    tcase_add_test(tc, test_empty_registry);
    suite_add_tcase(s, tc);
    tcase_add_test_raise_signal(tb, test_bad_name, SIGABRT);
    tcase_add_test_raise_signal(tb, test_repeated_name, SIGABRT);
    tcase_add_test_raise_signal(tb, test_bad_label, SIGABRT);
    suite_add_tcase(s, tb);
    return s;
}
