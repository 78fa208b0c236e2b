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

Suite *test_log_suite(void);

Suite *
test_log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    tcase_add_test(tc, test_redact_url);
    tcase_add_test(tc, test_secret_headers);
    tcase_add_test(tc, test_line_format);
    suite_add_tcase(s, tc);
    return s;
}
