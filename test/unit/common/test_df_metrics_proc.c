/* SPDX-License-Identifier: Apache-2.0 */
/* process_* read this very process: values it can check (descriptors, start time, memory). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "df/df_metrics.h"
#include "df/df_metrics_proc.h"

/* The value of the unlabelled sample name on r's page (its line "name value"). */
static double
sample(const struct df_metrics *r, const char *name)
{
    char *text = NULL, *p, want[128];
    size_t len = 0;
    double v;

    ck_assert_int_eq(df_metrics_render(r, &text, &len), 0);
    snprintf(want, sizeof(want), "\n%s ", name);
    p = strstr(text, want);
    ck_assert_msg(p != NULL, "no %s in:\n%s", name, text);
    v = strtod(p + strlen(want), NULL);
    free(text);
    return v;
}

START_TEST(test_process_values)
{
    struct df_metrics *r = df_metrics_new();
    double fds, start;
    int fd;

    df_metrics_proc_register(r, "t_version");
    fds = sample(r, "process_open_fds");
    ck_assert_double_ge(fds, 3);
    /* a descriptor more is counted on the next scrape: read at render time */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ne(fd, -1);
    ck_assert_double_eq(sample(r, "process_open_fds"), fds + 1);
    close(fd);
    start = sample(r, "process_start_time_seconds");
    ck_assert_double_le(start, (double)time(NULL) + 1);
    ck_assert_double_gt(start, (double)time(NULL) - 7 * 86400); /* a test run is not a week */
    ck_assert_double_gt(sample(r, "process_resident_memory_bytes"), 64 * 1024);
    ck_assert_double_ge(sample(r, "process_virtual_memory_bytes"),
                        sample(r, "process_resident_memory_bytes"));
    ck_assert_double_ge(sample(r, "process_cpu_seconds_total"), 0);
    ck_assert_double_ge(sample(r, "process_max_fds"), fds);
    df_metrics_free(r);
}

END_TEST

START_TEST(test_version_gauge)
{
    struct df_metrics *r = df_metrics_new();
    char *text = NULL, *p;
    size_t len = 0;

    df_metrics_proc_register(r, "t_version");
    ck_assert_int_eq(df_metrics_render(r, &text, &len), 0);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE t_version gauge\n"));
    p = strstr(text, "\nt_version{git_version=\"");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(strstr(p, "platform=\"Linux/"));
    ck_assert_ptr_nonnull(strstr(p, "\"} 1\n"));
    free(text);
    df_metrics_free(r);
}

END_TEST

Suite *test_df_metrics_proc_suite(void);

Suite *
test_df_metrics_proc_suite(void)
{
    Suite *s = suite_create("df_metrics_proc");
    TCase *tc = tcase_create("process");

    tcase_add_test(tc, test_process_values);
    tcase_add_test(tc, test_version_gauge);
    suite_add_tcase(s, tc);
    return s;
}
