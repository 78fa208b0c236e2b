/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster mTLS for the RPC layer: rpc_tls_setup from the tls.* keys, an RPC server on
 * loopback whose handler answers with rpc_call_peer_identity, and clients that present a
 * certificate and expect a role of the server (rpc_client_opts.expect_roles). Certificates
 * are made by `dragonfly cert` itself (cli_cert_main) in a temp dir.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "df/net_tls.h"
#include "df/roles.h"
#include "../unit_cert.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"
#include "df/rpc_tls.h"

static char certdir[64];

static const char *
path(const char *name)
{
    static char buf[4][256];
    static int n;
    char *p = buf[n++ % 4];

    snprintf(p, sizeof(buf[0]), "%s/%s", certdir, name);
    return p;
}

static void
certs_setup(void)
{
    snprintf(certdir, sizeof(certdir), "/tmp/df-rpctls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(certdir));
    unit_cert("ca", "--dir", path("ca"), NULL);
    unit_cert("issue", "--dir", path("ca"), "--role", "scheduler", "--host", "sched-1", "--out",
              path("sched"), NULL);
    unit_cert("issue", "--dir", path("ca"), "--role", "peer", "--host", "node-1", "--out",
              path("peer"), NULL);
}

static void
certs_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", certdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", certdir);
}

/* ---- rpc_tls_setup ---- */

static struct rpc_tls_conf
conf_of(const char *host)
{
    struct rpc_tls_conf c;
    char f[64];

    memset(&c, 0, sizeof(c));
    snprintf(f, sizeof(f), "%s.crt", host);
    c.cert = strdup(path(f));
    snprintf(f, sizeof(f), "%s.key", host);
    c.key = strdup(path(f));
    c.ca = strdup(path("ca/ca.crt"));
    c.require_client = true;
    return c;
}

static void
conf_free(struct rpc_tls_conf *c)
{
    free(c->cert);
    free(c->key);
    free(c->ca);
}

START_TEST(test_setup_plaintext_and_errors)
{
    struct rpc_tls_conf c;
    struct net_tls_ctx *srv = (struct net_tls_ctx *)1, *cli = (struct net_tls_ctx *)1;
    struct df_error err;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(rpc_tls_setup(&c, "test", &srv, &cli, &err), 0);
    ck_assert_ptr_null(srv);
    ck_assert_ptr_null(cli);
    /* One key without the others. */
    c = conf_of("peer");
    free(c.ca);
    c.ca = NULL;
    ck_assert_int_eq(rpc_tls_setup(&c, "test", &srv, &cli, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "go together"));
    conf_free(&c);
    /* A file that does not load is named. */
    c = conf_of("nosuch");
    ck_assert_int_lt(rpc_tls_setup(&c, "test", &srv, &cli, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "nosuch"));
    conf_free(&c);
}

END_TEST

/* Plaintext is chosen, never fallen into: each refusal is one line naming what to set. */
START_TEST(test_conf_check_modes)
{
    struct rpc_tls_conf c;
    struct df_error err;

    memset(&c, 0, sizeof(c));
    /* auto without a certificate: only a host nobody else reaches */
    ck_assert_int_eq(rpc_tls_conf_check(&c, true, &err), 0);
    ck_assert(rpc_tls_conf_is_plaintext(&c));
    ck_assert_int_eq(rpc_tls_conf_check(&c, false, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "tls.cert is not set"));
    ck_assert_ptr_nonnull(strstr(err.msg, "tls.mode: plaintext (--plaintext)"));
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    /* plaintext chosen */
    c.mode = RPC_TLS_PLAINTEXT;
    ck_assert_int_eq(rpc_tls_conf_check(&c, false, &err), 0);
    ck_assert(rpc_tls_conf_is_plaintext(&c));
    /* mtls without a certificate, even where plaintext would be allowed */
    c.mode = RPC_TLS_MTLS;
    ck_assert_int_eq(rpc_tls_conf_check(&c, true, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "tls.mode is mtls but tls.cert, tls.key and tls.ca are not set");
    /* with a certificate: auto and mtls are mTLS; plaintext contradicts it */
    c = conf_of("peer");
    ck_assert_int_eq(rpc_tls_conf_check(&c, false, &err), 0);
    ck_assert(!rpc_tls_conf_is_plaintext(&c));
    c.mode = RPC_TLS_MTLS;
    ck_assert_int_eq(rpc_tls_conf_check(&c, false, &err), 0);
    c.mode = RPC_TLS_PLAINTEXT;
    ck_assert_int_eq(rpc_tls_conf_check(&c, false, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "tls.mode is plaintext but tls.cert is set"));
    conf_free(&c);
}

END_TEST

/* ---- identities over an RPC connection ---- */

static struct event_base *base;
static const char *want_host = "sched-1"; /* the host clients expect of the server */

static void
who_cb(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct net_tls_identity id;
    char buf[512];

    (void)req;
    (void)arg;
    ck_assert_int_eq(rpc_call_peer_identity(call, &id), 0);
    snprintf(buf, sizeof(buf), "{\"who\":\"%s %s\"}", net_tls_role_name(id.role), id.host);
    rpc_call_reply_raw(call, buf, strlen(buf));
}

struct res {
    bool done;
    enum rpc_code code;
    char who[300];
};

static void
res_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct res *r = arg;
    const cJSON *w = resp != NULL ? cJSON_GetObjectItemCaseSensitive(resp, "who") : NULL;

    r->done = true;
    r->code = st->code;
    if (cJSON_IsString(w))
        snprintf(r->who, sizeof(r->who), "%s", w->valuestring);
}

static void
expire_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/*
 * A server with the scheduler's certificate (clients' certificates required or not) and one
 * call from a client presenting client_host's certificate (NULL: none) that expects roles
 * of the server. Returns the result.
 */
static struct res
who_call(bool require_client, const char *client_host, unsigned roles)
{
    static const struct rpc_method m = {"/test.v1.Who/Get", RPC_KIND_UNARY, who_cb, NULL};
    struct rpc_tls_conf sc = conf_of("sched"), cc;
    struct net_tls_ctx *ssrv = NULL, *scli = NULL, *csrv = NULL, *ccli = NULL;
    struct net_tls_opts anon;
    struct rpc_server *srv;
    struct rpc_client *c = NULL;
    struct rpc_client_opts o;
    struct df_error err;
    struct timeval tv = {10, 0};
    bool expired = false;
    struct event *ev;
    struct res r;

    base = event_base_new();
    sc.require_client = require_client;
    ck_assert_msg(rpc_tls_setup(&sc, "test", &ssrv, &scli, &err) == 0, "%s", err.msg);
    if (client_host != NULL) {
        cc = conf_of(client_host);
        ck_assert_msg(rpc_tls_setup(&cc, "test", &csrv, &ccli, &err) == 0, "%s", err.msg);
        conf_free(&cc);
    } else {
        memset(&anon, 0, sizeof(anon));
        anon.ca_file = path("ca/ca.crt");
        anon.peer_roles = NET_TLS_ROLES_ALL;
        ck_assert_msg(net_tls_ctx_new(false, &anon, &ccli, &err) == 0, "%s", err.msg);
    }
    srv = rpc_server_new(base, NULL);
    ck_assert_int_eq(rpc_server_register(srv, &m, 1), 0);
    ck_assert_msg(rpc_server_listen(srv, "127.0.0.1:0", ssrv, &err) == 0, "%s", err.msg);
    memset(&o, 0, sizeof(o));
    o.addr = rpc_server_addr(srv, 0);
    o.tls = ccli;
    o.expect_roles = roles;
    o.expect_host = roles != 0 ? want_host : NULL;
    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &c, NULL), 0);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(rpc_client_unary_raw(c, "/test.v1.Who/Get", "{}", 2, 1500, res_cb, &r, NULL),
                     0);
    ev = evtimer_new(base, expire_cb, &expired);
    evtimer_add(ev, &tv);
    while (!r.done && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert(r.done);
    event_free(ev);
    rpc_client_free(c);
    rpc_server_free(srv);
    net_tls_ctx_free(ssrv);
    net_tls_ctx_free(scli);
    net_tls_ctx_free(csrv);
    net_tls_ctx_free(ccli);
    conf_free(&sc);
    event_base_free(base);
    return r;
}

START_TEST(test_identity_seen_by_handler)
{
    struct res r = who_call(true, "peer", NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER));

    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_str_eq(r.who, "peer node-1");
}

END_TEST

START_TEST(test_client_without_cert)
{
    struct res r = who_call(true, NULL, NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER));

    /* Refused at the handshake: the call never reaches the handler. */
    ck_assert_int_ne(r.code, RPC_OK);
    r = who_call(false, NULL, NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER));
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_str_eq(r.who, "none ");
}

END_TEST

START_TEST(test_client_expects_other_role)
{
    /* The server holds a scheduler certificate; a client that wants a seed never connects. */
    struct res r = who_call(true, "peer", NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED));

    ck_assert_int_ne(r.code, RPC_OK);
}

END_TEST

START_TEST(test_client_expects_other_host)
{
    struct res r;

    want_host = "sched-2";
    r = who_call(true, "peer", NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER));
    want_host = "sched-1";
    ck_assert_int_ne(r.code, RPC_OK);
}

END_TEST

Suite *test_rpc_tls_suite(void);

Suite *
test_rpc_tls_suite(void)
{
    Suite *s = suite_create("rpc_tls");
    TCase *tc = tcase_create("mtls");

    tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_setup_plaintext_and_errors);
    tcase_add_test(tc, test_conf_check_modes);
    tcase_add_test(tc, test_identity_seen_by_handler);
    tcase_add_test(tc, test_client_without_cert);
    tcase_add_test(tc, test_client_expects_other_role);
    tcase_add_test(tc, test_client_expects_other_host);
    suite_add_tcase(s, tc);
    return s;
}
