/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h2 over TLS end to end. PENDING: this file is outside the it_*.c glob until net_tls.c is
 * merged; then move it to test/integration/it_rpc_tls.c (and drop the `#pragma weak` lines in
 * src/rpc/rpc_server.c, src/rpc/rpc_client.c and test/tools/rpc_testd.c). Certificates are
 * made with the openssl CLI in the test's temp dir: a CA and a leaf for DNS:localhost.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/net_tls.h"
#include "df/rpc_client.h"
#include "harness/harness.h"

static char *dir;
static char ready[600], ca[600], ca2[600], cert[600], key[600];
static struct it_proc proc;
static char addr[128];
static struct event_base *base;

static void
gen_certs(void)
{
    char cmd[4096];

    snprintf(cmd, sizeof(cmd),
             "cd '%s' && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
             "-subj /CN=df-test-ca -keyout ca.key -out ca.pem && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
             "-subj /CN=df-other-ca -keyout ca2.key -out ca2.pem && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-subj /CN=localhost -keyout leaf.key -out leaf.csr && "
             "printf 'subjectAltName=DNS:localhost\\n' > ext && "
             "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
             "-extfile ext -out leaf.pem",
             dir);
    ck_assert_int_eq(it_sh(cmd, NULL, 30), 0);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(ca2, sizeof(ca2), "%s/ca2.pem", dir);
    snprintf(cert, sizeof(cert), "%s/leaf.pem", dir);
    snprintf(key, sizeof(key), "%s/leaf.key", dir);
}

static void
setup(void)
{
    char tool[600], listen[] = "127.0.0.8:0", l[] = "--listen", r[] = "--ready-file",
                    c[] = "--tls-cert", k[] = "--tls-key";
    char *argv[] = {tool, l, listen, r, ready, c, cert, k, key, NULL};

    signal(SIGPIPE, SIG_IGN);
    dir = it_tmpdir();
    gen_certs();
    snprintf(ready, sizeof(ready), "%s/ready.json", dir);
    it_tool("rpc_testd", tool, sizeof(tool));
    ck_assert_int_eq(it_proc_start(&proc, dir, "rpc_testd", argv, ready, IT_READY_MS), 0);
    snprintf(addr, sizeof(addr), "%s", it_proc_ready_str(&proc, "rpc"));
    base = event_base_new();
}

static void
teardown(void)
{
    int status = it_proc_stop(&proc);

    event_base_free(base);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        it_proc_dump_log(&proc);
    it_rmtree(dir);
    free(dir);
}

struct res {
    bool done;
    enum rpc_code code;
    char *resp;
};

static void
res_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct res *r = arg;

    r->done = true;
    r->code = st->code;
    if (resp != NULL)
        r->resp = cJSON_PrintUnformatted(resp);
}

static void
expire_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

static void
call(struct net_tls_ctx *tls, const char *name, int deadline_ms, struct res *r, uint64_t *connects)
{
    struct rpc_client_opts o = {.addr = addr, .tls = tls, .tls_name = name};
    struct rpc_client *c = NULL;
    struct timeval tv = {60, 0}; /* a guard only: the call's own deadline ends it first */
    bool expired = false;
    struct event *ev = evtimer_new(base, expire_cb, &expired);

    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &c, NULL), 0);
    ck_assert_int_eq(rpc_client_unary_raw(c, "/test.v1.Echo/Unary", "{\"message\":\"tls\"}", 17,
                                          deadline_ms, res_cb, r, NULL),
                     0);
    evtimer_add(ev, &tv);
    while (!r->done && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    *connects = rpc_client_connects(c);
    rpc_client_free(c);
    ck_assert(r->done);
}

static struct net_tls_ctx *
client_ctx(const char *ca_file)
{
    const char *const alpn[] = {"h2", NULL};
    struct net_tls_opts o = {.ca_file = ca_file, .alpn = alpn};
    struct net_tls_ctx *tls = NULL;
    struct df_error err;

    ck_assert_msg(net_tls_ctx_new(false, &o, &tls, &err) == 0, "%s", err.msg);
    return tls;
}

START_TEST(test_unary_over_tls)
{
    struct net_tls_ctx *tls = client_ctx(ca);
    struct res r;
    uint64_t n;

    call(tls, "localhost", 30000, &r, &n);
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_str_eq(r.resp, "{\"message\":\"tls\"}");
    free(r.resp);
    net_tls_ctx_free(tls);
}

END_TEST

START_TEST(test_curl_over_tls)
{
    char cmd[2048], *out = NULL;
    const char *port = strrchr(addr, ':') + 1;

    snprintf(cmd, sizeof(cmd),
             "curl -s -w ' %%{http_version} %%{http_code}' --http2 --cacert '%s' "
             "--resolve localhost:%s:127.0.0.8 -H 'content-type: application/json' -d '{}' "
             "https://localhost:%s/grpc.health.v1.Health/Check",
             ca, port, port);
    ck_assert_int_eq(it_sh(cmd, &out, 10), 0);
    ck_assert_str_eq(out, "{\"status\":\"SERVING\"} 2 200");
    free(out);
}

END_TEST

START_TEST(test_untrusted_server)
{
    struct net_tls_ctx *tls = client_ctx(ca2);
    struct res r;
    uint64_t n;

    /* the client keeps retrying until the deadline; it never connects */
    call(tls, "localhost", 500, &r, &n);
    ck_assert_int_eq(r.code, RPC_DEADLINE_EXCEEDED);
    ck_assert_int_eq(n, 0);
    /* wrong name */
    net_tls_ctx_free(tls);
    tls = client_ctx(ca);
    call(tls, "example.com", 500, &r, &n);
    ck_assert_int_eq(r.code, RPC_DEADLINE_EXCEEDED);
    ck_assert_int_eq(n, 0);
    net_tls_ctx_free(tls);
}

END_TEST

START_TEST(test_plaintext_client_refused)
{
    struct res r;
    uint64_t n;

    call(NULL, NULL, 500, &r, &n);
    ck_assert_int_ne(r.code, RPC_OK);
}

END_TEST

Suite *it_rpc_tls_suite(void);

Suite *
it_rpc_tls_suite(void)
{
    Suite *s = suite_create("it_rpc_tls");
    TCase *tc = tcase_create("tls");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unary_over_tls);
    tcase_add_test(tc, test_curl_over_tls);
    tcase_add_test(tc, test_untrusted_server);
    tcase_add_test(tc, test_plaintext_client_refused);
    suite_add_tcase(s, tc);
    return s;
}
