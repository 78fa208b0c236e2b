/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's cache never trusts what it cannot prove (SECURITY-REVIEW H3, M1, M5): a full
 * disk mid-download, a data file zeroed or deleted while the peer is down or up, a peer
 * killed with unsynced pieces, and fds over many tiny tasks. Every get ends with exactly the
 * origin's bytes or a clear failure, never exit 0 with other bytes.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

struct st_env {
    char *dir;
    struct it_proc origin, sched, seed, peer, peer2;
    char origin_addr[64], sched_addr[64];
};

/* Start `dragonfly <args...>` (NULL-terminated) as name and wait for its ready file. */
static void
st_start(struct st_env *e, struct it_proc *p, const char *name, ...)
{
    char ready[700];
    const char *argv[48];
    const char *a;
    size_t n = 0;
    va_list ap;

    snprintf(ready, sizeof(ready), "%s/%s.ready", e->dir, name);
    unlink(ready);
    argv[n++] = it_bin();
    va_start(ap, name);
    while ((a = va_arg(ap, const char *)) != NULL && n < 44)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    argv[n] = NULL;
    ck_assert_int_eq(
            it_proc_start(p, e->dir, name, (char *const *)(uintptr_t)argv, ready, IT_READY_MS), 0);
}

/* A peer on 127.0.0.(60+i) with data dir <dir>/<name> and an optional scheduler. */
static void
st_start_peer(struct st_env *e, struct it_proc *p, const char *name, int i, const char *sched)
{
    char ip[32], data[700];

    snprintf(ip, sizeof(ip), "127.0.0.%d", 60 + i);
    snprintf(data, sizeof(data), "%s/%s", e->dir, name);
    if (sched != NULL)
        st_start(e, p, name, "peer", "--ip", ip, "--rpc-port", "0", "--upload-port", "0",
                 "--data-dir", data, "--scheduler", sched, "--announce-interval", "1s", NULL);
    else
        st_start(e, p, name, "peer", "--ip", ip, "--rpc-port", "0", "--upload-port", "0",
                 "--data-dir", data, "--source-idle-timeout", "3s", "--download-concurrency", "2",
                 NULL);
}

static void
st_up(struct st_env *e)
{
    char tool[512], ready[700];
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)),
                          "--listen",
                          "127.0.0.59:0",
                          "--ready-file",
                          ready,
                          NULL};

    memset(e, 0, sizeof(*e));
    e->dir = it_tmpdir();
    ck_assert_ptr_nonnull(e->dir);
    snprintf(ready, sizeof(ready), "%s/origin.ready", e->dir);
    ck_assert_int_eq(it_proc_start(&e->origin, e->dir, "origin", (char *const *)(uintptr_t)argv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(e->origin_addr, sizeof(e->origin_addr), "%s", it_proc_ready_str(&e->origin, "http"));
}

/* Stop everything; each daemon still running must exit 0 (under ASan: no leak either). */
static void
st_down(struct st_env *e)
{
    struct it_proc *daemons[] = {&e->peer2, &e->peer, &e->seed, &e->sched};
    int status[4];

    for (size_t i = 0; i < 4; i++)
        status[i] = daemons[i]->pid > 0 ? it_proc_stop(daemons[i]) : 0;
    it_proc_stop(&e->origin);
    for (size_t i = 0; i < 4; i++)
        if (status[i] != 0)
            it_proc_dump_log(daemons[i]);
    it_rmtree(e->dir);
    free(e->dir);
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(status[i] == 0, "daemon %zu exited with status %d", i, status[i]);
}

/* get url (--tag tag unless NULL) through the peer whose data dir is <dir>/<name> into
 * <dir>/<out>: exit status, the output in *log. */
static int
st_get_tag(struct st_env *e, const char *name, const char *url, const char *tag, const char *out,
           char **log)
{
    return it_shf(log, 120,
                  "%s get '%s' %s%s -O %s/%s --socket %s/%s/dfdaemon.sock --no-progress "
                  "--timeout 60s 2>&1",
                  it_bin(), url, tag != NULL ? "--tag " : "", tag != NULL ? tag : "", e->dir, out,
                  e->dir, name);
}

static int
st_get(struct st_env *e, const char *name, const char *url, const char *out, char **log)
{
    return st_get_tag(e, name, url, NULL, out, log);
}

/* <dir>/<out> holds exactly the bytes of /gen/<size>?seed=<seed>. */
static bool
st_same(struct st_env *e, const char *size, int seed, const char *out)
{
    char tool[512];

    return it_shf(NULL, 60, "%s --gen %s --seed %d | cmp -s - %s/%s",
                  it_tool("origin", tool, sizeof(tool)), size, seed, e->dir, out) == 0;
}

static bool
st_log_has(const struct it_proc *p, const char *what)
{
    return it_shf(NULL, 10, "grep -q -F -- '%s' %s", what, p->log_path) == 0;
}

/* Number of open descriptors of pid. */
static int
st_fds(pid_t pid)
{
    char *out = NULL;
    int n = -1;

    if (it_shf(&out, 10, "ls /proc/%d/fd | wc -l", (int)pid) == 0 && out != NULL)
        n = (int)strtol(out, NULL, 10);
    free(out);
    return n;
}

/* The task id of url as the peer computes it (from its log line "task <12 hex> new"). */
static char *
st_data_file(struct st_env *e, const char *name)
{
    char *out = NULL;

    ck_assert_int_eq(it_shf(&out, 10, "find %s/%s/content/tasks -type f | head -1", e->dir, name),
                     0);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(out[0] == '/', "no data file under %s/%s", e->dir, name);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

/* ---------------------------------------------------------------- tests */

/*
 * it_get_enospc_resume (H3): the data dir is a 12 MiB tmpfs, a 40 MB get fills it. After
 * space comes back, a get of the same URL (same peer, and after a restart) has the origin's
 * bytes or fails; it never exits 0 with other bytes (before the fix: rc=0, MiBs of zeros).
 */
START_TEST(it_get_enospc_resume)
{
    struct st_env e;
    char *out = NULL;
    int rc;

    st_up(&e);
    if (geteuid() != 0 || it_shf(NULL, 10, "unshare -m --propagation private true") != 0) {
        fprintf(stderr, "it_storage: disk-full test skipped (needs root and unshare)\n");
        st_down(&e);
        return;
    }
    rc = it_shf(&out, 170,
                "cd %s && mkdir -p dd && unshare -m --propagation private sh -c '"
                "mount -t tmpfs -o size=12m tmpfs dd || exit 99; "
                "start() { rm -f ready; %s peer --ip 127.0.0.61 --rpc-port 0 --upload-port 0 "
                "--metrics-port 0 --proxy-listen 0 "
                "--data-dir $PWD/dd/p --ready-file $PWD/ready --log-file $PWD/peer.log & P=$!; "
                "for i in $(seq 600); do [ -s ready ] && break; sleep 0.1; done; }; "
                "start; trap \"kill \\$P\" EXIT; "
                "G=\"%s get --socket $PWD/dd/p/dfdaemon.sock --no-progress --timeout 60s\"; "
                "U=http://%s/gen/40000000?seed=31; "
                "$G $U -O $PWD/o1 2>&1; echo rc1=$?; "
                "mount -o remount,size=64m dd || exit 98; "
                "$G $U -O $PWD/o2 2>&1; echo rc2=$?; "
                /* and across a restart, with the disk filled and freed again */
                "rm -rf dd/p/content; mount -o remount,size=12m dd; "
                "$G http://%s/gen/40000000?seed=32 -O $PWD/o3 2>&1; echo rc3=$?; "
                "kill $P; wait $P; mount -o remount,size=64m dd; start; "
                "$G http://%s/gen/40000000?seed=32 -O $PWD/o4 2>&1; echo rc4=$?'",
                e.dir, it_bin(), it_bin(), e.origin_addr, e.origin_addr, e.origin_addr);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    ck_assert_msg(strstr(out, "No space left on device\nrc1=1\n") != NULL, "disk full: %s", out);
    ck_assert_msg(strstr(out, "rc3=1\n") != NULL, "second disk full: %s", out);
    /* after the space came back: the origin's bytes (or a clear failure, never rc=0 + junk) */
    if (strstr(out, "rc2=0\n") != NULL)
        ck_assert_msg(st_same(&e, "40000000", 31, "o2"), "rc=0 with other bytes: %s", out);
    else
        ck_assert_msg(access("o2", F_OK) != 0, "a failed get left an output: %s", out);
    if (strstr(out, "rc4=0\n") != NULL)
        ck_assert_msg(st_same(&e, "40000000", 32, "o4"), "rc=0 with other bytes: %s", out);
    /* with space back, the gets do succeed */
    ck_assert_msg(strstr(out, "rc2=0\n") != NULL && strstr(out, "rc4=0\n") != NULL,
                  "gets after the disk was freed failed: %s", out);
    free(out);
    st_down(&e);
}

END_TEST

/* The peer without a scheduler, on 127.0.0.61, data dir <dir>/peer. */
static void
st_start_solo(struct st_env *e)
{
    st_start_peer(e, &e->peer, "peer", 1, NULL);
}

/* Body bytes the origin sent for target. */
static uint64_t
st_origin_bytes(struct st_env *e, const char *target)
{
    uint64_t v = 0;

    ck_assert_int_eq(it_origin_bytes(e->origin_addr, target, &v), 0);
    return v;
}

/*
 * M5 / resume re-check: a peer killed (SIGKILL) mid-download leaves rows that were never
 * sealed. While it is down, the data file loses every write, as a power cut would lose
 * writes never synced (storage.sync=none) while their rows reached the WAL. The restarted
 * peer re-hashes what it recorded, drops the pieces that fail and fetches them again: the
 * output is the origin's bytes (before: rc=0 with zeros where the rows claimed pieces).
 */
START_TEST(it_get_m5_unsynced_pieces_rechecked)
{
    struct st_env e;
    char url[256], url2[256], *log = NULL, *data = NULL;
    uint64_t first, second;
    int rc;

    st_up(&e);
    st_start_solo(&e);
    snprintf(url, sizeof(url), "http://%s/gen/40MiB?seed=33&trickle=8MiB/s", e.origin_addr);
    snprintf(url2, sizeof(url2), "http://%s/gen/40MiB?seed=33", e.origin_addr);
    it_shf(NULL, 10,
           "(%s get '%s' -O %s/o1 --socket %s/peer/dfdaemon.sock --no-progress "
           "--filtered-query-params trickle > /dev/null 2>&1 &); sleep 2.5",
           it_bin(), url, e.dir, e.dir);
    it_proc_kill(&e.peer);
    first = st_origin_bytes(&e, "/gen/40MiB?seed=33&trickle=8MiB/s");
    ck_assert_msg(first > (4u << 20) && first < (40u << 20), "first run sent %" PRIu64, first);
    data = st_data_file(&e, "peer");
    ck_assert_int_eq(it_shf(NULL, 30,
                            "s=$(stat -c %%s %s); dd if=/dev/zero of=%s bs=64k "
                            "count=$(( (s + 65535) / 65536 )) conv=notrunc status=none && "
                            "truncate -s $s %s",
                            data, data, data),
                     0);
    st_start_solo(&e);
    rc = it_shf(&log, 120,
                "%s get '%s' -O %s/o2 --socket %s/peer/dfdaemon.sock --no-progress "
                "--filtered-query-params trickle 2>&1",
                it_bin(), url2, e.dir, e.dir);
    ck_assert_msg(rc == 0, "%s", log);
    ck_assert_msg(st_same(&e, "40MiB", 33, "o2"), "rc=0 with other bytes");
    ck_assert_msg(st_log_has(&e.peer, "failed its re-check"), "nothing was re-checked");
    ck_assert_msg(st_log_has(&e.peer, "rows not sealed (interrupted or unclean stop)"),
                  "no unclean-stop notice");
    /* every recorded piece was lost, so the whole content came again */
    second = st_origin_bytes(&e, "/gen/40MiB?seed=33");
    ck_assert_msg(second >= (40u << 20) - 64, "only %" PRIu64 " bytes refetched", second);
    free(data);
    free(log);
    st_down(&e);
}

END_TEST

/*
 * Item 4: a finished task is trusted after a restart only while its data file is as it was
 * sealed. One 4 KiB block is zeroed while the peer is down: the restarted peer re-checks,
 * refetches that one piece only, and gets the origin's bytes. Then, with the peer up, the
 * data file is deleted: the next get refetches rather than "resuming" into a new empty file
 * (H3's mechanism, before: rc=0 and zeros).
 */
START_TEST(it_get_cache_recheck_after_restart)
{
    struct st_env e;
    char url[256], *log = NULL, *data = NULL;
    uint64_t before, after;
    int rc;

    st_up(&e);
    st_start_solo(&e);
    snprintf(url, sizeof(url), "http://%s/gen/24MiB?seed=34", e.origin_addr);
    rc = st_get(&e, "peer", url, "o1", &log);
    ck_assert_msg(rc == 0, "%s", log);
    free(log);
    before = st_origin_bytes(&e, "/gen/24MiB?seed=34");
    ck_assert_uint_eq(it_proc_stop(&e.peer), 0);
    data = st_data_file(&e, "peer");
    ck_assert_int_eq(it_shf(NULL, 10,
                            "dd if=/dev/zero of=%s bs=4096 seek=1000 count=1 conv=notrunc "
                            "status=none",
                            data),
                     0);
    st_start_solo(&e);
    rc = st_get(&e, "peer", url, "o2", &log);
    ck_assert_msg(rc == 0, "%s", log);
    free(log);
    ck_assert_msg(st_same(&e, "24MiB", 34, "o2"), "rc=0 with other bytes");
    ck_assert(st_log_has(&e.peer, "changed since it was sealed"));
    ck_assert(st_log_has(&e.peer, "failed its re-check"));
    after = st_origin_bytes(&e, "/gen/24MiB?seed=34");
    ck_assert_msg(after > before && after - before <= (4u << 20),
                  "refetched %" PRIu64 " bytes, want one piece", after - before);

    /* deleted under a running peer once the task is sealed and out of memory */
    for (int i = 0; i < 50 && !st_log_has(&e.peer, "done: 25165824 bytes"); i++)
        usleep(100000);
    usleep(300000);
    ck_assert_int_eq(unlink(data), 0);
    rc = st_get(&e, "peer", url, "o3", &log);
    ck_assert_msg(rc == 0, "%s", log);
    ck_assert_msg(st_same(&e, "24MiB", 34, "o3"), "rc=0 with other bytes");
    ck_assert(st_log_has(&e.peer, "data file missing: its recorded pieces are dropped"));
    ck_assert_uint_ge(st_origin_bytes(&e, "/gen/24MiB?seed=34"), after + (24u << 20));
    free(log);
    free(data);
    st_down(&e);
}

END_TEST

/*
 * it_get_tiny_fd_leak (M1): tiny tasks through a swarm (peer A fetches each first, so that
 * peer B is answered with the digests and then the tiny content): B's descriptor count stays
 * flat over 100 tiny gets.
 */
START_TEST(it_get_tiny_fd_leak)
{
    struct st_env e;
    char data[700], *out = NULL;
    int before, after, before_a, after_a, rc;

    st_up(&e);
    st_start(&e, &e.sched, "scheduler", "scheduler", "--listen", "127.0.0.58:0", "--metrics-listen",
             "127.0.0.58:0", "--seed-wait", "2s", NULL);
    snprintf(e.sched_addr, sizeof(e.sched_addr), "%s", it_proc_ready_str(&e.sched, "rpc"));
    snprintf(data, sizeof(data), "%s/seed", e.dir);
    st_start(&e, &e.seed, "seed", "peer", "--seed", "--ip", "127.0.0.57", "--rpc-port", "0",
             "--upload-port", "0", "--data-dir", data, "--scheduler", e.sched_addr,
             "--announce-interval", "1s", NULL);
    st_start_peer(&e, &e.peer, "pa", 2, e.sched_addr);
    st_start_peer(&e, &e.peer2, "pb", 3, e.sched_addr);
    /* tiny gets of n tags (from k on) through A, then B; prints the failures */
#define TINY_GETS(k, n)                                                           \
    it_shf(&out, 170,                                                             \
           "cd %s && for i in $(seq %d %d); do for p in pa pb; do "               \
           "%s get http://%s/gen/100?seed=35 --tag t$i -O $PWD/tiny-$p --socket " \
           "$PWD/$p/dfdaemon.sock --no-progress --timeout 30s > get.log 2>&1 || " \
           "{ echo \"$p t$i: $(cat get.log)\"; exit 1; }; done; done",            \
           e.dir, (k), (k) + (n)-1, it_bin(), e.origin_addr)
    rc = TINY_GETS(1, 5);
    ck_assert_msg(rc == 0, "%s", out);
    free(out);
    usleep(500000); /* let the finished tasks seal and go */
    before = st_fds(e.peer2.pid);
    before_a = st_fds(e.peer.pid);
    rc = TINY_GETS(6, 100);
    ck_assert_msg(rc == 0, "%s", out);
    free(out);
    usleep(500000);
    after = st_fds(e.peer2.pid);
    after_a = st_fds(e.peer.pid);
    ck_assert(st_same(&e, "100", 35, "tiny-pb"));
    /* the content really came inline for B */
    ck_assert_msg(it_shf(&out, 10,
                         "curl -sS --max-time 10 http://%s/metrics | awk '$1 == "
                         "\"dragonfly_scheduler_tiny_task_responses_total\" {print $2}'",
                         it_proc_ready_str(&e.sched, "metrics")) == 0,
                  "metrics");
    ck_assert_msg(strtol(out, NULL, 10) >= 100, "tiny answers: %s", out);
    free(out);
    ck_assert_msg(after <= before + 4, "peer B fds %d -> %d over 100 tiny gets", before, after);
    ck_assert_msg(after_a <= before_a + 4, "peer A fds %d -> %d over 100 tiny gets", before_a,
                  after_a);
    st_down(&e);
#undef TINY_GETS
}

END_TEST

/*
 * M1, the other flow: peer B registers for a task the scheduler knows (geometry and digests
 * from peer A, which fetched it and left), so B stores the geometry in P2P and is then sent
 * back to source (no seed, no parent), which probes and sets the geometry again. B's
 * descriptor count stays flat over 20 such tasks (before: one more fd per task).
 */
START_TEST(it_get_p2p_back_to_source_fd_leak)
{
    struct st_env e;
    char *out = NULL, url[256], tag[16];
    int before = 0, after, rc;

    st_up(&e);
    st_start(&e, &e.sched, "scheduler", "scheduler", "--listen", "127.0.0.58:0", "--metrics-listen",
             "127.0.0.58:0", NULL);
    snprintf(e.sched_addr, sizeof(e.sched_addr), "%s", it_proc_ready_str(&e.sched, "rpc"));
    snprintf(url, sizeof(url), "http://%s/gen/3MiB?seed=36", e.origin_addr);
    st_start_peer(&e, &e.peer2, "pb", 3, e.sched_addr);
    for (int i = 0; i < 22; i++) {
        if (i == 2)
            before = st_fds(e.peer2.pid);
        snprintf(tag, sizeof(tag), "b%d", i);
        st_start_peer(&e, &e.peer, "pa", 2, e.sched_addr);
        rc = st_get_tag(&e, "pa", url, tag, "oa", &out);
        ck_assert_msg(rc == 0, "A, %s: %s", tag, out);
        free(out);
        ck_assert_uint_eq(it_proc_stop(&e.peer), 0);
        rc = st_get_tag(&e, "pb", url, tag, "ob", &out);
        ck_assert_msg(rc == 0, "B, %s: %s", tag, out);
        free(out);
    }
    usleep(300000); /* let the last task seal and go */
    after = st_fds(e.peer2.pid);
    ck_assert(st_same(&e, "3MiB", 36, "ob"));
    ck_assert_msg(after <= before + 3, "peer B fds %d -> %d over 20 P2P -> source tasks", before,
                  after);
    st_down(&e);
}

END_TEST

Suite *it_storage_suite(void);

Suite *
it_storage_suite(void)
{
    Suite *s = suite_create("it_storage");
    TCase *tc = tcase_create("storage");

    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, it_get_enospc_resume);
    tcase_add_test(tc, it_get_m5_unsynced_pieces_rechecked);
    tcase_add_test(tc, it_get_cache_recheck_after_restart);
    tcase_add_test(tc, it_get_tiny_fd_leak);
    tcase_add_test(tc, it_get_p2p_back_to_source_fd_leak);
    suite_add_tcase(s, tc);
    return s;
}
