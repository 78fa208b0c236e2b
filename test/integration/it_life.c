/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A peer's life as a user meets it (issue_8 §3): one peer per data dir, a live socket is
 * never taken over; the peer `get` starts says so, listens on loopback only, stays up while
 * it works and stops cleanly once idle; a user who may not use a root peer's socket is told
 * so; a scheduler outage is logged at WARN once and its end at INFO. Addresses 127.0.0.90-92.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

struct life {
    char *dir;
    struct it_proc origin, peer, sched;
    char origin_addr[64];
    pid_t auto_pid; /* a peer started by `get`: not our child, killed by pid in teardown */
};

static void
life_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void
life_up(struct life *l)
{
    char tool[512], ready[700];
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)),
                          "--listen",
                          "127.0.0.90:0",
                          "--ready-file",
                          ready,
                          NULL};

    memset(l, 0, sizeof(*l));
    l->dir = it_tmpdir();
    ck_assert_ptr_nonnull(l->dir);
    snprintf(ready, sizeof(ready), "%s/origin.ready", l->dir);
    ck_assert_int_eq(it_proc_start(&l->origin, l->dir, "origin", (char *const *)(uintptr_t)argv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(l->origin_addr, sizeof(l->origin_addr), "%s", it_proc_ready_str(&l->origin, "http"));
}

static void
life_down(struct life *l)
{
    if (l->auto_pid > 0)
        kill(l->auto_pid, SIGKILL);
    it_proc_stop(&l->peer);
    it_proc_stop(&l->sched);
    it_proc_stop(&l->origin);
    it_rmtree(l->dir);
    free(l->dir);
}

/* Start `dragonfly peer` on 127.0.0.91 with data dir <dir>/<data> and extra flags. */
static void
life_peer(struct life *l, struct it_proc *p, const char *name, const char *data, const char *f1,
          const char *f2, const char *f3, const char *f4)
{
    char ready[700], dd[700];
    const char *argv[] = {
            it_bin(), "peer",       "--ip", "127.0.0.91",   "--rpc-port", "0", "--upload-port",
            "0",      "--data-dir", dd,     "--ready-file", ready,        f1,  f2,
            f3,       f4,           NULL};

    snprintf(ready, sizeof(ready), "%s/%s.ready", l->dir, name);
    snprintf(dd, sizeof(dd), "%s/%s", l->dir, data);
    ck_assert_int_eq(
            it_proc_start(p, l->dir, name, (char *const *)(uintptr_t)argv, ready, IT_READY_MS), 0);
}

/* True once pid is gone (or a zombie nobody reaped yet). */
static bool
life_pid_gone(pid_t pid)
{
    char path[64], buf[512], *rp;
    FILE *f;
    bool gone;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return true;
    gone = fgets(buf, sizeof(buf), f) == NULL || (rp = strrchr(buf, ')')) == NULL ||
           rp[1] == '\0' || rp[2] == 'Z';
    fclose(f);
    return gone;
}

/* Wait up to timeout_s for a line containing what in path; true if it came. */
static bool
life_wait_log(const char *path, const char *what, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        if (it_shf(NULL, 10, "grep -qF '%s' %s", what, path) == 0)
            return true;
        life_sleep_ms(100);
    }
    return false;
}

/* Lines of path that contain what. */
static int
life_count_log(const char *path, const char *what)
{
    char *out = NULL;
    int n;

    it_shf(&out, 10, "grep -cF '%s' %s", what, path);
    n = out != NULL ? atoi(out) : -1;
    free(out);
    return n;
}

/*
 * issue_8 §3: a second peer on a data dir a running peer holds refuses at once, naming it,
 * and the first peer keeps its socket; a peer of another data dir does not take a live socket
 * over either. When the first one stops, its data dir is free again.
 */
START_TEST(test_one_peer_per_data_dir)
{
    struct life l;
    struct it_proc again, other;
    char *out = NULL, want[64], sock[700];
    struct stat st;
    int rc;

    life_up(&l);
    life_peer(&l, &l.peer, "peer", "data", NULL, NULL, NULL, NULL);
    snprintf(sock, sizeof(sock), "%s/data/dfdaemon.sock", l.dir);
    ck_assert_int_eq(stat(sock, &st), 0);

    rc = it_shf(&out, 10,
                "%s peer --ip 127.0.0.91 --rpc-port 0 --upload-port 0 --data-dir %s/data 2>&1",
                it_bin(), l.dir);
    ck_assert_msg(rc == 3, "rc %d: %s", rc, out);
    snprintf(want, sizeof(want), "in use by another peer (pid %ld)", (long)l.peer.pid);
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    ck_assert_msg(strchr(out, '\n') == strrchr(out, '\n'), "more than one line: %s", out);
    free(out);

    rc = it_shf(&out, 10,
                "%s peer --ip 127.0.0.91 --rpc-port 0 --upload-port 0 --data-dir %s/other "
                "--socket %s 2>&1",
                it_bin(), l.dir, sock);
    ck_assert_msg(rc == 1, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "another process listens on it") != NULL, "%s", out);
    free(out);

    /* the first peer still has its socket and answers on it */
    ck_assert_int_eq(stat(sock, &st), 0);
    rc = it_shf(&out, 60,
                "%s get 'http://%s/gen/64KiB?seed=80' -O %s/out --socket %s "
                "--no-progress 2>&1",
                it_bin(), l.origin_addr, l.dir, sock);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(strstr(out, "started a peer") == NULL, "%s", out);
    free(out);

    /* someone removed the socket and another peer made one there: the first peer's stop
     * leaves that one alone, a clean stop removes only the socket it made */
    ck_assert_int_eq(unlink(sock), 0);
    life_peer(&l, &other, "other", "other", "--socket", sock, NULL, NULL);
    ck_assert_int_eq(it_proc_stop(&l.peer), 0);
    ck_assert_int_eq(stat(sock, &st), 0);
    ck_assert_int_eq(it_proc_stop(&other), 0);
    ck_assert_int_ne(stat(sock, &st), 0);

    /* and the data dir is free again */
    life_peer(&l, &again, "again", "data", NULL, NULL, NULL, NULL);
    ck_assert_int_eq(stat(sock, &st), 0);
    ck_assert_int_eq(it_proc_stop(&again), 0);
    life_down(&l);
}

END_TEST

/* The pid in get's "started a peer: pid N, ..." line, or 0. */
static pid_t
life_started_pid(const char *out)
{
    const char *p = strstr(out, "started a peer: pid ");

    return p != NULL ? (pid_t)atol(p + strlen("started a peer: pid ")) : 0;
}

/*
 * <dir>/auto.json for a peer `get` starts: any ports (the defaults may be taken), 5 s idle.
 * The peer's idle clock starts before the get that started it has connected, so idleExit is
 * also how long that get may take to connect on a loaded machine: seconds, not one.
 */
static void
life_auto_config(struct life *l)
{
    ck_assert_int_eq(it_shf(NULL, 10,
                            "printf '{\"rpcPort\": 0, \"uploadPort\": 0, \"idleExit\": \"5s\", "
                            "\"readyFile\": \"%s/auto.ready\"}' > %s/auto.json",
                            l->dir, l->dir),
                     0);
}

/* The auto-started peer stops by itself within 60 s (loose: it idles out after 5 s). */
static void
life_auto_wait_gone(struct life *l)
{
    for (int i = 0; i < 600 && !life_pid_gone(l->auto_pid); i++)
        life_sleep_ms(100);
    ck_assert_msg(life_pid_gone(l->auto_pid), "the auto-started peer is still running");
    l->auto_pid = 0;
}

/* Wait up to timeout_s for path to exist. */
static bool
life_wait_file(const char *path, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        if (access(path, F_OK) == 0)
            return true;
        life_sleep_ms(100);
    }
    return false;
}

/*
 * issue_8 §3: `get` with no peer starts one and says so in one line (pid, data dir, log);
 * that peer listens on 127.0.0.1 only, stays while a download runs longer than its idle
 * period, and then stops by itself, cleanly, removing its socket.
 */
START_TEST(test_auto_started_peer_is_private_and_idles_out)
{
    struct life l;
    char *out = NULL, want[800], path[800];
    struct stat st;
    int rc, lines = 0;

    life_up(&l);
    /* no ip in its config: loopback */
    life_auto_config(&l);
    /* in the background: ~8 s of trickled body, past the idle period while the peer works */
    ck_assert_int_eq(it_shf(NULL, 10,
                            "cd %s && { %s get 'http://%s/gen/512KiB?seed=81&trickle=64KiB/s' "
                            "-O out --socket auto/dfdaemon.sock --data-dir auto --peer-config "
                            "auto.json --no-progress > get.out 2>&1; echo $? > get.tmp; "
                            "mv get.tmp get.rc; } > /dev/null 2>&1 &",
                            l.dir, it_bin(), l.origin_addr),
                     0);
    snprintf(path, sizeof(path), "%s/auto.ready", l.dir);
    ck_assert_msg(life_wait_file(path, 30), "the auto-started peer never got ready");
    ck_assert_int_eq(it_shf(&out, 10, "sed -n 's/.*\"pid\":[ \t]*\\([0-9]*\\).*/\\1/p' %s", path),
                     0);
    l.auto_pid = (pid_t)atol(out);
    free(out);
    ck_assert_int_gt(l.auto_pid, 1);

    /* while the get runs: every TCP listener of that pid is on 127.0.0.1 (RPC, upload,
     * metrics) */
    rc = it_shf(&out, 10, "ss -Hltnp | grep 'pid=%ld,' | awk '{print $4}'", (long)l.auto_pid);
    ck_assert_int_eq(rc, 0);
    for (char *s = out, *nl; (nl = strchr(s, '\n')) != NULL; s = nl + 1) {
        *nl = '\0';
        ck_assert_msg(strncmp(s, "127.0.0.1:", 10) == 0, "listens on %s", s);
        lines++;
    }
    free(out);
    ck_assert_int_eq(lines, 3);
    ck_assert_msg(!life_pid_gone(l.auto_pid), "the peer left while the get runs");

    snprintf(path, sizeof(path), "%s/get.rc", l.dir);
    ck_assert_msg(life_wait_file(path, 60), "the get never ended");
    ck_assert_int_eq(it_shf(&out, 10, "cat %s/get.rc %s/get.out", l.dir, l.dir), 0);
    ck_assert_msg(out[0] == '0' && out[1] == '\n', "%s", out);
    snprintf(want, sizeof(want),
             "started a peer: pid %ld, data dir %s/auto, log %s/auto/peer.log\n", (long)l.auto_pid,
             l.dir, l.dir);
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    free(out);
    snprintf(path, sizeof(path), "%s/want", l.dir);
    ck_assert_int_eq(it_gen("512KiB", 81, path), 0);
    ck_assert_int_eq(it_shf(NULL, 10, "cmp %s/out %s/want", l.dir, l.dir), 0);

    /* then it stops by itself: the SIGTERM path, socket removed */
    life_auto_wait_gone(&l);
    snprintf(path, sizeof(path), "%s/auto/peer.log", l.dir);
    ck_assert_int_eq(life_count_log(path, "idle for 5s: stopping"), 1);
    ck_assert_int_eq(life_count_log(path, "peer: stopped"), 1);
    snprintf(path, sizeof(path), "%s/auto/dfdaemon.sock", l.dir);
    ck_assert_int_ne(stat(path, &st), 0);
    life_down(&l);
}

END_TEST

/*
 * Two gets at once with no peer: one peer wins the data dir, the other get waits for it;
 * both get the bytes and only one "started" line is printed.
 */
START_TEST(test_concurrent_gets_share_one_auto_peer)
{
    struct life l;
    char *out = NULL, path[800];
    const char *first, *second;
    int rc;

    life_up(&l);
    life_auto_config(&l);
    rc = it_shf(&out, 90,
                "cd %s && for i in 1 2; do %s get 'http://%s/gen/256KiB?seed=82' -O out$i "
                "--socket auto/dfdaemon.sock --data-dir auto --peer-config auto.json "
                "--no-progress > get$i.log 2>&1 & done; wait %%1; a=$?; wait %%2; b=$?; "
                "cat get1.log get2.log; exit $((a + b))",
                l.dir, it_bin(), l.origin_addr);
    first = strstr(out, "started a peer: pid ");
    second = first != NULL ? strstr(first + 1, "started a peer: pid ") : NULL;
    l.auto_pid = life_started_pid(out);
    ck_assert_msg(rc == 0, "%s", out);
    ck_assert_msg(first != NULL && second == NULL, "%s", out);
    free(out);
    snprintf(path, sizeof(path), "%s/want", l.dir);
    ck_assert_int_eq(it_gen("256KiB", 82, path), 0);
    ck_assert_int_eq(it_shf(NULL, 10, "cmp %s/out1 %s/want && cmp %s/out2 %s/want", l.dir, l.dir,
                            l.dir, l.dir),
                     0);
    life_auto_wait_gone(&l);
    life_down(&l);
}

END_TEST

/* `get` as nobody (uid 65534) against the peer of <dir>/data. */
static int
life_get_as_nobody(struct life *l, char **out)
{
    return it_shf(out, 30,
                  "cd / && setpriv --reuid=65534 --regid=65534 --clear-groups %s get "
                  "'http://%s/gen/1KiB?seed=83' -O /tmp/it_life_never --socket "
                  "%s/data/dfdaemon.sock --data-dir %s/data --no-progress 2>&1",
                  it_bin(), l->origin_addr, l->dir, l->dir);
}

/*
 * issue_8 §3: a user who may not use a root peer's 0600 socket is told "permission denied on
 * SOCKET", and get neither starts a peer nor names a log.
 */
START_TEST(test_permission_denied_on_root_socket)
{
    struct life l;
    char *out = NULL, want[800];
    int rc;

    if (geteuid() != 0)
        return; /* needs a root peer and setpriv to another user */
    life_up(&l);
    life_peer(&l, &l.peer, "peer", "data", NULL, NULL, NULL, NULL);
    /* the directories may be crossed: only the socket's own mode keeps the user out */
    ck_assert_int_eq(it_shf(NULL, 10, "chmod 0711 %s %s/data", l.dir, l.dir), 0);
    rc = life_get_as_nobody(&l, &out);
    ck_assert_msg(rc == 1, "rc %d: %s", rc, out);
    snprintf(want, sizeof(want), "permission denied on %s/data/dfdaemon.sock: ", l.dir);
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    ck_assert_msg(strstr(out, "started") == NULL && strstr(out, ".log") == NULL, "%s", out);
    ck_assert_msg(strchr(out, '\n') == strrchr(out, '\n'), "more than one line: %s", out);
    free(out);
    /* the same with the data dir closed (0700, as the peer makes it) */
    ck_assert_int_eq(it_shf(NULL, 10, "chmod 0700 %s/data", l.dir), 0);
    rc = life_get_as_nobody(&l, &out);
    ck_assert_msg(rc == 1 && strstr(out, want) != NULL, "rc %d: %s", rc, out);
    free(out);
    ck_assert_int_ne(access("/tmp/it_life_never", F_OK), 0);
    ck_assert_int_ne(it_shf(NULL, 10, "test -e %s/data/peer.log", l.dir), 0);
    life_down(&l);
}

END_TEST

/* Start the scheduler on listen (127.0.0.92:0 first, then the same address again). */
static void
life_sched(struct life *l, const char *listen)
{
    char ready[700];
    const char *argv[] = {it_bin(),       "scheduler",    "--listen", listen, "--metrics-listen",
                          "127.0.0.92:0", "--ready-file", ready,      NULL};

    snprintf(ready, sizeof(ready), "%s/sched.ready", l->dir);
    unlink(ready);
    ck_assert_int_eq(it_proc_start(&l->sched, l->dir, "sched", (char *const *)(uintptr_t)argv,
                                   ready, IT_READY_MS),
                     0);
}

/*
 * issue_8 §4: a peer whose scheduler is down says so at WARN once for the outage (not on
 * every announce), and at INFO when it answers again.
 */
START_TEST(test_scheduler_outage_is_logged_once)
{
    struct life l;
    char addr[64];

    life_up(&l);
    life_sched(&l, "127.0.0.92:0");
    snprintf(addr, sizeof(addr), "%s", it_proc_ready_str(&l.sched, "rpc"));
    ck_assert_int_eq(it_proc_stop(&l.sched), 0);
    life_peer(&l, &l.peer, "peer", "data", "--scheduler", addr, "--announce-interval", "1s");
    ck_assert_msg(life_wait_log(l.peer.log_path, "unreachable", 30), "no warning");
    /* several more announces fail: still one warning */
    life_sleep_ms(3000);
    ck_assert_int_eq(life_count_log(l.peer.log_path, "unreachable"), 1);
    ck_assert_int_eq(life_count_log(l.peer.log_path, "reachable again"), 0);
    life_sched(&l, addr);
    ck_assert_msg(life_wait_log(l.peer.log_path, "reachable again", 30), "no recovery line");
    ck_assert_int_eq(life_count_log(l.peer.log_path, "unreachable"), 1);
    /* a second outage is a second warning */
    ck_assert_int_eq(it_proc_stop(&l.sched), 0);
    for (int i = 0; i < 300 && life_count_log(l.peer.log_path, "unreachable") < 2; i++)
        life_sleep_ms(100);
    ck_assert_int_eq(life_count_log(l.peer.log_path, "unreachable"), 2);
    life_down(&l);
}

END_TEST

Suite *it_life_suite(void);

Suite *
it_life_suite(void)
{
    Suite *s = suite_create("it_life");
    TCase *tc = tcase_create("life");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_one_peer_per_data_dir);
    tcase_add_test(tc, test_auto_started_peer_is_private_and_idles_out);
    tcase_add_test(tc, test_concurrent_gets_share_one_auto_peer);
    tcase_add_test(tc, test_permission_denied_on_root_socket);
    tcase_add_test(tc, test_scheduler_outage_is_logged_once);
    suite_add_tcase(s, tc);
    return s;
}
