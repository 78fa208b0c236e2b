/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's seed-peer RPCs and the REST rows' nested clusters and versions, with real
 * processes on 127.0.49.x (this suite's): a manager, a scheduler and two seed peers
 * registered through it in cluster-1. GetSeedPeer answers a seed with its cluster's config
 * and the active schedulers, ListSeedPeers the active seeds of the caller's cluster (a killed
 * seed is left out, a killed scheduler too); the REST rows of schedulers, seed peers and
 * peers carry their cluster as upstream preloads it and the version and commit the hosts
 * registered with (`dragonfly version`'s); a second cluster's seed sees that cluster's
 * config, scheduler and seeds only; under mTLS only the seed a request names asks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/proto_mgr.h"
#include "harness/harness.h"

#define SR_MGR_IP    "127.0.49.1"
#define SR_SCHED_IP  "127.0.49.2"
#define SR_SEED_A_IP "127.0.49.3"
#define SR_SEED_B_IP "127.0.49.4"
#define SR_SCHED2_IP "127.0.49.5"

struct sr {
    char *dir;
    struct it_proc mgr, sched, sched2, seed_a, seed_b;
    char rest[64], rpc[64];
    char token[1024];
    char version[64], commit[64]; /* `dragonfly version`'s */
};

static struct sr S;

static void
sr_kill(struct it_proc *p)
{
    if (p->pid > 0)
        it_proc_kill(p);
    cJSON_Delete(p->ready);
    p->ready = NULL;
}

static void
sr_setup(void)
{
    char dd[600], *out = NULL;
    cJSON *doc;
    const cJSON *t;

    memset(&S, 0, sizeof(S));
    S.dir = it_tmpdir();
    snprintf(dd, sizeof(dd), "%s/mgrdata", S.dir);
    ck_assert_int_eq(it_df_start(&S.mgr, S.dir, "manager", "manager", "--listen", SR_MGR_IP ":0",
                                 "--rpc-listen", SR_MGR_IP ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000", NULL),
                     0);
    snprintf(S.rest, sizeof(S.rest), "%s", it_proc_ready_str(&S.mgr, "rest"));
    snprintf(S.rpc, sizeof(S.rpc), "%s", it_proc_ready_str(&S.mgr, "rpc"));
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -H 'Content-Type: application/json' -d "
                            "'{\"name\":\"root\",\"password\":\"dragonfly\"}' "
                            "http://%s/api/v1/users/signin",
                            S.rest),
                     0);
    doc = cJSON_Parse(out);
    t = cJSON_GetObjectItem(doc, "token");
    ck_assert_msg(cJSON_IsString(t), "%s", out);
    snprintf(S.token, sizeof(S.token), "%s", t->valuestring);
    cJSON_Delete(doc);
    free(out);
    ck_assert_int_eq(it_shf(&out, 30, "%s version | head -1", it_bin()), 0);
    ck_assert_msg(sscanf(out, "dragonfly %63s (commit %63[^)])", S.version, S.commit) == 2, "%s",
                  out);
    free(out);
}

static void
sr_teardown(void)
{
    sr_kill(&S.seed_b);
    sr_kill(&S.seed_a);
    sr_kill(&S.sched2);
    sr_kill(&S.sched);
    sr_kill(&S.mgr);
    it_rmtree(S.dir);
    free(S.dir);
}

static void
sr_start_sched(struct it_proc *p, const char *name, const char *ip, const char *cluster)
{
    char listen[64], log[128];

    snprintf(listen, sizeof(listen), "%s:0", ip);
    ck_assert_int_eq(it_df_start(p, S.dir, name, "scheduler", "--listen", listen,
                                 "--metrics-listen", listen, "--manager", S.rpc, "--hostname", name,
                                 "--scheduler-cluster-id", cluster, NULL),
                     0);
    snprintf(log, sizeof(log), "scheduler %s: keepalive stream open", name);
    ck_assert(it_log_wait(&S.mgr, log, 30000));
}

/* A seed peer in seed-peer cluster `cluster`, registered through the manager. */
static void
sr_start_seed(struct it_proc *p, const char *name, const char *ip, const char *cluster)
{
    char data[700], log[128];

    snprintf(data, sizeof(data), "%s/%s", S.dir, name);
    ck_assert_int_eq(it_df_start(p, S.dir, name, "peer", "--ip", ip, "--hostname", name,
                                 "--rpc-port", "0", "--upload-port", "0", "--metrics-port", "0",
                                 "--proxy-listen", "off", "--data-dir", data, "--manager", S.rpc,
                                 "--seed", "--seed-peer-cluster-id", cluster, NULL),
                     0);
    snprintf(log, sizeof(log), "seed peer %s: keepalive stream open", name);
    ck_assert(it_log_wait(&S.mgr, log, 30000));
}

/* A manager.v2 call over h2c: the answer's body (the caller frees it). */
static char *
sr_rpc(const char *method, const char *body)
{
    char *out = NULL;

    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -m 10 --http2-prior-knowledge -H "
                            "'Content-Type: application/json' -d '%s' "
                            "http://%s/manager.v2.Manager/%s",
                            body, S.rpc, method),
                     0);
    return out;
}

/* GetSeedPeer for (hostname, cluster) parsed into *p. */
static void
sr_get_seed(const char *hostname, int cluster, struct proto_mgr_seed_peer *p)
{
    char body[256], *out;
    struct df_error err;
    cJSON *doc;

    snprintf(body, sizeof(body),
             "{\"sourceType\":\"SEED_PEER_SOURCE\",\"hostname\":\"%s\",\"seedPeerClusterId\":%d}",
             hostname, cluster);
    out = sr_rpc("GetSeedPeer", body);
    doc = cJSON_Parse(out);
    ck_assert_msg(doc != NULL && proto_mgr_seed_peer_from_json(doc, p, &err) == 0, "%s", out);
    cJSON_Delete(doc);
    free(out);
}

/* ListSeedPeers as (host, ip): the host names of the answer, in order, joined by ','. */
static void
sr_list_seeds(const char *host, const char *ip, char *names, size_t len)
{
    struct proto_mgr_seed_peer *v = NULL;
    struct df_error err;
    size_t n = 0, used = 0;
    char body[256], *out;
    cJSON *doc;

    snprintf(body, sizeof(body),
             "{\"sourceType\":\"SEED_PEER_SOURCE\",\"hostname\":\"%s\",\"ip\":\"%s\","
             "\"version\":\"x\"}",
             host, ip);
    out = sr_rpc("ListSeedPeers", body);
    doc = cJSON_Parse(out);
    ck_assert_msg(doc != NULL && proto_mgr_seed_peers_from_json(doc, &v, &n, &err) == 0, "%s", out);
    names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(v[i].state, "active");
        used += (size_t)snprintf(names + used, len - used, "%s%s", i > 0 ? "," : "", v[i].hostname);
        ck_assert_uint_lt(used, len);
    }
    proto_mgr_seed_peers_free(v, n);
    cJSON_Delete(doc);
    free(out);
}

/*
 * GetSeedPeer and ListSeedPeers against the registry: the seed's cluster config and the
 * active schedulers; unknown hosts NotFound, bad requests InvalidArgument; a killed seed
 * leaves ListSeedPeers, a killed scheduler leaves GetSeedPeer's schedulers.
 */
START_TEST(test_seed_rpcs)
{
    struct proto_mgr_seed_peer p;
    char names[256], *out;
    bool gone = false;

    sr_start_sched(&S.sched, "sched-a", SR_SCHED_IP, "1");
    sr_start_seed(&S.seed_a, "seed-a", SR_SEED_A_IP, "1");
    sr_start_seed(&S.seed_b, "seed-b", SR_SEED_B_IP, "1");

    sr_get_seed("seed-a", 1, &p);
    ck_assert_str_eq(p.hostname, "seed-a");
    ck_assert_str_eq(p.ip, SR_SEED_A_IP);
    ck_assert_str_eq(p.type, "super");
    ck_assert_str_eq(p.state, "active");
    ck_assert_int_ne(p.port, 0);
    ck_assert_int_ne(p.download_port, 0);
    ck_assert(p.has_cluster);
    ck_assert_int_eq(p.cluster.id, 1);
    ck_assert_str_eq(p.cluster.name, "cluster-1");
    ck_assert_str_eq(p.cluster.config, "{\"load_limit\":2000}");
    ck_assert_uint_eq(p.nschedulers, 1);
    ck_assert_str_eq(p.schedulers[0].hostname, "sched-a");
    ck_assert_str_eq(p.schedulers[0].ip, SR_SCHED_IP);
    ck_assert_str_eq(p.schedulers[0].state, "active");
    ck_assert_int_eq(p.schedulers[0].cluster_id, 1);
    proto_mgr_seed_peer_reset(&p);

    sr_list_seeds("seed-a", SR_SEED_A_IP, names, sizeof(names));
    ck_assert_str_eq(names, "seed-a,seed-b");

    /* unknown hosts and clusters: NotFound; bad requests: InvalidArgument naming the field */
    out = sr_rpc("GetSeedPeer", "{\"hostname\":\"seed-z\",\"seedPeerClusterId\":1}");
    ck_assert_str_eq(out, "{\"code\":\"not_found\",\"message\":\"seed peer not found\"}");
    free(out);
    out = sr_rpc("GetSeedPeer", "{\"hostname\":\"seed-a\",\"seedPeerClusterId\":2}");
    ck_assert_str_eq(out, "{\"code\":\"not_found\",\"message\":\"seed peer not found\"}");
    free(out);
    out = sr_rpc("ListSeedPeers", "{\"hostname\":\"seed-a\",\"ip\":\"127.0.49.99\"}");
    ck_assert_str_eq(out, "{\"code\":\"not_found\",\"message\":\"seed peer not found\"}");
    free(out);
    out = sr_rpc("GetSeedPeer", "{\"hostname\":\"seed-a\",\"seedPeerClusterId\":0}");
    ck_assert_msg(strstr(out, "invalid_argument") != NULL &&
                          strstr(out, "seedPeerClusterId: at least 1") != NULL,
                  "%s", out);
    free(out);
    out = sr_rpc("ListSeedPeers", "{\"hostname\":\"seed-a\"}");
    ck_assert_msg(strstr(out, "ip: required") != NULL, "%s", out);
    free(out);

    /* seed-b killed: its stream ends and ListSeedPeers leaves it out */
    sr_kill(&S.seed_b);
    for (int waited = 0; waited <= 15000 && !gone; waited += 250) {
        sr_list_seeds("seed-a", SR_SEED_A_IP, names, sizeof(names));
        if (!(gone = strcmp(names, "seed-a") == 0))
            it_sleep_ms(250);
    }
    ck_assert_msg(gone, "ListSeedPeers still lists the killed seed: %s", names);
    /* the scheduler killed: GetSeedPeer offers no scheduler */
    sr_kill(&S.sched);
    gone = false;
    for (int waited = 0; waited <= 15000 && !gone; waited += 250) {
        sr_get_seed("seed-a", 1, &p);
        gone = p.nschedulers == 0;
        proto_mgr_seed_peer_reset(&p);
        if (!gone)
            it_sleep_ms(250);
    }
    ck_assert_msg(gone, "GetSeedPeer still offers the killed scheduler");
    /* and the manager kept serving through all of it */
    sr_list_seeds("seed-a", SR_SEED_A_IP, names, sizeof(names));
    ck_assert_str_eq(names, "seed-a");
}

END_TEST

/* GET path as a JSON document (the caller frees it). */
static cJSON *
sr_get(const char *path)
{
    char *body = NULL;
    cJSON *doc;

    ck_assert_int_eq(it_rest(S.rest, S.token, "GET", path, NULL, &body), 200);
    doc = cJSON_Parse(body);
    ck_assert_msg(doc != NULL, "%s: %s", path, body);
    free(body);
    return doc;
}

static const char *
sr_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A whole-number member (ids, limits). */
static int
sr_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);

    ck_assert_msg(cJSON_IsNumber(v), "%s: not a number", key);
    return v->valueint;
}

/* The one row of list path named host, with its version and commit checked. */
static cJSON *
sr_row(const char *path, const char *host, cJSON **doc)
{
    cJSON *it, *row = NULL;

    *doc = sr_get(path);
    cJSON_ArrayForEach(it, *doc)
    {
        if (strcmp(sr_str(it, "host_name"), host) == 0)
            row = it;
    }
    ck_assert_msg(row != NULL, "%s: no %s", path, host);
    ck_assert_str_eq(sr_str(row, "git_version"), S.version);
    ck_assert_str_eq(sr_str(row, "git_commit"), S.commit);
    return row;
}

/* GET base/:id of a list's row: the same cluster member (key) and version. */
static void
sr_same_by_id(const char *base, const cJSON *row, const char *key)
{
    char path[128];
    cJSON *one;

    snprintf(path, sizeof(path), "%s/%d", base, sr_num(row, "id"));
    one = sr_get(path);
    ck_assert_msg(cJSON_Compare(cJSON_GetObjectItem(one, key), cJSON_GetObjectItem(row, key), true),
                  "%s: %s differs from the list's", path, key);
    ck_assert_str_eq(sr_str(one, "git_version"), sr_str(row, "git_version"));
    cJSON_Delete(one);
}

/*
 * The REST rows: schedulers and peers with scheduler_cluster:{...}, seed peers with
 * seed_peer_cluster:{...}, each the cluster it belongs to (a second cluster's scheduler
 * shows that one); version and commit as the hosts registered them.
 */
START_TEST(test_rest_nested_versions)
{
    struct proto_mgr_seed_peer p;
    const cJSON *c, *cfg;
    cJSON *doc, *row;
    char *body = NULL, names[256];

    ck_assert_int_eq(
            it_rest(S.rest, S.token, "POST", "/api/v1/clusters",
                    "{\"name\":\"cluster-2\",\"bio\":\"second\",\"scheduler_cluster_config\":"
                    "{\"candidate_parent_limit\":2,\"filter_parent_limit\":10},"
                    "\"seed_peer_cluster_config\":{\"load_limit\":10},"
                    "\"peer_cluster_config\":{\"load_limit\":20}}",
                    &body),
            200);
    free(body);
    sr_start_sched(&S.sched, "sched-a", SR_SCHED_IP, "1");
    sr_start_sched(&S.sched2, "sched-b", SR_SCHED2_IP, "2");
    sr_start_seed(&S.seed_a, "seed-a", SR_SEED_A_IP, "1");
    sr_start_seed(&S.seed_b, "seed-b", SR_SEED_B_IP, "2");

    /* cluster-2's seed: its cluster's config and scheduler, and only its cluster's seeds */
    sr_get_seed("seed-b", 2, &p);
    ck_assert_str_eq(p.cluster.name, "cluster-2");
    ck_assert_str_eq(p.cluster.config, "{\"load_limit\":10}");
    ck_assert_uint_eq(p.nschedulers, 1);
    ck_assert_str_eq(p.schedulers[0].hostname, "sched-b");
    ck_assert_int_eq(p.schedulers[0].cluster_id, 2);
    proto_mgr_seed_peer_reset(&p);
    sr_list_seeds("seed-b", SR_SEED_B_IP, names, sizeof(names));
    ck_assert_str_eq(names, "seed-b");
    sr_list_seeds("seed-a", SR_SEED_A_IP, names, sizeof(names));
    ck_assert_str_eq(names, "seed-a");

    row = sr_row("/api/v1/schedulers", "sched-a", &doc);
    c = cJSON_GetObjectItem(row, "scheduler_cluster");
    ck_assert_msg(cJSON_IsObject(c), "no scheduler_cluster");
    ck_assert_int_eq(sr_num(c, "id"), 1);
    ck_assert_str_eq(sr_str(c, "name"), "cluster-1");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(c, "is_default")));
    cfg = cJSON_GetObjectItem(c, "config");
    ck_assert_int_eq(sr_num(cfg, "candidate_parent_limit"), 3);
    ck_assert_int_eq(sr_num(cJSON_GetObjectItem(c, "client_config"), "load_limit"), 200);
    ck_assert(cJSON_IsObject(cJSON_GetObjectItem(c, "scopes")));
    ck_assert_int_eq(sr_num(c, "is_del"), 0);
    ck_assert_msg(strlen(sr_str(c, "created_at")) > 0, "no created_at");
    sr_same_by_id("/api/v1/schedulers", row, "scheduler_cluster");
    cJSON_Delete(doc);

    row = sr_row("/api/v1/schedulers?scheduler_cluster_id=2", "sched-b", &doc);
    c = cJSON_GetObjectItem(row, "scheduler_cluster");
    ck_assert_int_eq(sr_num(c, "id"), 2);
    ck_assert_str_eq(sr_str(c, "name"), "cluster-2");
    ck_assert_str_eq(sr_str(c, "bio"), "second");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "is_default")));
    ck_assert_int_eq(sr_num(cJSON_GetObjectItem(c, "config"), "candidate_parent_limit"), 2);
    ck_assert_int_eq(sr_num(cJSON_GetObjectItem(c, "client_config"), "load_limit"), 20);
    cJSON_Delete(doc);

    row = sr_row("/api/v1/seed-peers", "seed-a", &doc);
    c = cJSON_GetObjectItem(row, "seed_peer_cluster");
    ck_assert_msg(cJSON_IsObject(c), "no seed_peer_cluster");
    ck_assert_int_eq(sr_num(c, "id"), 1);
    ck_assert_str_eq(sr_str(c, "name"), "cluster-1");
    ck_assert_int_eq(sr_num(cJSON_GetObjectItem(c, "config"), "load_limit"), 2000);
    /* a seed-peer cluster has no scheduler-cluster members */
    ck_assert_ptr_null(cJSON_GetObjectItem(c, "client_config"));
    sr_same_by_id("/api/v1/seed-peers", row, "seed_peer_cluster");
    cJSON_Delete(doc);
    row = sr_row("/api/v1/seed-peers", "seed-b", &doc);
    ck_assert_str_eq(sr_str(cJSON_GetObjectItem(row, "seed_peer_cluster"), "name"), "cluster-2");
    cJSON_Delete(doc);

    /* the seed asked ListSchedulers as a peer (the manager notes it before answering): its
     * peer row, version from that request */
    ck_assert(it_log_wait(&S.seed_a, "scheduler cluster 1: 1 healthy scheduler(s)", 30000));
    row = sr_row("/api/v1/peers", "seed-a", &doc);
    c = cJSON_GetObjectItem(row, "scheduler_cluster");
    ck_assert_int_eq(sr_num(c, "id"), 1);
    ck_assert_str_eq(sr_str(c, "name"), "cluster-1");
    cJSON_Delete(doc);
}

END_TEST

/* Issue <dir>/<host>.crt and .key for role from the test's CA. */
static void
sr_issue(const char *role, const char *host)
{
    ck_assert_int_eq(it_shf(NULL, 30, "%s cert issue --dir %s/ca --role %s --host %s --out %s/%s",
                            it_bin(), S.dir, role, host, S.dir, host),
                     0);
}

/*
 * Under mTLS: a certificate asks GetSeedPeer and ListSeedPeers only as the seed it names.
 * curl is not told the port speaks HTTP/2: ALPN must select h2 (as gRPC clients require).
 */
START_TEST(test_mtls_seed_only)
{
    static const char *const hosts[] = {"mgr-m", "seed-m", "peer-m", "sched-m"};
    static const char *const roles[] = {"manager", "seed", "peer", "scheduler"};

    static const struct {
        int cert;
        const char *method, *body, *want;
    } cases[] = {
            /* the seed itself passes the check (and is not registered) */
            {1, "GetSeedPeer", "{\"hostname\":\"seed-m\",\"seedPeerClusterId\":1}", "not_found"},
            {1, "ListSeedPeers", "{\"hostname\":\"seed-m\",\"ip\":\"127.0.49.3\"}", "not_found"},
            /* another seed's name, or another role's certificate: refused */
            {1, "GetSeedPeer", "{\"hostname\":\"seed-a\",\"seedPeerClusterId\":1}",
             "does not speak for seed-a"},
            {1, "ListSeedPeers", "{\"hostname\":\"seed-a\",\"ip\":\"127.0.49.3\"}",
             "does not speak for seed-a"},
            {2, "GetSeedPeer", "{\"hostname\":\"peer-m\",\"seedPeerClusterId\":1}",
             "permission_denied"},
            {3, "ListSeedPeers", "{\"hostname\":\"sched-m\",\"ip\":\"127.0.49.2\"}",
             "permission_denied"},
    };

    char ca[700], dd[700], rpc[64];
    struct it_proc mgr = {0};
    char *out = NULL;

    ck_assert_int_eq(it_shf(NULL, 30, "%s cert ca --dir %s/ca", it_bin(), S.dir), 0);
    snprintf(ca, sizeof(ca), "%s/ca/ca.crt", S.dir);
    for (int i = 0; i < 4; i++)
        sr_issue(roles[i], hosts[i]);
    snprintf(dd, sizeof(dd), "%s/mgrtls", S.dir);
    {
        char crt[700], key[700];

        snprintf(crt, sizeof(crt), "%s/mgr-m.crt", S.dir);
        snprintf(key, sizeof(key), "%s/mgr-m.key", S.dir);
        ck_assert_int_eq(it_df_start(&mgr, S.dir, "mgrtls", "manager", "--listen", SR_MGR_IP ":0",
                                     "--rpc-listen", SR_MGR_IP ":0", "--data-dir", dd,
                                     "--auth-password-iterations", "1000", "--tls-cert", crt,
                                     "--tls-key", key, "--tls-ca", ca, NULL),
                         0);
    }
    snprintf(rpc, sizeof(rpc), "%s", it_proc_ready_str(&mgr, "rpc"));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *h = hosts[cases[i].cert];

        ck_assert_int_eq(it_shf(&out, 30,
                                "curl -sk -m 10 --http2 --cert %s/%s.crt --key %s/%s.key -H "
                                "'Content-Type: application/json' -d '%s' "
                                "https://%s/manager.v2.Manager/%s",
                                S.dir, h, S.dir, h, cases[i].body, rpc, cases[i].method),
                         0);
        ck_assert_msg(strstr(out, cases[i].want) != NULL, "%zu: %s", i, out);
        free(out);
    }
    sr_kill(&mgr);
}

END_TEST

Suite *it_seedrpc_suite(void);

Suite *
it_seedrpc_suite(void)
{
    Suite *s = suite_create("it_seedrpc");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, sr_setup, sr_teardown);
    tcase_add_test(tc, test_seed_rpcs);
    tcase_add_test(tc, test_rest_nested_versions);
    tcase_add_test(tc, test_mtls_seed_only);
    suite_add_tcase(s, tc);
    return s;
}
