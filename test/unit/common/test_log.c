/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "df/log.h"

START_TEST(test_redact_url)
{
    char out[256];

    ck_assert_str_eq(
            log_url_redact("https://u:pw@h.example/p?X-Amz-Signature=abc&b=2#f", out, sizeof(out)),
            "https://u:***@h.example/p?X-Amz-Signature=***&b=***#f");
    ck_assert_str_eq(log_url_redact("http://h/p", out, sizeof(out)), "http://h/p");
    ck_assert_str_eq(log_url_redact("http://h/p?flag", out, sizeof(out)), "http://h/p?flag");
    /* '=' in the path is not a query value */
    ck_assert_str_eq(log_url_redact("http://h/a=b?c=d", out, sizeof(out)), "http://h/a=b?c=***");
    log_url_redact("http://h/p?k=v", out, 8);
    ck_assert_str_eq(out, "http://");
}

END_TEST

START_TEST(test_secret_headers)
{
    ck_assert(log_header_is_secret("Authorization"));
    ck_assert(log_header_is_secret("cookie"));
    ck_assert(!log_header_is_secret("Content-Type"));
}

END_TEST

START_TEST(test_line_format)
{
    char path[] = "/tmp/df-log-XXXXXX", buf[1024];
    int fd = mkstemp(path);
    ssize_t n;

    ck_assert_int_ne(fd, -1);
    log_init("tester", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    ck_assert_int_eq(log_open(path), 0);
    log_info("net: hello\nworld %d", 7);
    log_debug("net", "hidden");
    log_init("tester", LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
    log_debug_modules("rpc");
    log_debug("net", "hidden too");
    log_debug("rpc", "quote \" here");
    log_open(NULL);
    n = read(fd, buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, " INFO tester["));
    ck_assert_ptr_nonnull(strstr(buf, "] net: hello\\nworld 7\n"));
    ck_assert_ptr_null(strstr(buf, "hidden"));
    ck_assert_ptr_nonnull(strstr(buf, "\"level\":\"DEBUG\",\"component\":\"tester\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"msg\":\"quote \\\" here\"}\n"));
    close(fd);
    unlink(path);
}

END_TEST

/* The text of the file at path (at most 4 KiB), in buf. */
static const char *
slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    ck_assert_int_ne(fd, -1);
    n = read(fd, buf, len - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return buf;
}

/* A task's line carries its id and redacted URL; reopen follows a renamed file; levels move. */
START_TEST(test_task_fields_reopen_level)
{
    char dir[] = "/tmp/df-log-XXXXXX", path[64], old[64], buf[4096];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.log", dir);
    snprintf(old, sizeof(old), "%s/a.log.1", dir);
    log_init("tester", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    ck_assert_int_eq(log_open(path), 0);
    log_task(LOG_LEVEL_INFO, NULL, "abc123", "http://h/f?sig=secret", "peer: task %s new", "abc");
    log_task(LOG_LEVEL_DEBUG, "peer", "abc123", NULL, "not at info");
    ck_assert_ptr_nonnull(strstr(slurp(path, buf, sizeof(buf)),
                                 "] peer: task abc new task=abc123 url=http://h/f?sig=***\n"));
    ck_assert_ptr_null(strstr(buf, "secret"));
    ck_assert_ptr_null(strstr(buf, "not at info"));
    /* logrotate renames; the next lines go to a new file at the old name */
    ck_assert_int_eq(rename(path, old), 0);
    log_info("before reopen");
    ck_assert_int_eq(log_reopen(), 0);
    log_init("tester", LOG_LEVEL_INFO, LOG_FORMAT_JSON);
    log_task(LOG_LEVEL_WARN, NULL, "abc123", "http://h/f", "after \"reopen\"");
    ck_assert_ptr_nonnull(strstr(slurp(old, buf, sizeof(buf)), "before reopen"));
    ck_assert_ptr_nonnull(strstr(slurp(path, buf, sizeof(buf)),
                                 "\"msg\":\"after \\\"reopen\\\"\",\"task\":\"abc123\","
                                 "\"url\":\"http://h/f\"}\n"));
    log_set_level(LOG_LEVEL_WARN);
    log_info("dropped at warn");
    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("any", "kept at debug");
    ck_assert_ptr_null(strstr(slurp(path, buf, sizeof(buf)), "dropped at warn"));
    ck_assert_ptr_nonnull(strstr(buf, "kept at debug"));
    log_open(NULL);
    log_init("tester", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    ck_assert_int_eq(log_reopen(), 0); /* stderr: nothing to reopen */
    unlink(path);
    unlink(old);
    rmdir(dir);
}

END_TEST

Suite *test_log_suite(void);

Suite *
test_log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    tcase_add_test(tc, test_redact_url);
    tcase_add_test(tc, test_secret_headers);
    tcase_add_test(tc, test_line_format);
    tcase_add_test(tc, test_task_fields_reopen_level);
    suite_add_tcase(s, tc);
    return s;
}
