/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/df_json.h"
#include "df/df_proc.h"

START_TEST(test_ready_file)
{
    char dir[] = "/tmp/df-proc-XXXXXX", path[64], buf[256];
    cJSON *doc = cJSON_CreateObject(), *back = NULL;
    struct df_error err;
    const char *s = NULL;
    FILE *f;
    size_t n;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ready.json", dir);
    cJSON_AddStringToObject(doc, "rpc", "127.0.0.1:4242");
    ck_assert_int_eq(df_proc_write_ready_file(path, doc, &err), 0);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_int_eq(df_json_parse(buf, n, NULL, &back, &err), 0);
    ck_assert_int_eq(df_json_get_str(back, "rpc", &s, &err), 0);
    ck_assert_str_eq(s, "127.0.0.1:4242");
    /* a directory that does not exist: clear error, nothing left behind */
    ck_assert_int_eq(df_proc_write_ready_file("/nonexistent-df/ready.json", doc, &err), DF_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-df/ready.json"));
    cJSON_Delete(doc);
    cJSON_Delete(back);
    unlink(path);
    rmdir(dir);
}

END_TEST

static void
on_stop(void *arg)
{
    struct event_base *base = arg;

    event_base_loopbreak(base);
}

static void
raise_term_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    kill(getpid(), SIGTERM);
}

START_TEST(test_sigterm_stops_loop)
{
    struct event_base *base = event_base_new();
    struct df_proc_signals *s = df_proc_signals_new(base, on_stop, NULL, base);
    struct timeval soon = {0, 1000}, deadline = {5, 0};

    ck_assert_ptr_nonnull(s);
    event_base_once(base, -1, EV_TIMEOUT, raise_term_cb, NULL, &soon);
    event_base_loopexit(base, &deadline);
    event_base_dispatch(base);
    ck_assert(event_base_got_break(base));
    df_proc_signals_free(s);
    event_base_free(base);
}

END_TEST

/* Group names come from the file itself; numbers are taken as they are. */
START_TEST(test_group_lookup)
{
    char path[] = "/tmp/df-group-XXXXXX";
    const char *text = "root:x:0:\ndragon:x:1234:a,b\ndragonfly:x:4321:\nbroken:x:zz:\nlast:x:7";
    struct df_error err;
    gid_t g = 99;
    int fd = mkstemp(path);

    ck_assert_int_ne(fd, -1);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ck_assert_int_eq(df_proc_group_lookup("dragonfly", path, &g, &err), 0);
    ck_assert_uint_eq(g, 4321);
    ck_assert_int_eq(df_proc_group_lookup("dragon", path, &g, &err), 0);
    ck_assert_uint_eq(g, 1234);
    ck_assert_int_eq(df_proc_group_lookup("last", path, &g, &err), 0);
    ck_assert_uint_eq(g, 7);
    ck_assert_int_eq(df_proc_group_lookup("555", path, &g, &err), 0);
    ck_assert_uint_eq(g, 555);
    ck_assert_int_eq(df_proc_group_lookup("drag", path, &g, &err), DF_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "no group \"drag\" in /tmp/df-group-"));
    ck_assert_int_eq(df_proc_group_lookup("broken", path, &g, &err), DF_EINVAL);
    ck_assert_int_eq(df_proc_group_lookup("a:b", path, &g, &err), DF_EINVAL);
    ck_assert_int_eq(df_proc_group_lookup("", path, &g, &err), DF_EINVAL);
    ck_assert_int_eq(df_proc_group_lookup("x", "/nonexistent/group", &g, &err), DF_EIO);
    ck_assert_uint_eq(g, 555); /* untouched on error */
    unlink(path);
}

END_TEST

Suite *test_df_proc_suite(void);

Suite *
test_df_proc_suite(void)
{
    Suite *s = suite_create("df_proc");
    TCase *tc = tcase_create("proc");

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_ready_file);
    tcase_add_test(tc, test_sigterm_stops_loop);
    tcase_add_test(tc, test_group_lookup);
    suite_add_tcase(s, tc);
    return s;
}
