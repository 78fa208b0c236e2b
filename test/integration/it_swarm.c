/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P2P swarm with real processes on 127.0.0.x: an origin test server, a scheduler, a
 * seed peer and several peers, each `dragonfly get` through its own peer. The origin must
 * serve each task about once, peers must feed each other, and every output must be exactly
 * the origin's bytes through a parent killed mid-transfer, a parent whose cache is corrupt,
 * a scheduler killed and restarted, no scheduler at all, and tiny and empty files.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "df/df_json.h"
#include "harness/harness.h"

#define SW_MAX_PEERS 8
#define MIB          (UINT64_C(1) << 20)

struct sw {
    char *dir;
    struct it_proc origin, sched, seed, peers[SW_MAX_PEERS];
    int npeers;
    char origin_addr[64], sched_addr[64];
    char seed_metrics[64], metrics[SW_MAX_PEERS][64]; /* their /metrics addresses */
};

/* Start `dragonfly <argv...>` (NULL-terminated) as name, waiting for its ready file. */
#define sw_start(s, p, name, ...) ck_assert_int_eq(it_df_start(p, (s)->dir, name, __VA_ARGS__), 0)

/* The scheduler on 127.0.0.41 (listen "127.0.0.41:0" first, the same address on restart). */
static void
sw_start_sched(struct sw *s, const char *listen)
{
    sw_start(s, &s->sched, "scheduler", "scheduler", "--listen", listen, "--metrics-listen",
             "127.0.0.41:0", "--seed-wait", "2s", "--stall-timeout", "5s", NULL);
    snprintf(s->sched_addr, sizeof(s->sched_addr), "%s", it_proc_ready_str(&s->sched, "rpc"));
}

/* Peer i (127.0.0.(50+i)) with one extra flag pair (or NULLs). */
static void
sw_start_peer(struct sw *s, int i, const char *sched, const char *f1, const char *f2)
{
    char name[32], ip[32], data[700];

    snprintf(name, sizeof(name), "peer%d", i);
    snprintf(ip, sizeof(ip), "127.0.0.%d", 50 + i);
    snprintf(data, sizeof(data), "%s/%s", s->dir, name);
    sw_start(s, &s->peers[i], name, "peer", "--ip", ip, "--rpc-port", "0", "--upload-port", "0",
             "--data-dir", data, "--scheduler", sched, "--source-idle-timeout", "5s",
             "--announce-interval", "1s", IT_ALLOW_ORIGIN, "127.0.0.40", f1, f2, NULL);
    snprintf(s->metrics[i], sizeof(s->metrics[i]), "%s",
             it_proc_ready_str(&s->peers[i], "metrics"));
}

/*
 * Origin, scheduler, seed and n peers. upload_rate ("8MiB/s" or NULL) caps every peer's and
 * the seed's upload so that transfers last long enough to be interrupted.
 */
static void
sw_up(struct sw *s, int n, const char *upload_rate)
{
    char tool[512], ready[700], data[700];
    const char *oargv[] = {it_tool("origin", tool, sizeof(tool)),
                           "--listen",
                           "127.0.0.40:0",
                           "--ready-file",
                           ready,
                           NULL};
    const char *rl = upload_rate != NULL ? "--upload-rate-limit" : NULL;

    memset(s, 0, sizeof(*s));
    s->dir = it_tmpdir();
    ck_assert_ptr_nonnull(s->dir);
    snprintf(ready, sizeof(ready), "%s/origin.ready", s->dir);
    ck_assert_int_eq(it_proc_start(&s->origin, s->dir, "origin", (char *const *)(uintptr_t)oargv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(s->origin_addr, sizeof(s->origin_addr), "%s", it_proc_ready_str(&s->origin, "http"));
    sw_start_sched(s, "127.0.0.41:0");
    snprintf(data, sizeof(data), "%s/seed", s->dir);
    sw_start(s, &s->seed, "seed", "peer", "--seed", "--ip", "127.0.0.42", "--rpc-port", "0",
             "--upload-port", "0", "--data-dir", data, "--scheduler", s->sched_addr,
             "--announce-interval", "1s", IT_ALLOW_ORIGIN, "127.0.0.40", rl, upload_rate, NULL);
    snprintf(s->seed_metrics, sizeof(s->seed_metrics), "%s",
             it_proc_ready_str(&s->seed, "metrics"));
    s->npeers = n;
    for (int i = 0; i < n; i++)
        sw_start_peer(s, i, s->sched_addr, rl, upload_rate);
}

static void
sw_down(struct sw *s)
{
    for (int i = 0; i < s->npeers; i++)
        it_proc_stop(&s->peers[i]);
    it_proc_stop(&s->seed);
    it_proc_stop(&s->sched);
    it_proc_stop(&s->origin);
    it_rmtree(s->dir);
    free(s->dir);
}

/* Expected bytes of /gen/<size>?seed=<seed> into <dir>/<name>. */
static void
sw_gen(struct sw *s, const char *size, int seed, const char *name)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s", s->dir, name);
    ck_assert_int_eq(it_gen(size, seed, path), 0);
}

static void
sw_url(struct sw *s, const char *size, int seed, char *url, size_t len)
{
    snprintf(url, len, "http://%s/gen/%s?seed=%d", s->origin_addr, size, seed);
}

/* Start `get url` on peers [first, first+n) in the background; outputs out<i>, rc<i>. */
static void
sw_get_start(struct sw *s, const char *url, int first, int n, const char *flags)
{
    char cmd[16384];
    size_t len = 0;

    for (int i = first; i < first + n; i++) {
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
                                "rm -f %s/rc%d; (%s get '%s' -O %s/out%d --socket %s/peer%d/"
                                "dfdaemon.sock --no-progress --timeout 100s %s > %s/get%d.log "
                                "2>&1; echo $? > %s/rc%d.tmp; mv %s/rc%d.tmp %s/rc%d) "
                                ">/dev/null 2>&1 &\n",
                                s->dir, i, it_bin(), url, s->dir, i, s->dir, i,
                                flags != NULL ? flags : "", s->dir, i, s->dir, i, s->dir, i, s->dir,
                                i);
        ck_assert(len < sizeof(cmd));
    }
    ck_assert_int_eq(it_sh(cmd, NULL, 10), 0);
}

/* Exit status of get i, waiting for it up to timeout_s; -1 if it did not end. */
static int
sw_get_wait(struct sw *s, int i, int timeout_s)
{
    char path[700], *out = NULL;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/rc%d", s->dir, i);
    for (int k = 0; k < timeout_s * 10; k++) {
        if (access(path, F_OK) == 0)
            break;
        it_sleep_ms(100);
    }
    if (it_shf(&out, 10, "cat %s", path) == 0)
        rc = (int)strtol(out, NULL, 10);
    free(out);
    return rc;
}

static char *
sw_get_log(struct sw *s, int i)
{
    char *out = NULL;

    it_shf(&out, 10, "cat %s/get%d.log", s->dir, i);
    return out;
}

/* get i exited 0 and out<i> equals want. */
static void
sw_expect_ok(struct sw *s, int i, const char *want)
{
    int rc = sw_get_wait(s, i, 110);
    char *log = sw_get_log(s, i);

    ck_assert_msg(rc == 0, "get on peer%d: exit %d: %s", i, rc, log);
    ck_assert_msg(it_shf(NULL, 60, "cmp -s %s/out%d %s/%s", s->dir, i, s->dir, want) == 0,
                  "get on peer%d: wrong bytes (%s)", i, log);
    free(log);
}

/* Body bytes the origin sent for /gen/<size>?seed=<seed><query>. */
static uint64_t
sw_origin_bytes_q(struct sw *s, const char *size, int seed, const char *query)
{
    char target[256];
    uint64_t v = 0;

    snprintf(target, sizeof(target), "/gen/%s?seed=%d%s", size, seed, query);
    ck_assert_int_eq(it_origin_bytes(s->origin_addr, target, &v), 0);
    return v;
}

static uint64_t
sw_origin_bytes(struct sw *s, const char *size, int seed)
{
    return sw_origin_bytes_q(s, size, seed, "");
}

/* A counter from a /metrics page at addr (0 when absent). */
static uint64_t
sw_metric(const char *addr, const char *name)
{
    char *out = NULL;
    uint64_t v = 0;

    if (it_shf(&out, 10,
               "curl -sS --max-time 10 'http://%s/metrics' | awk '$1 == \"%s\" {print $2}'", addr,
               name) == 0 &&
        out != NULL)
        v = strtoull(out, NULL, 10);
    free(out);
    return v;
}

static bool
sw_log_has(const struct it_proc *p, const char *what)
{
    char *out = NULL;
    bool found;

    found = it_shf(&out, 10, "grep -c -F -- '%s' %s", what, p->log_path) == 0;
    free(out);
    return found;
}

/* The seed uploads its first piece (up to a minute). */
static void
sw_wait_seed_upload(struct sw *s)
{
    for (int k = 0; k < 1200; k++) {
        if (sw_metric(s->seed_metrics, "dragonfly_peer_upload_bytes_total") > 0)
            break;
        it_sleep_ms(50);
    }
}

/* Kill the scheduler and start a new one on the same address (it knows nothing). */
static void
sw_restart_sched(struct sw *s, const char *listen)
{
    it_proc_kill(&s->sched);
    it_sleep_ms(500);
    sw_start_sched(s, listen);
}

/* ---------------------------------------------------------------- tests */

/* 8 peers fetch one 64 MiB file at once: one origin fetch, peers feed each other. */
START_TEST(test_eight_peers_one_origin_fetch)
{
    struct sw s;
    char url[256];
    uint64_t from_origin, from_seed, from_peers = 0;
    const uint64_t size = 64 * MIB;

    sw_up(&s, 8, NULL);
    sw_gen(&s, "64MiB", 3, "want");
    sw_url(&s, "64MiB", 3, url, sizeof(url));
    sw_get_start(&s, url, 0, 8, NULL);
    for (int i = 0; i < 8; i++)
        sw_expect_ok(&s, i, "want");
    from_origin = sw_origin_bytes(&s, "64MiB", 3);
    ck_assert_msg(from_origin <= size + size / 20, "origin sent %" PRIu64 " bytes for %" PRIu64,
                  from_origin, size);
    from_seed = sw_metric(s.seed_metrics, "dragonfly_peer_upload_bytes_total");
    for (int i = 0; i < 8; i++)
        from_peers += sw_metric(s.metrics[i], "dragonfly_peer_upload_bytes_total");
    ck_assert_msg(from_seed + from_peers >= 8 * size, "uploads %" PRIu64 " + %" PRIu64, from_seed,
                  from_peers);
    ck_assert_msg(from_peers > from_seed,
                  "most bytes should come from peers: seed %" PRIu64 ", peers %" PRIu64, from_seed,
                  from_peers);
    /* Each peer accounts for every byte, by origin and by parent, in /metrics and in get. */
    for (int i = 0; i < 8; i++) {
        char *log = sw_get_log(&s, i);
        uint64_t got = sw_metric(s.metrics[i], "dragonfly_peer_p2p_bytes_total") +
                       sw_metric(s.metrics[i], "dragonfly_peer_source_bytes_total");

        ck_assert_msg(got == size, "peer%d counted %" PRIu64 " bytes", i, got);
        ck_assert_msg(strstr(log, "from peers") != NULL && strstr(log, "127.0.0.") != NULL,
                      "get on peer%d does not say where bytes came from: %s", i, log);
        free(log);
    }
    sw_down(&s);
}

END_TEST

/* A parent killed mid-transfer: every other peer still ends with the right bytes. */
START_TEST(test_parent_killed)
{
    struct sw s;
    char url[256];
    int victim = -1;

    sw_up(&s, 5, "12MiB/s");
    sw_gen(&s, "48MiB", 4, "want");
    sw_url(&s, "48MiB", 4, url, sizeof(url));
    sw_get_start(&s, url, 0, 5, NULL);
    /* The first peer that uploads something is a parent mid-transfer (up to a minute). */
    for (int k = 0; k < 1200 && victim < 0; k++) {
        for (int i = 0; i < 5 && victim < 0; i++)
            if (sw_metric(s.metrics[i], "dragonfly_peer_upload_bytes_total") > 0)
                victim = i;
        if (victim < 0)
            it_sleep_ms(50);
    }
    ck_assert_msg(victim >= 0, "no peer became a parent");
    it_proc_kill(&s.peers[victim]);
    for (int i = 0; i < 5; i++)
        if (i != victim)
            sw_expect_ok(&s, i, "want");
    ck_assert_uint_le(sw_origin_bytes(&s, "48MiB", 4), 48 * MIB + 48 * MIB / 20);
    sw_down(&s);
}

END_TEST

/*
 * A parent whose cache was corrupted after it verified its pieces serves wrong bytes: its
 * children reject every such piece, strike and block it, report it to the scheduler, and
 * still end with the right bytes from elsewhere.
 */
START_TEST(test_corrupt_parent_blocked)
{
    struct sw s;
    char url[256], *out = NULL;

    sw_up(&s, 4, NULL);
    sw_gen(&s, "16MiB", 5, "want");
    sw_url(&s, "16MiB", 5, url, sizeof(url));
    sw_get_start(&s, url, 0, 1, NULL);
    sw_expect_ok(&s, 0, "want");
    /* Same length, other bytes: what a bad disk or a malicious peer would serve. */
    ck_assert_int_eq(it_shf(&out, 10, "ls %s/peer0/content/tasks/*/*", s.dir), 0);
    out[strcspn(out, "\n")] = '\0';
    ck_assert_int_eq(it_shf(NULL, 30,
                            "dd if=/dev/urandom of=%s bs=1M count=16 conv=notrunc 2>/dev/null",
                            out),
                     0);
    free(out);
    sw_get_start(&s, url, 1, 3, NULL);
    for (int i = 1; i < 4; i++)
        sw_expect_ok(&s, i, "want");
    ck_assert_msg(sw_log_has(&s.sched, "blocked for peer"), "the scheduler heard no report");
    ck_assert_msg(sw_log_has(&s.peers[1], "blocked") || sw_log_has(&s.peers[2], "blocked") ||
                          sw_log_has(&s.peers[3], "blocked"),
                  "no child blocked the corrupt parent");
    ck_assert_uint_le(sw_origin_bytes(&s, "16MiB", 5), 16 * MIB + 16 * MIB / 20);
    sw_down(&s);
}

END_TEST

/*
 * The scheduler is killed while the seed is still fetching from a slow origin and its
 * children are mid-transfer, and restarted on the same address: every download completes,
 * the origin is not fetched again (the seed registers again with the pieces it has), and
 * afterwards a new peer is served from the swarm because the peers registered what they
 * hold again.
 */
START_TEST(test_scheduler_restart)
{
    static const char slow[] = "&trickle=2MiB/s";
    struct sw s;
    char url[256], listen[64];
    uint64_t before;

    sw_up(&s, 5, "12MiB/s");
    sw_gen(&s, "32MiB", 6, "want");
    sw_url(&s, "32MiB", 6, url, sizeof(url));
    snprintf(url + strlen(url), sizeof(url) - strlen(url), "%s", slow);
    snprintf(listen, sizeof(listen), "%s", s.sched_addr);
    sw_get_start(&s, url, 0, 4, NULL);
    sw_wait_seed_upload(&s);
    ck_assert_uint_lt(sw_origin_bytes_q(&s, "32MiB", 6, slow), 32 * MIB);
    sw_restart_sched(&s, listen);
    for (int i = 0; i < 4; i++)
        sw_expect_ok(&s, i, "want");
    before = sw_origin_bytes_q(&s, "32MiB", 6, slow);
    ck_assert_uint_le(before, 32 * MIB + 32 * MIB / 20);
    /* The seed and the four peers registered what they hold with the new scheduler
     * (waiting for that, not for a fixed time; up to a minute). */
    for (int k = 0; k < 600; k++) {
        if (sw_metric(it_proc_ready_str(&s.sched, "metrics"), "dragonfly_scheduler_peers") >= 5)
            break;
        it_sleep_ms(100);
    }
    ck_assert_uint_ge(
            sw_metric(it_proc_ready_str(&s.sched, "metrics"), "dragonfly_scheduler_peers"), 5);
    sw_get_start(&s, url, 4, 1, NULL);
    sw_expect_ok(&s, 4, "want");
    ck_assert_uint_eq(sw_origin_bytes_q(&s, "32MiB", 6, slow), before);
    sw_down(&s);
}

END_TEST

/*
 * issue 10: a restarted scheduler heard from the peers before the seed re-announced (the
 * seed is stopped here until they have registered again) and sent one of them to the
 * origin. Within its startup grace it lets them wait for the seed instead: the origin
 * serves the task about once.
 */
START_TEST(test_issue_10_restart_seed_late)
{
    static const char slow[] = "&trickle=2MiB/s";
    struct sw s;
    char url[256], listen[64];

    sw_up(&s, 2, "12MiB/s");
    sw_gen(&s, "32MiB", 10, "want");
    sw_url(&s, "32MiB", 10, url, sizeof(url));
    snprintf(url + strlen(url), sizeof(url) - strlen(url), "%s", slow);
    snprintf(listen, sizeof(listen), "%s", s.sched_addr);
    sw_get_start(&s, url, 0, 2, NULL);
    sw_wait_seed_upload(&s);
    ck_assert_uint_lt(sw_origin_bytes_q(&s, "32MiB", 10, slow), 32 * MIB);
    ck_assert_int_eq(kill(s.seed.pid, SIGSTOP), 0);
    sw_restart_sched(&s, listen);
    /* Both peers register again (they retry within 1.5 s); the seed cannot announce. */
    for (int k = 0; k < 100; k++) {
        if (sw_metric(it_proc_ready_str(&s.sched, "metrics"), "dragonfly_scheduler_peers") >= 2)
            break;
        it_sleep_ms(50);
    }
    ck_assert_int_eq(kill(s.seed.pid, SIGCONT), 0);
    for (int i = 0; i < 2; i++)
        sw_expect_ok(&s, i, "want");
    ck_assert_uint_le(sw_origin_bytes_q(&s, "32MiB", 10, slow), 32 * MIB + 32 * MIB / 20);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(!sw_log_has(&s.peers[i], "back to source (scheduler)"),
                      "the scheduler sent peer%d to the origin", i);
    sw_down(&s);
}

END_TEST

/* No scheduler answers: a peer goes to the origin itself, or fails with --no-back-to-source. */
START_TEST(test_scheduler_absent)
{
    struct sw s;
    char url[256], *log;
    struct stat st;
    char out[700];

    sw_up(&s, 0, NULL);
    it_proc_stop(&s.sched);
    s.npeers = 2;
    sw_start_peer(&s, 0, s.sched_addr, NULL, NULL);
    sw_start_peer(&s, 1, s.sched_addr, "--no-back-to-source", NULL);
    sw_gen(&s, "8MiB", 7, "want");
    sw_url(&s, "8MiB", 7, url, sizeof(url));
    sw_get_start(&s, url, 0, 2, NULL);
    sw_expect_ok(&s, 0, "want");
    ck_assert_int_ne(sw_get_wait(&s, 1, 60), 0);
    log = sw_get_log(&s, 1);
    ck_assert_msg(strstr(log, "back-to-source is disabled") != NULL, "unclear error: %s", log);
    ck_assert_msg(strchr(log, '\n') == strrchr(log, '\n'), "more than one line: %s", log);
    free(log);
    snprintf(out, sizeof(out), "%s/out1", s.dir);
    ck_assert_msg(stat(out, &st) != 0, "a failed get left its output");
    sw_down(&s);
}

END_TEST

/*
 * A finished peer stopped with SIGTERM leaves the scheduler: nobody is sent to it, so the
 * next peer fetches without a single failed piece.
 */
START_TEST(test_stopped_peer_leaves)
{
    struct sw s;
    char url[256], metrics[64];
    int status;

    sw_up(&s, 2, NULL);
    snprintf(metrics, sizeof(metrics), "%s", it_proc_ready_str(&s.sched, "metrics"));
    sw_gen(&s, "16MiB", 11, "want");
    sw_url(&s, "16MiB", 11, url, sizeof(url));
    sw_get_start(&s, url, 0, 1, NULL);
    sw_expect_ok(&s, 0, "want");
    status = it_proc_stop(&s.peers[0]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer0 stop: status %d", status);
    ck_assert_uint_eq(sw_metric(metrics, "dragonfly_scheduler_leave_host_total"), 1);
    sw_get_start(&s, url, 1, 1, NULL);
    sw_expect_ok(&s, 1, "want");
    ck_assert_msg(!sw_log_has(&s.peers[1], "strike"), "peer1 was sent to the stopped peer");
    sw_down(&s);
}

END_TEST

/* With a dead scheduler listed first, peers fail over to the next one and still share. */
START_TEST(test_scheduler_failover)
{
    struct sw s;
    char url[256], list[160];

    sw_up(&s, 0, NULL);
    snprintf(list, sizeof(list), "127.0.0.41:1,%s", s.sched_addr);
    s.npeers = 2;
    sw_start_peer(&s, 0, list, NULL, NULL);
    sw_start_peer(&s, 1, list, NULL, NULL);
    sw_gen(&s, "8MiB", 10, "want");
    sw_url(&s, "8MiB", 10, url, sizeof(url));
    sw_get_start(&s, url, 0, 2, NULL);
    sw_expect_ok(&s, 0, "want");
    sw_expect_ok(&s, 1, "want");
    ck_assert_uint_le(sw_origin_bytes(&s, "8MiB", 10), 8 * MIB + 8 * MIB / 20);
    sw_down(&s);
}

END_TEST

/* Tiny (inline from the scheduler) and empty tasks through the swarm. */
START_TEST(test_tiny_and_empty)
{
    struct sw s;
    char url[256];
    struct stat st;
    char out[700];

    sw_up(&s, 4, NULL);
    sw_gen(&s, "100", 8, "want");
    sw_url(&s, "100", 8, url, sizeof(url));
    sw_get_start(&s, url, 0, 2, NULL);
    sw_expect_ok(&s, 0, "want");
    sw_expect_ok(&s, 1, "want");
    sw_get_start(&s, url, 2, 2, NULL);
    sw_expect_ok(&s, 2, "want");
    sw_expect_ok(&s, 3, "want");
    ck_assert_uint_le(sw_origin_bytes(&s, "100", 8), 2 * 100);
    /* Once the seed has it, the content comes inline in the scheduler's answer. */
    ck_assert_uint_ge(sw_metric(it_proc_ready_str(&s.sched, "metrics"),
                                "dragonfly_scheduler_tiny_task_responses_total"),
                      2);

    sw_url(&s, "0", 9, url, sizeof(url));
    sw_get_start(&s, url, 0, 4, NULL);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(sw_get_wait(&s, i, 60), 0);
        snprintf(out, sizeof(out), "%s/out%d", s.dir, i);
        ck_assert_int_eq(stat(out, &st), 0);
        ck_assert_int_eq(st.st_size, 0);
    }
    sw_down(&s);
}

END_TEST

Suite *it_swarm_suite(void);

Suite *
it_swarm_suite(void)
{
    Suite *s = suite_create("it_swarm");
    TCase *tc = tcase_create("swarm");

    tcase_set_timeout(tc, 400); /* a hang guard, far above a loaded sanitizer run */
    tcase_add_test(tc, test_eight_peers_one_origin_fetch);
    tcase_add_test(tc, test_parent_killed);
    tcase_add_test(tc, test_corrupt_parent_blocked);
    tcase_add_test(tc, test_scheduler_restart);
    tcase_add_test(tc, test_issue_10_restart_seed_late);
    tcase_add_test(tc, test_scheduler_absent);
    tcase_add_test(tc, test_scheduler_failover);
    tcase_add_test(tc, test_stopped_peer_leaves);
    tcase_add_test(tc, test_tiny_and_empty);
    suite_add_tcase(s, tc);
    return s;
}
