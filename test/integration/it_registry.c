/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's registry with real processes on 127.0.1.x: a scheduler and a seed peer
 * register through the manager (--manager), a peer finds the scheduler through it and
 * downloads through the swarm; the REST lists show them (liveness read at request time),
 * a killed scheduler reads inactive within 15 s; a second cluster with CIDR scopes gets the
 * peers of that CIDR while the others keep cluster-1, and loses them to cluster-1 when its
 * scheduler dies; under mTLS a certificate registers only its own host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness/harness.h"

#define RG_MGR_IP    "127.0.1.1"
#define RG_SCHED_IP  "127.0.1.2"
#define RG_SEED_IP   "127.0.1.3"
#define RG_PEER_IP   "127.0.1.4"
#define RG_ORIGIN_IP "127.0.1.9"
#define RG_CIDR      "127.0.1.64/26" /* cluster-2's scope */
#define RG_SCHED2_IP "127.0.1.66"
#define RG_PEER2_IP  "127.0.1.70"

struct rg {
    char *dir;
    struct it_proc mgr, sched, sched2, seed, peer, peer2, origin;
    char rest[64], rpc[64], origin_addr[64];
    char token[1024];
};

static struct rg R;

static void
rg_kill(struct it_proc *p)
{
    if (p->pid > 0)
        it_proc_kill(p);
    cJSON_Delete(p->ready);
    p->ready = NULL;
}

/* curl method path (with the root token, body may be NULL): the status, the body in *out. */
static int
rg_req(const char *method, const char *path, const char *body, char **out)
{
    int status = it_rest(R.rest, R.token, method, path, body, out);

    ck_assert_int_ne(status, -1);
    return status;
}

/* GET path as a JSON document (the caller frees it). */
static cJSON *
rg_get(const char *path)
{
    char *body = NULL;
    cJSON *doc;

    ck_assert_int_eq(rg_req("GET", path, NULL, &body), 200);
    doc = cJSON_Parse(body);
    ck_assert_msg(doc != NULL, "%s: %s", path, body);
    free(body);
    return doc;
}

static void
rg_setup(void)
{
    char dd[600], tool[512], ready[700], *out = NULL;
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)),
                          "--listen",
                          RG_ORIGIN_IP ":0",
                          "--ready-file",
                          ready,
                          NULL};

    memset(&R, 0, sizeof(R));
    R.dir = it_tmpdir();
    snprintf(dd, sizeof(dd), "%s/mgrdata", R.dir);
    ck_assert_int_eq(it_df_start(&R.mgr, R.dir, "manager", "manager", "--listen", RG_MGR_IP ":0",
                                 "--rpc-listen", RG_MGR_IP ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000", NULL),
                     0);
    snprintf(R.rest, sizeof(R.rest), "%s", it_proc_ready_str(&R.mgr, "rest"));
    snprintf(R.rpc, sizeof(R.rpc), "%s", it_proc_ready_str(&R.mgr, "rpc"));
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -H 'Content-Type: application/json' -d "
                            "'{\"name\":\"root\",\"password\":\"dragonfly\"}' "
                            "http://%s/api/v1/users/signin",
                            R.rest),
                     0);
    {
        cJSON *doc = cJSON_Parse(out);
        const cJSON *t = cJSON_GetObjectItem(doc, "token");

        ck_assert_msg(cJSON_IsString(t), "%s", out);
        snprintf(R.token, sizeof(R.token), "%s", t->valuestring);
        cJSON_Delete(doc);
    }
    free(out);
    snprintf(ready, sizeof(ready), "%s/origin.ready", R.dir);
    ck_assert_int_eq(it_proc_start(&R.origin, R.dir, "origin", (char *const *)(uintptr_t)argv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(R.origin_addr, sizeof(R.origin_addr), "%s", it_proc_ready_str(&R.origin, "http"));
}

static void
rg_teardown(void)
{
    rg_kill(&R.peer2);
    rg_kill(&R.peer);
    rg_kill(&R.seed);
    rg_kill(&R.sched2);
    rg_kill(&R.sched);
    rg_kill(&R.origin);
    rg_kill(&R.mgr);
    it_rmtree(R.dir);
    free(R.dir);
}

static void
rg_start_sched(struct it_proc *p, const char *name, const char *ip, const char *cluster)
{
    char listen[64];

    snprintf(listen, sizeof(listen), "%s:0", ip);
    ck_assert_int_eq(it_df_start(p, R.dir, name, "scheduler", "--listen", listen,
                                 "--metrics-listen", listen, "--manager", R.rpc, "--hostname", name,
                                 "--scheduler-cluster-id", cluster, NULL),
                     0);
}

/* A peer (or seed) finding its scheduler through the manager; refresh: its period or NULL. */
static void
rg_start_peer(struct it_proc *p, const char *name, const char *ip, bool seed, const char *refresh)
{
    char data[700];

    snprintf(data, sizeof(data), "%s/%s", R.dir, name);
    ck_assert_int_eq(it_df_start(p, R.dir, name, "peer", "--ip", ip, "--hostname", name,
                                 "--rpc-port", "0", "--upload-port", "0", "--metrics-port", "0",
                                 "--proxy-listen", "off", "--data-dir", data, "--manager", R.rpc,
                                 IT_ALLOW_ORIGIN, RG_ORIGIN_IP, "--manager-refresh-interval",
                                 refresh != NULL ? refresh : "1m", seed ? "--seed" : NULL, NULL),
                     0);
}

/* The one row of a list answer whose host_name is name, or NULL (borrowed from doc). */
static const cJSON *
rg_row(const cJSON *doc, const char *name)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, doc)
    {
        const cJSON *h = cJSON_GetObjectItem(it, "host_name");

        if (cJSON_IsString(h) && strcmp(h->valuestring, name) == 0)
            return it;
    }
    return NULL;
}

static const char *
rg_str(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(row, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

START_TEST(test_register_find_download)
{
    char url[256], want[700], *out = NULL;
    const cJSON *row;
    cJSON *doc;
    bool inactive = false;
    int id;

    rg_start_sched(&R.sched, "sched-a", RG_SCHED_IP, "1");
    rg_start_peer(&R.seed, "seed-a", RG_SEED_IP, true, NULL);
    rg_start_peer(&R.peer, "peer-a", RG_PEER_IP, false, NULL);
    ck_assert(it_log_wait(
            &R.peer, "scheduler cluster 1: 1 healthy scheduler(s), first " RG_SCHED_IP, 30000));
    ck_assert(it_log_wait(&R.mgr, "seed peer seed-a: keepalive stream open", 30000));
    /* the REST lists: the scheduler and the seed peer active, the peer that asked */
    doc = rg_get("/api/v1/schedulers?per_page=10");
    ck_assert_ptr_nonnull(row = rg_row(doc, "sched-a"));
    ck_assert_str_eq(rg_str(row, "state"), "active");
    ck_assert_str_eq(rg_str(row, "ip"), RG_SCHED_IP);
    ck_assert_int_eq(cJSON_GetObjectItem(row, "scheduler_cluster_id")->valueint, 1);
    /* what it told of itself: its keepalive interval (ns, as upstream's) and both features */
    ck_assert_double_eq(
            cJSON_GetObjectItem(cJSON_GetObjectItem(row, "config"), "manager_keep_alive_interval")
                    ->valuedouble,
            5e9);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(row, "features")), 2);
    cJSON_Delete(doc);
    doc = rg_get("/api/v1/seed-peers?state=active");
    ck_assert_ptr_nonnull(row = rg_row(doc, "seed-a"));
    ck_assert_str_eq(rg_str(row, "type"), "super");
    ck_assert_int_gt(cJSON_GetObjectItem(row, "download_port")->valueint, 0);
    cJSON_Delete(doc);
    doc = rg_get("/api/v1/peers?host_name=peer-a");
    ck_assert_int_eq(cJSON_GetArraySize(doc), 1);
    ck_assert_str_eq(rg_str(cJSON_GetArrayItem(doc, 0), "ip"), RG_PEER_IP);
    id = cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), "id")->valueint;
    cJSON_Delete(doc);
    /* a file through the peer: the scheduler has the seed fetch it, the peer takes it from
     * the seed */
    snprintf(url, sizeof(url), "http://%s/gen/3MiB?seed=13", R.origin_addr);
    snprintf(want, sizeof(want), "%s/want", R.dir);
    ck_assert_int_eq(it_gen("3MiB", 13, want), 0);
    ck_assert_int_eq(it_shf(&out, 120,
                            "%s get '%s' -O %s/out --socket %s/peer-a/dfdaemon.sock "
                            "--no-progress 2>&1 && cmp %s %s/out && echo SAME",
                            it_bin(), url, R.dir, R.dir, want, R.dir),
                     0);
    ck_assert_msg(strstr(out, "SAME") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "from peers 0B") == NULL, "not through the swarm: %s", out);
    free(out);
    ck_assert(it_log_wait(&R.sched, "triggering seed", 1000));
    /* DELETE a peer row, then it is gone */
    snprintf(url, sizeof(url), "/api/v1/peers/%d", id);
    ck_assert_int_eq(rg_req("DELETE", url, NULL, NULL), 200);
    ck_assert_int_eq(rg_req("GET", url, NULL, NULL), 404);
    /* the scheduler killed: inactive within 15 s (its stream ends; the TTL bounds the rest) */
    rg_kill(&R.sched);
    for (int waited = 0; waited <= 15000 && !inactive; waited += 250) {
        doc = rg_get("/api/v1/schedulers?host_name=sched-a");
        inactive = cJSON_GetArraySize(doc) == 1 &&
                   strcmp(rg_str(cJSON_GetArrayItem(doc, 0), "state"), "inactive") == 0;
        cJSON_Delete(doc);
        if (!inactive)
            it_sleep_ms(250);
    }
    ck_assert_msg(inactive, "the killed scheduler still reads active after 15 s");
    doc = rg_get("/api/v1/schedulers?state=active");
    ck_assert_int_eq(cJSON_GetArraySize(doc), 0);
    cJSON_Delete(doc);
    /* and ListSchedulers offers it to nobody, by search or to a peer pinned to its cluster */
    ck_assert_int_eq(it_shf(&out, 30,
                            "for c in 0 1; do curl -s --http2-prior-knowledge -H "
                            "'Content-Type: application/json' -d '{\"hostname\":\"p\","
                            "\"ip\":\"" RG_PEER_IP "\",\"schedulerClusterId\":'$c'}' "
                            "http://%s/manager.v2.Manager/ListSchedulers; echo; done",
                            R.rpc),
                     0);
    ck_assert_str_eq(out, "{\"schedulers\":[]}\n{\"schedulers\":[]}\n");
    free(out);
}

END_TEST

/* The lists: pagination with upstream's Link, bad paging 422, unknown ids 404, guests 401. */
START_TEST(test_lists_paginate)
{
    char *out = NULL;

    rg_start_peer(&R.seed, "seed-b", RG_SEED_IP, true, NULL);
    ck_assert(it_log_wait(&R.mgr, "seed peer seed-b: keepalive stream open", 30000));
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -D - -o /dev/null -H 'Authorization: Bearer %s' "
                            "'http://%s/api/v1/seed-peers?per_page=1&page=1' | grep -i '^link:'",
                            R.token, R.rest),
                     0);
    ck_assert_msg(strstr(out, "</api/v1/seed-peers?page=1&per_page=1>;rel=prev,"
                              "</api/v1/seed-peers?page=1&per_page=1>;rel=next,"
                              "</api/v1/seed-peers?page=1&per_page=1>;rel=first,"
                              "</api/v1/seed-peers?page=1&per_page=1>;rel=last") != NULL,
                  "%s", out);
    free(out);
    ck_assert_int_eq(rg_req("GET", "/api/v1/schedulers?per_page=0", NULL, NULL), 422);
    ck_assert_int_eq(rg_req("GET", "/api/v1/seed-peers/999", NULL, NULL), 404);
    ck_assert_int_eq(rg_req("DELETE", "/api/v1/schedulers/999", NULL, NULL), 404);
    ck_assert_int_eq(rg_req("GET", "/api/v1/peers/abc", NULL, NULL), 422);
    /* no token: 401 */
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -o /dev/null -w '%%{http_code}' http://%s/api/v1/schedulers",
                            R.rest),
                     0);
    ck_assert_str_eq(out, "401");
    free(out);
}

END_TEST

START_TEST(test_cidr_cluster)
{
    char *body = NULL;

    ck_assert_int_eq(
            rg_req("POST", "/api/v1/clusters",
                   "{\"name\":\"cluster-2\",\"scopes\":{\"cidrs\":[\"" RG_CIDR "\"]},"
                   "\"scheduler_cluster_config\":{\"candidate_parent_limit\":2,"
                   "\"filter_parent_limit\":10},\"seed_peer_cluster_config\":{\"load_limit\":10},"
                   "\"peer_cluster_config\":{\"load_limit\":10}}",
                   &body),
            200);
    ck_assert_msg(strstr(body, "\"scheduler_cluster_id\":2") != NULL, "%s", body);
    free(body);
    rg_start_sched(&R.sched, "sched-one", RG_SCHED_IP, "1");
    rg_start_sched(&R.sched2, "sched-two", RG_SCHED2_IP, "2");
    /* the scheduler applies its cluster's config */
    ck_assert(it_log_wait(&R.sched2, "cluster 2 (cluster-2): parents 2, load limit 10", 30000));
    ck_assert(it_log_wait(&R.mgr, "scheduler sched-two: keepalive stream open", 30000));
    /* a peer inside the CIDR gets cluster-2; one outside keeps the default cluster-1 */
    rg_start_peer(&R.peer2, "peer-in", RG_PEER2_IP, false, "1s");
    rg_start_peer(&R.peer, "peer-out", RG_PEER_IP, false, NULL);
    ck_assert(it_log_wait(
            &R.peer2, "scheduler cluster 2: 1 healthy scheduler(s), first " RG_SCHED2_IP, 30000));
    ck_assert(it_log_wait(
            &R.peer, "scheduler cluster 1: 1 healthy scheduler(s), first " RG_SCHED_IP, 30000));
}

END_TEST

/* Issue <dir>/<host>.crt and .key for role from the test's CA. */
static void
rg_issue(const char *role, const char *host)
{
    ck_assert_int_eq(it_shf(NULL, 30, "%s cert issue --dir %s/ca --role %s --host %s --out %s/%s",
                            it_bin(), R.dir, role, host, R.dir, host),
                     0);
}

/*
 * Under mutual TLS: the manager serves RPC only to cluster certificates, a scheduler and a
 * peer with theirs register and find each other; a certificate speaks only for its own host.
 */
START_TEST(test_mtls)
{
    char ca[700], crt[4][700], key[4][700], dd[700], data[700], rpc[64], listen[64];
    static const char *const hosts[] = {"mgr-m", "sched-m", "peer-m", "sched-x"};
    static const char *const roles[] = {"manager", "scheduler", "peer", "scheduler"};
    struct it_proc mgr = {0}, bad = {0};
    char *out = NULL;

    ck_assert_int_eq(it_shf(NULL, 30, "%s cert ca --dir %s/ca", it_bin(), R.dir), 0);
    snprintf(ca, sizeof(ca), "%s/ca/ca.crt", R.dir);
    for (int i = 0; i < 4; i++) {
        rg_issue(roles[i], hosts[i]);
        snprintf(crt[i], sizeof(crt[i]), "%s/%s.crt", R.dir, hosts[i]);
        snprintf(key[i], sizeof(key[i]), "%s/%s.key", R.dir, hosts[i]);
    }
    snprintf(dd, sizeof(dd), "%s/mgrtls", R.dir);
    ck_assert_int_eq(it_df_start(&mgr, R.dir, "mgrtls", "manager", "--listen", RG_MGR_IP ":0",
                                 "--rpc-listen", RG_MGR_IP ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000", "--tls-cert", crt[0],
                                 "--tls-key", key[0], "--tls-ca", ca, NULL),
                     0);
    snprintf(rpc, sizeof(rpc), "%s", it_proc_ready_str(&mgr, "rpc"));
    /* no client certificate: refused before any call */
    ck_assert_int_ne(it_shf(&out, 30,
                            "curl -sk -m 5 --http2 -H 'Content-Type: application/json' -d "
                            "'{\"hostname\":\"x\",\"ip\":\"127.0.1.4\"}' "
                            "https://%s/manager.v2.Manager/ListSchedulers",
                            rpc),
                     0);
    free(out);
    snprintf(listen, sizeof(listen), "%s:0", RG_SCHED_IP);
    ck_assert_int_eq(it_df_start(&R.sched, R.dir, "sched-m", "scheduler", "--listen", listen,
                                 "--metrics-listen", listen, "--manager", rpc, "--hostname",
                                 "sched-m", "--tls-cert", crt[1], "--tls-key", key[1], "--tls-ca",
                                 ca, NULL),
                     0);
    ck_assert(it_log_wait(&mgr, "scheduler sched-m: keepalive stream open", 30000));
    snprintf(data, sizeof(data), "%s/peer-m", R.dir);
    ck_assert_int_eq(it_df_start(&R.peer, R.dir, "peer-m", "peer", "--ip", RG_PEER_IP, "--hostname",
                                 "peer-m", "--rpc-port", "0", "--upload-port", "0",
                                 "--metrics-port", "0", "--proxy-listen", "off", "--data-dir", data,
                                 "--manager", rpc, "--tls-cert", crt[2], "--tls-key", key[2],
                                 "--tls-ca", ca, NULL),
                     0);
    ck_assert(it_log_wait(
            &R.peer, "scheduler cluster 1: 1 healthy scheduler(s), first " RG_SCHED_IP, 30000));
    /* the certificate of sched-x cannot register a scheduler named otherwise */
    snprintf(listen, sizeof(listen), "%s:0", RG_SCHED2_IP);
    ck_assert_int_eq(it_df_start(&bad, R.dir, "sched-bad", "scheduler", "--listen", listen,
                                 "--metrics-listen", listen, "--manager", rpc, "--hostname",
                                 "sched-m", "--tls-cert", crt[3], "--tls-key", key[3], "--tls-ca",
                                 ca, NULL),
                     0);
    ck_assert(it_log_wait(&bad, "permission_denied", 30000));
    ck_assert(it_log_wait(&bad, "does not speak for sched-m", 1000));
    rg_kill(&bad);
    rg_kill(&mgr);
}

END_TEST

Suite *it_registry_suite(void);

Suite *
it_registry_suite(void)
{
    Suite *s = suite_create("it_registry");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, rg_setup, rg_teardown);
    tcase_add_test(tc, test_register_find_download);
    tcase_add_test(tc, test_lists_paginate);
    tcase_add_test(tc, test_cidr_cluster);
    tcase_add_test(tc, test_mtls);
    suite_add_tcase(s, tc);
    return s;
}
