/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/df_json.h"
#include "df/df_proc.h"
#include "df/log.h"

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

/*
 * A fake service manager: a datagram socket bound at name ("/path" or "@abstract"), which
 * $NOTIFY_SOCKET then names. Returns the socket.
 */
static int
fake_notify_socket(const char *name)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    struct timeval tv = {5, 0};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ne(fd, -1);
    ck_assert_uint_lt(n, sizeof(un.sun_path));
    memcpy(un.sun_path, name, n);
    if (name[0] == '@')
        un.sun_path[0] = '\0';
    else
        n++;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
                     0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
    return fd;
}

/* The next datagram on fd, as a string. */
static void
fake_notify_recv(int fd, char *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap - 1, 0);

    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
}

START_TEST(test_notify)
{
    char dir[] = "/tmp/df-notify-XXXXXX", path[64], abs_name[64], buf[64];
    int fd;

    /* no service manager: nothing to do */
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(df_proc_notify("READY=1"), 0);
    /* a socket path, as systemd sets it */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    fd = fake_notify_socket(path);
    ck_assert_int_eq(df_proc_notify("READY=1"), 0);
    fake_notify_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1");
    close(fd);
    unlink(path);
    rmdir(dir);
    /* nobody listening any more */
    ck_assert_int_eq(df_proc_notify("READY=1"), DF_EIO);
    /* the abstract namespace */
    snprintf(abs_name, sizeof(abs_name), "@df-notify-test-%ld", (long)getpid());
    fd = fake_notify_socket(abs_name);
    ck_assert_int_eq(df_proc_notify("STOPPING=1"), 0);
    fake_notify_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "STOPPING=1");
    close(fd);
    /* no unix socket name */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    ck_assert_int_eq(df_proc_notify("READY=1"), DF_EINVAL);
    setenv("NOTIFY_SOCKET", "@", 1);
    ck_assert_int_eq(df_proc_notify("READY=1"), DF_EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

END_TEST

/* A daemon with nothing in it: started, it sends itself SIGTERM; stopping is immediate. */
static int
empty_start(void *arg, struct event_base *base, struct df_error *err)
{
    (void)err;
    *(struct event_base **)arg = base;
    return 0;
}

static void
empty_started(void *arg)
{
    struct timeval soon = {0, 1000};

    event_base_once(*(struct event_base **)arg, -1, EV_TIMEOUT, raise_term_cb, NULL, &soon);
}

static void
empty_stop(void *arg, void (*done)(void *), void *done_arg)
{
    (void)arg;
    done(done_arg);
}

static void
empty_free(void *arg)
{
    (void)arg;
}

/* Every role starts through df_proc_daemon_run: READY=1 once started, STOPPING=1 on SIGTERM. */
START_TEST(test_daemon_notifies)
{
    char name[64], buf[64];
    struct event_base *base = NULL;
    struct df_proc_daemon d = {.cmd = "test",
                               .component = "test",
                               .log_level = LOG_LEVEL_ERROR,
                               .start = empty_start,
                               .started = empty_started,
                               .stop = empty_stop,
                               .free = empty_free,
                               .arg = &base};
    int fd;

    snprintf(name, sizeof(name), "@df-notify-daemon-%ld", (long)getpid());
    fd = fake_notify_socket(name);
    ck_assert_int_eq(df_proc_daemon_run(&d), 0);
    fake_notify_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1");
    fake_notify_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "STOPPING=1");
    close(fd);
    /* a socket nobody listens on (inherited from someone else's service): still runs */
    setenv("NOTIFY_SOCKET", "/nonexistent-df/notify", 1);
    ck_assert_int_eq(df_proc_daemon_run(&d), 0);
    unsetenv("NOTIFY_SOCKET");
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
    tcase_add_test(tc, test_notify);
    tcase_add_test(tc, test_daemon_notifies);
    suite_add_tcase(s, tc);
    return s;
}
