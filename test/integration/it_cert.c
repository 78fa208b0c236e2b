/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly cert` as an operator runs it: a CA and host certificates with the right files,
 * modes and contents (read back by openssl, an independent parser), refusals with one line
 * and no files left behind, and the issued files serving an RPC server (rpc_testd) that
 * requires client certificates from the CA with given roles, reached by IP.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <event2/event.h>

#include "df/net_tls.h"
#include "df/rpc_client.h"
#include "harness/harness.h"

static char *dir;

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    dir = it_tmpdir();
}

static void
teardown(void)
{
    it_rmtree(dir);
    free(dir);
}

/* Run `dragonfly cert ARGS` in dir; its stderr into *err (may be NULL). Returns the status. */
static int
cert(char **err, const char *args)
{
    return it_shf(err, 30, "cd '%s' && '%s' cert %s 2>&1 >/dev/null", dir, it_bin(), args);
}

static const char *
path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", dir, name);
    return buf;
}

static unsigned
mode_of(const char *name)
{
    struct stat st;
    char p[600];

    ck_assert_msg(stat(path(name, p, sizeof(p)), &st) == 0, "%s missing", name);
    return (unsigned)(st.st_mode & 07777);
}

/* The names in a directory of dir, sorted, space-separated ("ca.crt ca.key"). */
static char *
listing(const char *sub)
{
    char *out = NULL;

    ck_assert_int_eq(it_shf(&out, 10, "cd '%s/%s' && ls -A | sort | tr '\\n' ' '", dir, sub), 0);
    return out;
}

static char *
openssl(const char *args)
{
    char *out = NULL;

    ck_assert_int_eq(it_shf(&out, 10, "cd '%s' && openssl %s", dir, args), 0);
    return out;
}

/* The listing of sub is want. */
static void
expect_listing(const char *sub, const char *want)
{
    char *out = listing(sub);

    ck_assert_str_eq(out, want);
    free(out);
}

/* openssl ARGS prints want. */
static void
expect_openssl(const char *args, const char *want)
{
    char *out = openssl(args);

    ck_assert_str_eq(out, want);
    free(out);
}

START_TEST(test_ca_and_issue)
{
    char *out;

    ck_assert_int_eq(cert(NULL, "ca --dir cluster"), 0);
    ck_assert_uint_eq(mode_of("cluster"), 0700);
    ck_assert_uint_eq(mode_of("cluster/ca.key"), 0600);
    ck_assert_uint_eq(mode_of("cluster/ca.crt"), 0644);
    ck_assert_int_eq(cert(NULL, "issue --dir cluster --role seed --host seed-1 --ip 127.0.0.9 "
                                "--ip ::1 --dns seed.example --days 30 --out seed-1"),
                     0);
    ck_assert_uint_eq(mode_of("seed-1.key"), 0600);
    ck_assert_uint_eq(mode_of("seed-1.crt"), 0644);
    /* Nothing else: no temp files left beside them. */
    expect_listing("cluster", "ca.crt ca.key ");
    expect_listing(".", "cluster seed-1.crt seed-1.key ");

    /* What another parser reads: the chain verifies, the subject names host and role. */
    expect_openssl("verify -CAfile cluster/ca.crt seed-1.crt", "seed-1.crt: OK\n");
    expect_openssl("x509 -in seed-1.crt -noout -subject -nameopt RFC2253",
                   "subject=O=dragonfly,OU=seed,CN=seed-1\n");
    out = openssl("x509 -in seed-1.crt -noout -ext subjectAltName,extendedKeyUsage,keyUsage,"
                  "basicConstraints");
    ck_assert_msg(strstr(out, "DNS:seed-1, DNS:seed.example, IP Address:127.0.0.9, IP "
                              "Address:0:0:0:0:0:0:0:1") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication") !=
                          NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "Digital Signature") != NULL && strstr(out, "CA:FALSE") != NULL, "%s",
                  out);
    free(out);
    out = openssl("x509 -in cluster/ca.crt -noout -ext basicConstraints,keyUsage");
    ck_assert_msg(strstr(out, "CA:TRUE") != NULL && strstr(out, "Certificate Sign") != NULL, "%s",
                  out);
    free(out);
    /* The key is the certificate's. */
    expect_openssl("x509 -in seed-1.crt -noout -pubkey > a.pub && openssl pkey -in seed-1.key "
                   "-pubout > b.pub && cmp a.pub b.pub && echo same",
                   "same\n");
}

END_TEST

/* Serials are random: two certificates for the same host differ. */
START_TEST(test_serials_random)
{
    char *a, *b;

    ck_assert_int_eq(cert(NULL, "ca --dir ca"), 0);
    ck_assert_int_eq(cert(NULL, "issue --dir ca --role peer --host n --out a"), 0);
    ck_assert_int_eq(cert(NULL, "issue --dir ca --role peer --host n --out b"), 0);
    a = openssl("x509 -in a.crt -noout -serial");
    b = openssl("x509 -in b.crt -noout -serial");
    ck_assert_str_ne(a, b);
    ck_assert_uint_ge(strlen(a), strlen("serial=") + 30); /* 128 bits, not a counter */
    free(a);
    free(b);
}

END_TEST

START_TEST(test_refuses_overwrite)
{
    char *before, *after, *err = NULL;

    ck_assert_int_eq(cert(NULL, "ca --dir ca"), 0);
    before = openssl("x509 -in ca/ca.crt -noout -fingerprint");
    ck_assert_int_eq(cert(&err, "ca --dir ca"), 1);
    ck_assert_msg(strstr(err, "exists (use --force") != NULL, "%s", err);
    ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1);
    free(err);
    after = openssl("x509 -in ca/ca.crt -noout -fingerprint");
    ck_assert_str_eq(before, after);
    free(after);
    ck_assert_int_eq(cert(NULL, "ca --dir ca --force --name 'second CA'"), 0);
    after = openssl("x509 -in ca/ca.crt -noout -fingerprint");
    ck_assert_str_ne(before, after);
    free(after);
    free(before);

    ck_assert_int_eq(cert(NULL, "issue --dir ca --role peer --host n --out n"), 0);
    before = openssl("x509 -in n.crt -noout -fingerprint");
    ck_assert_int_eq(cert(&err, "issue --dir ca --role peer --host n --out n"), 1);
    ck_assert_msg(strstr(err, "n.crt exists (use --force") != NULL, "%s", err);
    free(err);
    after = openssl("x509 -in n.crt -noout -fingerprint");
    ck_assert_str_eq(before, after);
    free(after);
    free(before);
    expect_listing(".", "ca n.crt n.key ");
}

END_TEST

/* Bad invocations: exit 2 (usage) or 1 (environment), one line on stderr, no file made. */
static const struct {
    const char *args;
    int status;
    const char *says;
} bad_runs[] = {
        {"", 2, "expected a command"},
        {"revoke --dir ca", 2, "unknown command 'revoke'"},
        {"ca", 2, "dir: required"},
        {"ca --dir x --days 0", 2, "--days: expected 1..36500"},
        {"ca --dir x --days 3 --not-after 2030-01-01", 2, "exclude each other"},
        {"ca --dir x --name 'a,CN=b'", 2, "--name: expected"},
        {"ca --dir x --bogus", 2, "--bogus: unknown flag"},
        {"issue --dir ca --host n --out n", 2, "role: required"},
        {"issue --dir ca --role boss --host n --out n", 2,
         "--role: expected peer, seed, scheduler or manager, got \"boss\""},
        {"issue --dir ca --role peer --host 'n,OU=seed' --out n", 2, "--host: expected"},
        {"issue --dir ca --role peer --host n --ip 10.0.0 --out n", 2, "--ip: expected an IP"},
        {"issue --dir ca --role peer --host n --dns 'a b' --out n", 2, "--dns: expected a DNS"},
        {"issue --dir ca --role peer --host n --not-after 2030-02-30 --out n", 2, "--not-after"},
        {"issue --dir ca --role peer --host n", 2, "out: required"},
        {"issue --dir ca --role peer --host n --out n extra", 2, "unexpected argument \"extra\""},
        {"issue --dir nowhere --role peer --host n --out n", 1, "nowhere/ca.crt"},
        {"issue --dir ca --role peer --host n --days 36500 --out n", 1, "outlive the CA"},
        {"issue --dir ca --role peer --host n --out missing/n", 1, "missing/n.key: cannot create"},
};

START_TEST(test_bad_runs)
{
    char *err = NULL;

    ck_assert_int_eq(cert(NULL, "ca --dir ca"), 0);
    ck_assert_int_eq(cert(&err, bad_runs[_i].args), bad_runs[_i].status);
    ck_assert_msg(strncmp(err, "dragonfly cert", 14) == 0, "[%s] %s", bad_runs[_i].args, err);
    ck_assert_msg(strstr(err, bad_runs[_i].says) != NULL, "[%s] %s", bad_runs[_i].args, err);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "[%s] not one line: %s",
                  bad_runs[_i].args, err);
    free(err);
    expect_listing(".", "ca ");
    expect_listing("ca", "ca.crt ca.key ");
}

END_TEST

/* ---- the issued files in an RPC server that requires client certificates ---- */

static struct it_proc proc;
static char addr[128];

/* rpc_testd on 127.0.0.8 with the scheduler's certificate, taking peers and seeds. */
static void
rpc_start(void)
{
    char tool[600], ready[600], crt[600], key[600], ca[600],
            listen[] = "127.0.0.8:0", l[] = "--listen", r[] = "--ready-file", c[] = "--tls-cert",
            k[] = "--tls-key", a[] = "--tls-ca", v[] = "--tls-verify-client",
            o[] = "--tls-client-roles", roles[] = "peer,seed";
    char *argv[] = {tool, l, listen, r, ready, c, crt, k, key, a, ca, v, o, roles, NULL};

    ck_assert_int_eq(cert(NULL, "ca --dir ca"), 0);
    ck_assert_int_eq(cert(NULL, "ca --dir other"), 0);
    ck_assert_int_eq(cert(NULL, "issue --dir ca --role scheduler --host sched-1 --ip 127.0.0.8 "
                                "--out sched"),
                     0);
    ck_assert_int_eq(cert(NULL, "issue --dir ca --role peer --host node-1 --out peer"), 0);
    ck_assert_int_eq(cert(NULL, "issue --dir ca --role manager --host mgr-1 --out mgr"), 0);
    ck_assert_int_eq(cert(NULL, "issue --dir other --role peer --host node-1 --out foreign"), 0);
    path("ready.json", ready, sizeof(ready));
    path("sched.crt", crt, sizeof(crt));
    path("sched.key", key, sizeof(key));
    path("ca/ca.crt", ca, sizeof(ca));
    it_tool("rpc_testd", tool, sizeof(tool));
    ck_assert_int_eq(it_proc_start(&proc, dir, "rpc_testd", argv, ready, IT_READY_MS), 0);
    snprintf(addr, sizeof(addr), "%s", it_proc_ready_str(&proc, "rpc"));
}

static void
rpc_stop(void)
{
    int status = it_proc_stop(&proc);

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        it_proc_dump_log(&proc);
}

static void
res_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    (void)resp;
    *(int *)arg = (int)st->code;
}

/*
 * One unary call as a host holding certificate name (NULL: none) that expects a scheduler,
 * dialled by IP. Returns the RPC code and how many connections got through.
 */
static int
rpc_call_as(const char *name, uint64_t *connects)
{
    const char *const alpn[] = {"h2", NULL};
    char ca[600], crt[600], key[600];
    struct net_tls_opts to = {.ca_file = path("ca/ca.crt", ca, sizeof(ca)),
                              .alpn = alpn,
                              .peer_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER)};
    struct rpc_client_opts o = {.addr = addr};
    struct event_base *base = event_base_new();
    struct net_tls_ctx *tls = NULL;
    struct rpc_client *c = NULL;
    struct df_error err;
    int code = -1;

    if (name != NULL) {
        snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
        snprintf(key, sizeof(key), "%s/%s.key", dir, name);
        to.cert_file = crt;
        to.key_file = key;
    }
    ck_assert_msg(net_tls_ctx_new(false, &to, &tls, &err) == 0, "%s", err.msg);
    o.tls = tls;
    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &c, NULL), 0);
    ck_assert_int_eq(
            rpc_client_unary_raw(c, "/test.v1.Echo/Unary", "{}", 2, 1500, res_cb, &code, NULL), 0);
    while (code == -1)
        event_base_loop(base, EVLOOP_ONCE);
    *connects = rpc_client_connects(c);
    rpc_client_free(c);
    net_tls_ctx_free(tls);
    event_base_free(base);
    return code;
}

START_TEST(test_rpc_server_requires_cluster_cert)
{
    uint64_t n;

    rpc_start();
    ck_assert_int_eq(rpc_call_as("peer", &n), RPC_OK);
    ck_assert_uint_eq(n, 1);
    /* Refused in the handshake: no certificate, another CA's, a role the server does not take. */
    ck_assert_int_eq(rpc_call_as(NULL, &n), RPC_DEADLINE_EXCEEDED);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(rpc_call_as("foreign", &n), RPC_DEADLINE_EXCEEDED);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(rpc_call_as("mgr", &n), RPC_DEADLINE_EXCEEDED);
    ck_assert_uint_eq(n, 0);
    rpc_stop();
}

END_TEST

/* Standard tools work with the same files: curl by DNS SAN, with and without a cert. */
START_TEST(test_rpc_server_with_curl)
{
    const char *port;
    char *out = NULL;

    rpc_start();
    port = strrchr(addr, ':') + 1;
    ck_assert_int_eq(
            it_shf(&out, 10,
                   "cd '%s' && curl -s -w ' %%{http_code}' --http2 --cacert ca/ca.crt --cert "
                   "peer.crt --key peer.key --resolve sched-1:%s:127.0.0.8 -H "
                   "'content-type: application/json' -d '{}' "
                   "https://sched-1:%s/grpc.health.v1.Health/Check",
                   dir, port, port),
            0);
    ck_assert_str_eq(out, "{\"status\":\"SERVING\"} 200");
    free(out);
    ck_assert_int_ne(it_shf(NULL, 10,
                            "cd '%s' && curl -s --http2 --cacert ca/ca.crt --resolve "
                            "sched-1:%s:127.0.0.8 -d '{}' "
                            "https://sched-1:%s/grpc.health.v1.Health/Check",
                            dir, port, port),
                     0);
    rpc_stop();
}

END_TEST

Suite *it_cert_suite(void);

Suite *
it_cert_suite(void)
{
    Suite *s = suite_create("it_cert");
    TCase *tc = tcase_create("cli");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ca_and_issue);
    tcase_add_test(tc, test_serials_random);
    tcase_add_test(tc, test_refuses_overwrite);
    tcase_add_loop_test(tc, test_bad_runs, 0, (int)(sizeof(bad_runs) / sizeof(bad_runs[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rpc_server_requires_cluster_cert);
    tcase_add_test(tc, test_rpc_server_with_curl);
    suite_add_tcase(s, tc);
    return s;
}
