/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Priorities end to end on 127.0.48.0/24 (this suite's): a manager with an application
 * whose priority is LEVEL3 with one URL rule at LEVEL1, a scheduler under the manager that
 * fetches it, a seed and a peer, an origin test server. Each get is a task's first download:
 * the matching URL of the application is refused (forbidden), another of its URLs comes from
 * the origin through the peer itself (the seed fetched nothing), -p 2 answers not found, and
 * the default (LEVEL6) goes through the seed. A refused get reaches nobody's origin. The
 * proxy the same way, with 403 and 404 for the refusals. A peer without a scheduler keeps
 * LEVEL1 and LEVEL2 from the origin itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness/harness.h"

#define PR_MGR    "127.0.48.1"
#define PR_SCHED  "127.0.48.2"
#define PR_SEED   "127.0.48.3"
#define PR_PEER   "127.0.48.4"
#define PR_ALONE  "127.0.48.5"
#define PR_ORIGIN "127.0.48.9"
#define PR_APP    "prio-app"

struct pr {
    char *dir;
    struct it_proc origin, mgr, sched, seed, peer;
    char rest[64], origin_addr[64], token[2048];
};

static struct pr P;

/* REST as root: the status must be want. */
static void
pr_rest(const char *method, const char *path, const char *body, int want)
{
    char *out = NULL;
    int status = it_rest(P.rest, P.token, method, path, body, &out);

    ck_assert_msg(status == want, "%s %s: %d %s, want %d", method, path, status,
                  out != NULL ? out : "", want);
    free(out);
}

/* The value of a metric line (name with its labels, as the page spells it) at addr; -1: none. */
static long long
pr_metric(const char *addr, const char *series)
{
    char *out = NULL;
    long long v = -1;

    if (it_shf(&out, 10, "curl -s http://%s/metrics | awk -v k='%s' '$1 == k {print $2}'", addr,
               series) == 0 &&
        out != NULL && out[0] != '\0')
        v = atoll(out);
    free(out);
    return v;
}

static uint64_t
pr_origin_bytes(const char *target)
{
    uint64_t n = 0;

    ck_assert_int_eq(it_origin_bytes(P.origin_addr, target, &n), 0);
    return n;
}

/* `dragonfly get` of the origin's target through the peer named peer with args: the exit
 * status; its stderr into why. */
static int
pr_get_via(const char *peer, const char *args, const char *target, const char *out, char *why,
           size_t len)
{
    char *text = NULL, *rc;
    int status;

    ck_assert_int_eq(it_shf(&text, 120,
                            "%s get --socket %s/%s/dfdaemon.sock --no-progress %s -O %s/%s "
                            "'http://%s%s' 2>&1 >/dev/null; echo \"rc=$?\"",
                            it_bin(), P.dir, peer, args, P.dir, out, P.origin_addr, target),
                     0);
    rc = strstr(text, "rc=");
    ck_assert_ptr_nonnull(rc);
    status = atoi(rc + 3);
    *rc = '\0';
    snprintf(why, len, "%s", text);
    free(text);
    return status;
}

static int
pr_get(const char *args, const char *target, const char *out, char *why, size_t len)
{
    return pr_get_via("peer", args, target, out, why, len);
}

/* out holds what the origin serves at /gen/<size>?seed=<seed>. */
static void
pr_same(const char *out, const char *size, int seed)
{
    char want[700];

    snprintf(want, sizeof(want), "%s/want-%d", P.dir, seed);
    ck_assert_int_eq(it_gen(size, seed, want), 0);
    ck_assert_int_eq(it_shf(NULL, 30, "cmp -s %s %s/%s", want, P.dir, out), 0);
}

static void
pr_setup(void)
{
    char tool[512], ready[700], dd[700], conf[700], *out = NULL;
    const char *oargv[] = {it_tool("origin", tool, sizeof(tool)),
                           "--listen",
                           PR_ORIGIN ":0",
                           "--ready-file",
                           ready,
                           NULL};
    const char *rpc, *sched_rpc, *sched_metrics;
    cJSON *doc;

    memset(&P, 0, sizeof(P));
    P.dir = it_tmpdir();
    snprintf(ready, sizeof(ready), "%s/origin.ready", P.dir);
    ck_assert_int_eq(it_proc_start(&P.origin, P.dir, "origin", (char *const *)(uintptr_t)oargv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(P.origin_addr, sizeof(P.origin_addr), "%s", it_proc_ready_str(&P.origin, "http"));
    snprintf(dd, sizeof(dd), "%s/mgr", P.dir);
    ck_assert_int_eq(it_df_start(&P.mgr, P.dir, "manager", "manager", "--listen", PR_MGR ":0",
                                 "--rpc-listen", PR_MGR ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000", NULL),
                     0);
    snprintf(P.rest, sizeof(P.rest), "%s", it_proc_ready_str(&P.mgr, "rest"));
    rpc = it_proc_ready_str(&P.mgr, "rpc");
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -H 'Content-Type: application/json' -d "
                            "'{\"name\":\"root\",\"password\":\"dragonfly\"}' "
                            "http://%s/api/v1/users/signin",
                            P.rest),
                     0);
    doc = cJSON_Parse(out);
    ck_assert_msg(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "token")), "signin: %s",
                  out);
    snprintf(P.token, sizeof(P.token), "%s",
             cJSON_GetObjectItemCaseSensitive(doc, "token")->valuestring);
    cJSON_Delete(doc);
    free(out);
    /* the application: LEVEL3, but LEVEL1 for one URL (the first rule that matches wins) */
    pr_rest("POST", "/api/v1/applications",
            "{\"name\":\"" PR_APP "\",\"url\":\"https://example.com/prio\",\"priority\":{"
            "\"value\":3,\"urls\":[{\"regex\":\"/gen/3MiB\\\\?seed=1$\",\"value\":1},"
            "{\"regex\":\"seed=1\",\"value\":6}]},\"user_id\":1}",
            200);
    ck_assert(it_write(P.dir, "sched.json", "{\"manager\":{\"refreshInterval\":\"1s\"}}"));
    snprintf(conf, sizeof(conf), "%s/sched.json", P.dir);
    ck_assert_int_eq(it_df_start(&P.sched, P.dir, "scheduler", "scheduler", "--config", conf,
                                 "--listen", PR_SCHED ":0", "--metrics-listen", PR_SCHED ":0",
                                 "--manager", rpc, "--hostname", "pr-sched", NULL),
                     0);
    if (!it_log_wait(&P.sched, "manager: 1 applications with a priority: " PR_APP "=3", 30000)) {
        it_proc_dump_log(&P.sched);
        ck_abort_msg("the scheduler never held the application");
    }
    sched_rpc = it_proc_ready_str(&P.sched, "rpc");
    sched_metrics = it_proc_ready_str(&P.sched, "metrics");
    snprintf(dd, sizeof(dd), "%s/seed", P.dir);
    ck_assert_int_eq(it_df_start(&P.seed, P.dir, "seed", "peer", "--seed", "--ip", PR_SEED,
                                 "--hostname", "pr-seed", "--data-dir", dd, "--rpc-port", "0",
                                 "--upload-port", "0", "--metrics-port", "0", "--proxy-listen",
                                 "off", "--scheduler", sched_rpc, IT_ALLOW_ORIGIN, PR_ORIGIN, NULL),
                     0);
    snprintf(dd, sizeof(dd), "%s/peer", P.dir);
    ck_assert_int_eq(it_df_start(&P.peer, P.dir, "peer", "peer", "--ip", PR_PEER, "--hostname",
                                 "pr-peer", "--data-dir", dd, "--rpc-port", "0", "--upload-port",
                                 "0", "--metrics-port", "0", "--proxy-listen", PR_PEER ":0",
                                 "--scheduler", sched_rpc, IT_ALLOW_ORIGIN, PR_ORIGIN, NULL),
                     0);
    /* both hosts announced: a register from an unknown host would be refused otherwise */
    for (int i = 0; pr_metric(sched_metrics, "dragonfly_scheduler_hosts") != 2; i++) {
        ck_assert_msg(i < 300, "the seed and the peer never announced");
        it_sleep_ms(100);
    }
}

static void
pr_teardown(void)
{
    struct it_proc *all[] = {&P.peer, &P.seed, &P.sched, &P.mgr, &P.origin};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i]->pid > 0)
            it_proc_stop(all[i]);
        cJSON_Delete(all[i]->ready);
    }
    it_rmtree(P.dir);
    free(P.dir);
}

START_TEST(test_first_download_by_priority)
{
    const char *sm = it_proc_ready_str(&P.sched, "metrics");
    const char *seed_m = it_proc_ready_str(&P.seed, "metrics");
    const char *peer_m = it_proc_ready_str(&P.peer, "metrics");
    char why[1024];

    /* -p 0: the application decides; its LEVEL1 rule forbids this URL */
    ck_assert_int_ne(
            pr_get("-p 0 --application " PR_APP, "/gen/3MiB?seed=1", "out1", why, sizeof(why)), 0);
    ck_assert_str_eq(why, "dragonfly get: LEVEL1 peer is forbidden: the scheduler refuses a "
                          "first download at this priority (-p 0: the level of the manager's "
                          "application)\n");
    ck_assert_uint_eq(pr_origin_bytes("/gen/3MiB?seed=1"), 0);
    /* another URL of the application: its value LEVEL3, the peer goes to the origin itself */
    ck_assert_int_eq(
            pr_get("-p 0 --application " PR_APP, "/gen/3MiB?seed=2", "out2", why, sizeof(why)), 0);
    pr_same("out2", "3MiB", 2);
    ck_assert_uint_ge(pr_origin_bytes("/gen/3MiB?seed=2"), 3u << 20);
    ck_assert_int_ge(pr_metric(peer_m, "dragonfly_peer_source_bytes_total"), 3 << 20);
    ck_assert_int_eq(pr_metric(seed_m, "dragonfly_peer_source_bytes_total"), 0);
    ck_assert_int_eq(pr_metric(sm, "dragonfly_scheduler_seed_trigger_total"), 0);
    /* -p 2 on a new task (no application): nobody has it, nobody may fetch it */
    ck_assert_int_ne(pr_get("-p 2", "/gen/3MiB?seed=3", "out3", why, sizeof(why)), 0);
    ck_assert_str_eq(why, "dragonfly get: LEVEL2 peer not found candidate peers: the scheduler "
                          "refuses a first download at this priority (-p 2)\n");
    ck_assert_uint_eq(pr_origin_bytes("/gen/3MiB?seed=3"), 0);
    /* a bad level is the option's error */
    ck_assert_int_eq(pr_get("-p 7", "/gen/3MiB?seed=3", "out3", why, sizeof(why)), 2);
    ck_assert_msg(strstr(why, "-p: must be at most 6") != NULL, "%s", why);
    /* the default, LEVEL6: the seed fetches it, the peer takes it from the seed */
    ck_assert_int_eq(pr_get("", "/gen/3MiB?seed=4", "out4", why, sizeof(why)), 0);
    pr_same("out4", "3MiB", 4);
    ck_assert_int_eq(pr_metric(sm, "dragonfly_scheduler_seed_trigger_total"), 1);
    ck_assert_int_ge(pr_metric(seed_m, "dragonfly_peer_source_bytes_total"), 3 << 20);
    ck_assert_int_lt(pr_metric(peer_m, "dragonfly_peer_source_bytes_total"), 4 << 20);
    /* the same application with a LEVEL6 get: the peer's own level wins over it */
    ck_assert_int_eq(pr_get("--application " PR_APP, "/gen/3MiB?seed=1", "out5", why, sizeof(why)),
                     0);
    pr_same("out5", "3MiB", 1);
    ck_assert_int_eq(pr_metric(sm, "dragonfly_scheduler_seed_trigger_total"), 2);
    /* the registrations by the level each download asked */
    ck_assert_int_eq(
            pr_metric(sm, "dragonfly_scheduler_register_peer_failure_total{priority=\"LEVEL0\"}"),
            1);
    ck_assert_int_eq(
            pr_metric(sm, "dragonfly_scheduler_register_peer_failure_total{priority=\"LEVEL2\"}"),
            1);
    ck_assert_int_ge(pr_metric(sm, "dragonfly_scheduler_register_peer_total{priority=\"LEVEL6\"}"),
                     4); /* the seed's two and the peer's two */
    /* the peer's LEVEL0 download went to the source and finished; the seed's LEVEL6 ones too */
    ck_assert_int_eq(pr_metric(sm, "dragonfly_scheduler_download_peer_back_to_source_started_total{"
                                   "priority=\"LEVEL0\"}"),
                     1);
    ck_assert_int_eq(pr_metric(sm, "dragonfly_scheduler_download_peer_finished_total{priority="
                                   "\"LEVEL0\"}"),
                     1);
    ck_assert_int_ge(pr_metric(sm, "dragonfly_scheduler_download_peer_back_to_source_started_total{"
                                   "priority=\"LEVEL6\"}"),
                     2);
}

END_TEST

/* A GET of the origin's target through the peer's proxy (P2P) with the headers args: the
 * status; X-Dragonfly-Error-Type into type. */
static int
pr_proxy(const char *args, const char *target, char *type, size_t len)
{
    char *out = NULL, *t;
    int code = 0;

    ck_assert_int_eq(it_shf(&out, 60,
                            "curl -sS --max-time 60 -o /dev/null -D - -x http://%s "
                            "-H 'X-Dragonfly-Use-P2P: true' %s -w 'code=%%{http_code}\\n' "
                            "'http://%s%s' | tr 'A-Z' 'a-z'",
                            it_proc_ready_str(&P.peer, "proxy"), args, P.origin_addr, target),
                     0);
    ck_assert_int_eq(sscanf(strstr(out, "code="), "code=%d", &code), 1);
    t = strstr(out, "x-dragonfly-error-type: ");
    snprintf(type, len, "%.*s", t != NULL ? (int)strcspn(t + 24, "\r\n") : 0,
             t != NULL ? t + 24 : "");
    free(out);
    return code;
}

/* The proxy sends X-Dragonfly-Priority and -Application; the scheduler's refusals are its
 * 403 (LEVEL1) and 404 (LEVEL2), and its LEVEL3 fetches from the origin without the seed. */
START_TEST(test_proxy_by_priority)
{
    const char *sm = it_proc_ready_str(&P.sched, "metrics");
    const char *seed_m = it_proc_ready_str(&P.seed, "metrics");
    char type[64];

    ck_assert_int_eq(pr_proxy("-H 'X-Dragonfly-Priority: 0' -H 'X-Dragonfly-Application: " PR_APP
                              "'",
                              "/gen/3MiB?seed=1", type, sizeof(type)),
                     403);
    ck_assert_str_eq(type, "dfdaemon");
    ck_assert_int_eq(
            pr_proxy("-H 'X-Dragonfly-Priority: 2'", "/gen/3MiB?seed=3", type, sizeof(type)), 404);
    ck_assert_uint_eq(pr_origin_bytes("/gen/3MiB?seed=1"), 0);
    ck_assert_uint_eq(pr_origin_bytes("/gen/3MiB?seed=3"), 0);
    ck_assert_int_eq(pr_proxy("-H 'X-Dragonfly-Priority: 0' -H 'X-Dragonfly-Application: " PR_APP
                              "'",
                              "/gen/3MiB?seed=2", type, sizeof(type)),
                     200);
    ck_assert_int_eq(pr_metric(sm, "dragonfly_scheduler_seed_trigger_total"), 0);
    ck_assert_int_eq(pr_metric(seed_m, "dragonfly_peer_source_bytes_total"), 0);
    /* a header that does not parse is the default, LEVEL6: through the seed */
    ck_assert_int_eq(
            pr_proxy("-H 'X-Dragonfly-Priority: high'", "/gen/3MiB?seed=4", type, sizeof(type)),
            200);
    ck_assert_int_eq(pr_metric(sm, "dragonfly_scheduler_seed_trigger_total"), 1);
}

END_TEST

/* A peer without a scheduler has nobody to ask: it keeps LEVEL1 and LEVEL2 from the origin
 * itself (get and proxy alike), serves them what it holds, and fetches the rest as usual. */
START_TEST(test_no_scheduler)
{
    struct it_proc alone = {0};
    char dd[700], why[1024];

    snprintf(dd, sizeof(dd), "%s/alone", P.dir);
    ck_assert_int_eq(it_df_start(&alone, P.dir, "alone", "peer", "--ip", PR_ALONE, "--hostname",
                                 "pr-alone", "--data-dir", dd, "--rpc-port", "0", "--upload-port",
                                 "0", "--metrics-port", "0", "--proxy-listen", "off",
                                 IT_ALLOW_ORIGIN, PR_ORIGIN, NULL),
                     0);
    ck_assert_int_ne(pr_get_via("alone", "-p 1", "/gen/1MiB?seed=5", "a1", why, sizeof(why)), 0);
    ck_assert_str_eq(why, "dragonfly get: content not in the cache and back-to-source is "
                          "disabled\n");
    ck_assert_int_ne(pr_get_via("alone", "-p 2", "/gen/1MiB?seed=5", "a2", why, sizeof(why)), 0);
    ck_assert_uint_eq(pr_origin_bytes("/gen/1MiB?seed=5"), 0);
    ck_assert_int_eq(pr_get_via("alone", "-p 3", "/gen/1MiB?seed=5", "a3", why, sizeof(why)), 0);
    ck_assert_int_eq(pr_get_via("alone", "-p 1", "/gen/1MiB?seed=5", "a4", why, sizeof(why)), 0);
    pr_same("a4", "1MiB", 5);
    /* fetched once (and the byte of its size probe), then served from the cache */
    ck_assert_uint_ge(pr_origin_bytes("/gen/1MiB?seed=5"), 1u << 20);
    ck_assert_uint_le(pr_origin_bytes("/gen/1MiB?seed=5"), (1u << 20) + 1);
    it_proc_stop(&alone);
    cJSON_Delete(alone.ready);
}

END_TEST

Suite *it_prio_suite(void);

Suite *
it_prio_suite(void)
{
    Suite *s = suite_create("it_prio");
    TCase *tc = tcase_create("prio");

    tcase_add_checked_fixture(tc, pr_setup, pr_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_first_download_by_priority);
    tcase_add_test(tc, test_proxy_by_priority);
    tcase_add_test(tc, test_no_scheduler);
    suite_add_tcase(s, tc);
    return s;
}
