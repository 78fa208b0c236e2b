/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager as the cluster's CA, with real processes on 127.0.41.x: root creates join
 * tokens, a scheduler, a seed and a peer start with nothing but a token and the CA's hash,
 * get their certificates from the manager and download over mutual TLS; a wrong, expired,
 * deleted or other-role token and another cluster are refused, and a wrong --ca-hash stops a
 * host before it sends its token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

#define JN_MGR_IP    "127.0.41.1"
#define JN_SCHED_IP  "127.0.41.2"
#define JN_SEED_IP   "127.0.41.3"
#define JN_PEER_IP   "127.0.41.4"
#define JN_OTHER_IP  "127.0.41.5"
#define JN_ORIGIN_IP "127.0.41.9"

struct jn {
    char *dir;
    struct it_proc mgr, sched, seed, peer, origin;
    char rest[64], rpc[64], join[64], origin_addr[64];
    char auth[1024];
};

static struct jn J;

/* A join token: its value, its CA hash and its id. */
struct jn_token {
    char value[128], hash[128];
    int id;
};

static void
jn_kill(struct it_proc *p)
{
    if (p->pid > 0)
        it_proc_kill(p);
    cJSON_Delete(p->ready);
    p->ready = NULL;
}

static int
jn_req(const char *method, const char *path, const char *body, char **out)
{
    return it_rest(J.rest, J.auth, method, path, body, out);
}

/* POST /api/v1/join-tokens for role in cluster: the token. */
static void
jn_token(const char *role, int cluster, struct jn_token *t)
{
    char body[200], *out = NULL;
    const cJSON *v, *h, *id;
    cJSON *doc;

    snprintf(body, sizeof(body), "{\"role\":\"%s\",\"scheduler_cluster_id\":%d,\"expires_in\":600}",
             role, cluster);
    ck_assert_int_eq(jn_req("POST", "/api/v1/join-tokens", body, &out), 200);
    ck_assert_ptr_nonnull(doc = cJSON_Parse(out));
    v = cJSON_GetObjectItem(doc, "token");
    h = cJSON_GetObjectItem(doc, "ca_hash");
    id = cJSON_GetObjectItem(doc, "id");
    ck_assert_msg(cJSON_IsString(v) && cJSON_IsString(h) && cJSON_IsNumber(id), "%s", out);
    snprintf(t->value, sizeof(t->value), "%s", v->valuestring);
    snprintf(t->hash, sizeof(t->hash), "%s", h->valuestring);
    t->id = id->valueint;
    cJSON_Delete(doc);
    free(out);
}

/* The manager with the CA (certificates valid for validity, NULL: the default). */
static void
jn_start_mgr(const char *validity)
{
    char dd[600], ca[600], crt[600], key[600], cakey[600];

    snprintf(dd, sizeof(dd), "%s/mgrdata", J.dir);
    snprintf(ca, sizeof(ca), "%s/ca/ca.crt", J.dir);
    snprintf(cakey, sizeof(cakey), "%s/ca/ca.key", J.dir);
    snprintf(crt, sizeof(crt), "%s/mgr.crt", J.dir);
    snprintf(key, sizeof(key), "%s/mgr.key", J.dir);
    ck_assert_int_eq(it_df_start(&J.mgr, J.dir, "manager", "manager", "--listen", JN_MGR_IP ":0",
                                 "--rpc-listen", JN_MGR_IP ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000", "--tls-cert", crt,
                                 "--tls-key", key, "--tls-ca", ca, "--ca-cert", ca, "--ca-key",
                                 cakey, "--ca-join-listen", JN_MGR_IP ":0",
                                 validity != NULL ? "--ca-cert-validity" : NULL, validity, NULL),
                     0);
    snprintf(J.rest, sizeof(J.rest), "%s", it_proc_ready_str(&J.mgr, "rest"));
    snprintf(J.rpc, sizeof(J.rpc), "%s", it_proc_ready_str(&J.mgr, "rpc"));
    ck_assert_ptr_nonnull(it_proc_ready_str(&J.mgr, "join"));
    snprintf(J.join, sizeof(J.join), "%s", it_proc_ready_str(&J.mgr, "join"));
}

static void
jn_setup(void)
{
    char tool[512], ready[700], *out = NULL;
    const char *argv[] = {it_tool("origin", tool, sizeof(tool)),
                          "--listen",
                          JN_ORIGIN_IP ":0",
                          "--ready-file",
                          ready,
                          NULL};
    cJSON *doc;
    const cJSON *t;

    memset(&J, 0, sizeof(J));
    J.dir = it_tmpdir();
    ck_assert_int_eq(it_shf(NULL, 30,
                            "%s cert ca --dir %s/ca && %s cert issue --dir %s/ca --role manager "
                            "--host mgr-j --out %s/mgr",
                            it_bin(), J.dir, it_bin(), J.dir, J.dir),
                     0);
    jn_start_mgr(NULL);
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s -H 'Content-Type: application/json' -d "
                            "'{\"name\":\"root\",\"password\":\"dragonfly\"}' "
                            "http://%s/api/v1/users/signin",
                            J.rest),
                     0);
    doc = cJSON_Parse(out);
    t = cJSON_GetObjectItem(doc, "token");
    ck_assert_msg(cJSON_IsString(t), "%s", out);
    snprintf(J.auth, sizeof(J.auth), "%s", t->valuestring);
    cJSON_Delete(doc);
    free(out);
    snprintf(ready, sizeof(ready), "%s/origin.ready", J.dir);
    ck_assert_int_eq(it_proc_start(&J.origin, J.dir, "origin", (char *const *)(uintptr_t)argv,
                                   ready, IT_READY_MS),
                     0);
    snprintf(J.origin_addr, sizeof(J.origin_addr), "%s", it_proc_ready_str(&J.origin, "http"));
}

static void
jn_teardown(void)
{
    jn_kill(&J.peer);
    jn_kill(&J.seed);
    jn_kill(&J.sched);
    jn_kill(&J.origin);
    jn_kill(&J.mgr);
    it_rmtree(J.dir);
    free(J.dir);
}

/* A peer (or seed) that joins with t, finding its scheduler through the manager. */
static void
jn_start_peer(struct it_proc *p, const char *name, const char *ip, bool seed,
              const struct jn_token *t)
{
    char data[700];

    snprintf(data, sizeof(data), "%s/%s", J.dir, name);
    ck_assert_int_eq(it_df_start(p, J.dir, name, "peer", "--ip", ip, "--hostname", name,
                                 "--rpc-port", "0", "--upload-port", "0", "--metrics-port", "0",
                                 "--proxy-listen", "off", "--data-dir", data, "--manager", J.rpc,
                                 "--tls-mode", "mtls", "--join-token", t->value, "--ca-hash",
                                 t->hash, "--join-addr", J.join, "--revocation-refresh", "1s",
                                 IT_ALLOW_ORIGIN, JN_ORIGIN_IP, seed ? "--seed" : NULL, NULL),
                     0);
}

static void
jn_start_sched(struct it_proc *p, const char *name, const struct jn_token *t)
{
    char certs[700];

    snprintf(certs, sizeof(certs), "%s/%s", J.dir, name);
    ck_assert_int_eq(it_df_start(p, J.dir, name, "scheduler", "--listen", JN_SCHED_IP ":0",
                                 "--metrics-listen", JN_SCHED_IP ":0", "--manager", J.rpc,
                                 "--hostname", name, "--tls-mode", "mtls", "--join-token", t->value,
                                 "--ca-hash", t->hash, "--join-addr", J.join, "--cert-dir", certs,
                                 "--revocation-refresh", "1s", NULL),
                     0);
}

/*
 * Run a peer named name that joins with token and hash (and extra flags, may be ""), which
 * must fail to start: its output (the caller frees it). It must have no certificate after.
 */
static char *
jn_peer_refused(const char *name, const char *token, const char *hash, const char *extra)
{
    char *out = NULL, path[800];
    struct stat st;

    ck_assert_int_ne(it_shf(&out, 90,
                            "%s peer --ip " JN_OTHER_IP " --hostname %s --rpc-port 0 "
                            "--upload-port 0 --metrics-port 0 --proxy-listen off --data-dir "
                            "%s/%s --manager %s --join-token '%s' --ca-hash '%s' --join-addr %s "
                            "%s 2>&1",
                            it_bin(), name, J.dir, name, J.rpc, token, hash, J.join, extra),
                     0);
    snprintf(path, sizeof(path), "%s/%s/cluster.crt", J.dir, name);
    ck_assert_msg(stat(path, &st) != 0, "%s: a refused join left a certificate", name);
    return out;
}

START_TEST(test_join_download)
{
    struct jn_token ts, tseed, tp;
    char url[256], want[700], *out = NULL;
    cJSON *doc;
    const cJSON *row;
    int roles = 0;

    jn_token("scheduler", 1, &ts);
    jn_token("seed", 1, &tseed);
    jn_token("peer", 1, &tp);
    jn_start_sched(&J.sched, "sched-j", &ts);
    jn_start_peer(&J.seed, "seed-j", JN_SEED_IP, true, &tseed);
    jn_start_peer(&J.peer, "peer-j", JN_PEER_IP, false, &tp);
    ck_assert(it_log_wait(&J.sched, "joined with certificate", 1000));
    ck_assert(it_log_wait(&J.sched, "mutual TLS with the cluster CA", 1000));
    ck_assert(it_log_wait(
            &J.peer, "scheduler cluster 1: 1 healthy scheduler(s), first " JN_SCHED_IP, 30000));
    ck_assert(it_log_wait(&J.mgr, "seed peer seed-j: keepalive stream open", 30000));
    /* a file through the peer over mTLS: the seed fetches it, the peer takes it from there */
    snprintf(url, sizeof(url), "http://%s/gen/2MiB?seed=41", J.origin_addr);
    snprintf(want, sizeof(want), "%s/want", J.dir);
    ck_assert_int_eq(it_gen("2MiB", 41, want), 0);
    ck_assert_int_eq(it_shf(&out, 120,
                            "%s get '%s' -O %s/out --socket %s/peer-j/dfdaemon.sock "
                            "--no-progress 2>&1 && cmp %s %s/out && echo SAME",
                            it_bin(), url, J.dir, J.dir, want, J.dir),
                     0);
    ck_assert_msg(strstr(out, "SAME") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "from peers 0B") == NULL, "not through the swarm: %s", out);
    free(out);
    /* the manager's record: one certificate per host, each with its role and token */
    ck_assert_int_eq(jn_req("GET", "/api/v1/certificates?state=active", NULL, &out), 200);
    ck_assert_ptr_nonnull(doc = cJSON_Parse(out));
    ck_assert_int_eq(cJSON_GetArraySize(doc), 3);
    cJSON_ArrayForEach(row, doc)
    {
        const char *role = cJSON_GetObjectItem(row, "role")->valuestring;
        const char *host = cJSON_GetObjectItem(row, "host_name")->valuestring;

        roles |= strcmp(role, "scheduler") == 0 && strcmp(host, "sched-j") == 0 ? 1
                 : strcmp(role, "seed") == 0 && strcmp(host, "seed-j") == 0     ? 2
                 : strcmp(role, "peer") == 0 && strcmp(host, "peer-j") == 0     ? 4
                                                                                : 8;
    }
    ck_assert_int_eq(roles, 7);
    cJSON_Delete(doc);
    free(out);
    /* the token list shows no value */
    ck_assert_int_eq(jn_req("GET", "/api/v1/join-tokens", NULL, &out), 200);
    ck_assert_ptr_null(strstr(out, tp.value));
    ck_assert_ptr_null(strstr(out, "\"token\""));
    free(out);
    /* a restart keeps the certificate it has: no second join */
    jn_kill(&J.peer);
    jn_start_peer(&J.peer, "peer-j", JN_PEER_IP, false, &tp);
    ck_assert(it_log_wait(&J.peer, "peer peer-j: cluster certificate", 1000));
    ck_assert_int_eq(jn_req("GET", "/api/v1/certificates?host_name=peer-j", NULL, &out), 200);
    ck_assert_ptr_nonnull(doc = cJSON_Parse(out));
    ck_assert_int_eq(cJSON_GetArraySize(doc), 1);
    cJSON_Delete(doc);
    free(out);
}

END_TEST

/* The serials of host's certificates, newest first, as the manager lists them: how many. */
static int
jn_serials(const char *host, char serials[][64], int max)
{
    char path[200], *out = NULL;
    const cJSON *row;
    cJSON *doc;
    int n = 0;

    snprintf(path, sizeof(path), "/api/v1/certificates?host_name=%s&per_page=100", host);
    ck_assert_int_eq(jn_req("GET", path, NULL, &out), 200);
    ck_assert_ptr_nonnull(doc = cJSON_Parse(out));
    cJSON_ArrayForEach(row, doc)
    {
        if (n < max)
            snprintf(serials[n], 64, "%s", cJSON_GetObjectItem(row, "serial")->valuestring);
        n++;
    }
    cJSON_Delete(doc);
    free(out);
    return n;
}

/*
 * Certificates valid 9 s: the scheduler and the peer renew them at 2/3 of that, the manager
 * records each renewal, the scheduler's listener serves the renewed certificate to new
 * connections, and a download works after the first certificates have expired.
 */
START_TEST(test_join_renew)
{
    struct jn_token ts, tp;
    char serials[16][64], first[64], served[200], url[256], *out = NULL, *p;
    int n = 0;

    jn_kill(&J.mgr);
    jn_start_mgr("9s");
    jn_token("scheduler", 1, &ts);
    jn_token("peer", 1, &tp);
    jn_start_sched(&J.sched, "sched-r", &ts);
    jn_start_peer(&J.peer, "peer-r", JN_PEER_IP, false, &tp);
    ck_assert(it_log_wait(
            &J.peer, "scheduler cluster 1: 1 healthy scheduler(s), first " JN_SCHED_IP, 30000));
    ck_assert_int_eq(jn_serials("sched-r", serials, 16), 1);
    snprintf(first, sizeof(first), "%s", serials[0]);
    /* two renewals each: the first certificates (9 s) are past by then */
    for (int waited = 0; waited <= 60000; waited += 500) {
        n = jn_serials("peer-r", serials, 16);
        if (n >= 3 && jn_serials("sched-r", serials, 16) >= 3)
            break;
        it_sleep_ms(500);
    }
    ck_assert_msg(n >= 3, "peer-r has %d certificates after 60 s", n);
    ck_assert(it_log_wait(&J.sched, "sched-r: renewed the certificate", 1000));
    ck_assert(it_log_wait(&J.peer, "peer-r: renewed the certificate", 1000));
    ck_assert(!it_log_wait(&J.peer, "renewal failed", 0));
    /* a new connection to the scheduler gets a renewed certificate, not the first */
    ck_assert_int_eq(it_shf(&out, 30,
                            "openssl s_client -connect %s -cert %s/peer-r/cluster.crt -key "
                            "%s/peer-r/cluster.key </dev/null 2>/dev/null | openssl x509 -noout "
                            "-serial",
                            it_proc_ready_str(&J.sched, "rpc"), J.dir, J.dir),
                     0);
    snprintf(served, sizeof(served), "%s", out + strlen("serial="));
    free(out);
    for (p = served; *p != '\0'; p++)
        *p = *p == '\n' ? '\0' : (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
    ck_assert_str_ne(served, first);
    n = jn_serials("sched-r", serials, 16);
    {
        bool known = false;

        for (int i = 0; i < n && i < 16; i++)
            known |= strcmp(serials[i], served) == 0;
        ck_assert_msg(known, "served %s is no certificate of sched-r", served);
    }
    /* and the cluster still works with the renewed certificates */
    snprintf(url, sizeof(url), "http://%s/gen/1MiB?seed=42", J.origin_addr);
    ck_assert_int_eq(it_shf(&out, 120,
                            "%s get '%s' -O %s/out --socket %s/peer-r/dfdaemon.sock --no-progress "
                            "2>&1",
                            it_bin(), url, J.dir, J.dir),
                     0);
    free(out);
}

END_TEST

/* A TLS handshake with the scheduler presenting host's certificate: 0 when it completes. */
static int
jn_handshake(const char *host)
{
    return it_shf(NULL, 30,
                  "openssl s_client -connect %s -cert %s/%s/cluster.crt -key %s/%s/cluster.key "
                  "</dev/null >/dev/null 2>&1",
                  it_proc_ready_str(&J.sched, "rpc"), J.dir, host, J.dir, host);
}

/*
 * Revoking the peer's certificate: the scheduler fetches the list every second and refuses
 * the peer's next handshake, while the scheduler's own certificate still gets through.
 */
START_TEST(test_join_revoke)
{
    struct jn_token ts, tp;
    char serials[4][64], path[200], *out = NULL;
    bool refused = false;

    jn_token("scheduler", 1, &ts);
    jn_token("peer", 1, &tp);
    jn_start_sched(&J.sched, "sched-v", &ts);
    jn_start_peer(&J.peer, "peer-v", JN_PEER_IP, false, &tp);
    ck_assert(it_log_wait(
            &J.peer, "scheduler cluster 1: 1 healthy scheduler(s), first " JN_SCHED_IP, 30000));
    ck_assert_int_eq(jn_handshake("peer-v"), 0);
    ck_assert_int_eq(jn_serials("peer-v", serials, 4), 1);
    snprintf(path, sizeof(path), "/api/v1/certificates/%s/revoke", serials[0]);
    ck_assert_int_eq(jn_req("POST", path, NULL, &out), 200);
    ck_assert_msg(strstr(out, "\"state\":\"revoked\"") != NULL, "%s", out);
    free(out);
    /* again: the same row, still revoked */
    ck_assert_int_eq(jn_req("POST", path, NULL, NULL), 200);
    ck_assert_int_eq(jn_req("GET", "/api/v1/certificates?state=revoked", NULL, &out), 200);
    ck_assert_ptr_nonnull(strstr(out, serials[0]));
    free(out);
    /* refused within the refresh period (1 s; waited for generously) */
    for (int waited = 0; waited <= 30000 && !refused; waited += 250) {
        refused = jn_handshake("peer-v") != 0;
        if (!refused)
            it_sleep_ms(250);
    }
    ck_assert_msg(refused, "the revoked peer still gets through after 30 s");
    ck_assert(it_log_wait(&J.sched, "scheduler: 1 revoked certificate(s) refused", 1000));
    ck_assert(it_log_wait(&J.peer, "peer: 1 revoked certificate(s) refused", 10000));
    /* what is not revoked still passes */
    ck_assert_int_eq(jn_handshake("sched-v"), 0);
    /* the manager refuses it at once on its own listeners (it may not renew with it) */
    ck_assert_int_ne(it_shf(NULL, 30,
                            "openssl s_client -connect %s -cert %s/peer-v/cluster.crt -key "
                            "%s/peer-v/cluster.key </dev/null >/dev/null 2>&1",
                            J.join, J.dir, J.dir),
                     0);
    ck_assert_int_eq(it_shf(NULL, 30,
                            "openssl s_client -connect %s -cert %s/sched-v/cluster.crt -key "
                            "%s/sched-v/cluster.key </dev/null >/dev/null 2>&1",
                            J.join, J.dir, J.dir),
                     0);
    /* an unknown serial 404, one that is no serial 422 */
    ck_assert_int_eq(jn_req("POST", "/api/v1/certificates/abcdef/revoke", NULL, NULL), 404);
    ck_assert_int_eq(jn_req("POST", "/api/v1/certificates/XYZ/revoke", NULL, NULL), 422);
}

END_TEST

START_TEST(test_join_refused)
{
    struct jn_token tp, tdel, texp;
    char *out, zero[80];

    jn_token("peer", 1, &tp);
    /* a wrong hash: the host stops before the token leaves it */
    snprintf(zero, sizeof(zero), "sha256:%064d", 0);
    out = jn_peer_refused("p-hash", tp.value, zero, "");
    ck_assert_msg(strstr(out, "not the --ca-hash given") != NULL, "%s", out);
    free(out);
    ck_assert(!it_log_wait(&J.mgr, "certificate refused", 0));
    /* a token that is no token */
    out = jn_peer_refused("p-bad", "not-a-token", tp.hash, "");
    ck_assert_msg(strstr(out, "unknown join token") != NULL, "%s", out);
    free(out);
    /* a peer token asked for another cluster */
    out = jn_peer_refused("p-cluster", tp.value, tp.hash, "--scheduler-cluster-id 2");
    ck_assert_msg(strstr(out, "another scheduler cluster") != NULL, "%s", out);
    free(out);
    /* a peer token for a seed (the CSR names another role) */
    out = jn_peer_refused("p-role", tp.value, tp.hash, "--seed");
    ck_assert_msg(strstr(out, "another role") != NULL, "%s", out);
    free(out);
    /* a deleted token */
    jn_token("peer", 1, &tdel);
    {
        char path[64];

        snprintf(path, sizeof(path), "/api/v1/join-tokens/%d", tdel.id);
        ck_assert_int_eq(jn_req("DELETE", path, NULL, NULL), 200);
    }
    out = jn_peer_refused("p-del", tdel.value, tdel.hash, "");
    ck_assert_msg(strstr(out, "unknown join token") != NULL, "%s", out);
    free(out);
    /* an expired token (aged in the database: the shortest one lives a minute) */
    jn_token("peer", 1, &texp);
    ck_assert_int_eq(it_shf(NULL, 10,
                            "sqlite3 %s/mgrdata/manager.db 'UPDATE join_tokens SET expired_at = 1 "
                            "WHERE id = %d'",
                            J.dir, texp.id),
                     0);
    out = jn_peer_refused("p-exp", texp.value, texp.hash, "");
    ck_assert_msg(strstr(out, "join token has expired") != NULL, "%s", out);
    free(out);
    /* every refusal counted (the wrong hash never reached the manager) */
    ck_assert_int_eq(it_shf(&out, 30,
                            "curl -s http://%s/metrics | grep -x "
                            "'dragonfly_manager_certificates_refused_total 5'",
                            J.rest),
                     0);
    free(out);
    /* nothing was signed for any of them */
    ck_assert_int_eq(jn_req("GET", "/api/v1/certificates", NULL, &out), 200);
    ck_assert_str_eq(out, "[]");
    free(out);
    /* bad creations: 422, and a cluster that does not exist 404 */
    ck_assert_int_eq(jn_req("POST", "/api/v1/join-tokens",
                            "{\"role\":\"manager\",\"scheduler_cluster_id\":1}", NULL),
                     422);
    ck_assert_int_eq(jn_req("POST", "/api/v1/join-tokens",
                            "{\"role\":\"peer\",\"scheduler_cluster_id\":1,\"expires_in\":10}",
                            NULL),
                     422);
    ck_assert_int_eq(jn_req("POST", "/api/v1/join-tokens",
                            "{\"role\":\"peer\",\"scheduler_cluster_id\":99}", NULL),
                     404);
}

END_TEST

Suite *it_join_suite(void);

Suite *
it_join_suite(void)
{
    Suite *s = suite_create("it_join");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, jn_setup, jn_teardown);
    tcase_add_test(tc, test_join_download);
    tcase_add_test(tc, test_join_refused);
    tcase_add_test(tc, test_join_renew);
    tcase_add_test(tc, test_join_revoke);
    suite_add_tcase(s, tc);
    return s;
}
