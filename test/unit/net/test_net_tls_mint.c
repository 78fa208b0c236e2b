/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The leaf minter and a server context that mints per SNI host: handshakes between a minting
 * server and a client that trusts the CA, over a socketpair on one event loop, with a CA and
 * certificates made by `dragonfly cert` (cli_cert_main).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <mbedtls/asn1.h>
#include <mbedtls/x509_crt.h>

#include "df/net_tls.h"
#include "df/net_tls_mint.h"
#include "df/roles.h"
#include "../unit_cert.h"

#define MINT_DEADLINE_S 20

struct mint_side {
    struct bufferevent *bev;
    bool connected, failed, eof;
    char error[256];
    char sni[256]; /* server: what net_tls_sni() said at CONNECTED */
};

static struct {
    char dir[64];
    struct event_base *base;
    struct event *deadline;
    struct net_tls_mint *mint;
    struct net_tls_ctx *sctx, *cctx;
    struct mint_side server, client;
} m;

static const char *
mint_path(const char *name)
{
    static char buf[4][128];
    static int n;
    char *p = buf[n++ % 4];

    snprintf(p, sizeof(buf[0]), "%s/%s", m.dir, name);
    return p;
}

/* A CA, a host certificate from it (not a CA), and a second CA whose key is swapped in. */
static void
mint_certs_setup(void)
{
    char cmd[512];

    snprintf(m.dir, sizeof(m.dir), "/tmp/df-mint-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(m.dir));
    unit_cert("ca", "--dir", mint_path("ca"), "--name", "proxy CA", NULL);
    unit_cert("ca", "--dir", mint_path("ca2"), NULL);
    unit_cert("issue", "--dir", mint_path("ca"), "--role", "peer", "--host", "fallback.test",
              "--out", mint_path("default"), NULL);
    snprintf(cmd, sizeof(cmd), "printf 'not a certificate\\n' > %s/junk.crt", m.dir);
    ck_assert_int_eq(system(cmd), 0);
    /* A CA from elsewhere whose name has a comma and UTF-8 (mbedtls prints those as '?'). */
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
             "-utf8 -keyout %s/odd.key -out %s/odd.crt -subj '/O=M\xc3\xbcller, Inc./CN=odd CA' "
             "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign "
             ">/dev/null 2>&1",
             m.dir, m.dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void
mint_certs_teardown(void)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", m.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", m.dir);
}

static void
mint_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopexit(m.base, NULL);
}

static void
mint_loop_setup(void)
{
    struct timeval tv = {MINT_DEADLINE_S, 0};
    struct net_tls_mint_opts mo = {0};
    struct df_error err = {{0}};
    char dir[sizeof(m.dir)];

    memcpy(dir, m.dir, sizeof(dir));
    memset(&m, 0, sizeof(m));
    memcpy(m.dir, dir, sizeof(dir));
    m.base = event_base_new();
    ck_assert_ptr_nonnull(m.base);
    m.deadline = evtimer_new(m.base, mint_deadline_cb, NULL);
    evtimer_add(m.deadline, &tv);
    mo.ca_file = mint_path("ca/ca.crt");
    mo.ca_key_file = mint_path("ca/ca.key");
    ck_assert_msg(net_tls_mint_new(&mo, &m.mint, &err) == 0, "%s", err.msg);
}

static void
mint_conns_free(void)
{
    if (m.client.bev != NULL)
        bufferevent_free(m.client.bev);
    if (m.server.bev != NULL)
        bufferevent_free(m.server.bev);
    memset(&m.client, 0, sizeof(m.client));
    memset(&m.server, 0, sizeof(m.server));
}

static void
mint_loop_teardown(void)
{
    mint_conns_free();
    net_tls_ctx_free(m.sctx);
    net_tls_ctx_free(m.cctx);
    net_tls_mint_free(m.mint);
    event_free(m.deadline);
    event_base_free(m.base);
}

/* A minting server (default: the cert_file served without SNI, or NULL) and a client
 * trusting the CA, or trusting nothing when insecure. */
static void
mint_ctxs_new(const char *default_name, bool insecure)
{
    struct net_tls_opts so = {0}, co = {0};
    struct df_error err = {{0}};
    char crt[64], key[64];

    so.mint = m.mint;
    if (default_name != NULL) {
        snprintf(crt, sizeof(crt), "%s.crt", default_name);
        snprintf(key, sizeof(key), "%s.key", default_name);
        so.cert_file = mint_path(crt);
        so.key_file = mint_path(key);
    }
    ck_assert_msg(net_tls_ctx_new(true, &so, &m.sctx, &err) == 0, "%s", err.msg);
    co.ca_file = mint_path("ca/ca.crt");
    co.insecure = insecure;
    ck_assert_msg(net_tls_ctx_new(false, &co, &m.cctx, &err) == 0, "%s", err.msg);
}

static bool
mint_side_is_done(const struct mint_side *s)
{
    return s->connected || s->failed || s->eof;
}

static void
mint_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct mint_side *s = arg;
    const char *sni;

    if (what & BEV_EVENT_CONNECTED) {
        s->connected = true;
        sni = net_tls_sni(bev);
        snprintf(s->sni, sizeof(s->sni), "%s", sni != NULL ? sni : "(none)");
    }
    if (what & BEV_EVENT_ERROR) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "%s", net_tls_error(bev));
    }
    if (what & BEV_EVENT_EOF)
        s->eof = true;
    if (mint_side_is_done(&m.client) && mint_side_is_done(&m.server))
        event_base_loopexit(m.base, NULL);
}

/* Wrap under as side s with ctx and host. */
static void
mint_wrap(struct mint_side *s, struct net_tls_ctx *ctx, struct bufferevent *under, const char *host)
{
    s->bev = net_tls_wrap(ctx, under, host);
    ck_assert_ptr_nonnull(s->bev);
    bufferevent_setcb(s->bev, NULL, NULL, mint_event_cb, s);
}

static void
mint_early_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    (void)arg;
    event_base_loopexit(m.base, NULL);
}

/*
 * One handshake: the client sends SNI client_host (NULL: none); the server is wrapped with
 * server_host (the host to mint for without SNI, or NULL). When late, the server wraps its
 * socket only once the ClientHello is in its input, as a proxy does after reading a CONNECT
 * head that arrived with the ClientHello.
 */
static void
mint_handshake_at(const char *server_host, const char *client_host, bool late)
{
    struct bufferevent *sunder, *cunder;
    int sv[2];

    mint_conns_free();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    sunder = bufferevent_socket_new(m.base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    cunder = bufferevent_socket_new(m.base, sv[1], BEV_OPT_CLOSE_ON_FREE);
    ck_assert(sunder != NULL && cunder != NULL);
    if (!late)
        mint_wrap(&m.server, m.sctx, sunder, server_host);
    mint_wrap(&m.client, m.cctx, cunder, client_host);
    if (late) {
        bufferevent_setcb(sunder, mint_early_read_cb, NULL, NULL, NULL);
        bufferevent_enable(sunder, EV_READ);
        event_base_dispatch(m.base);
        ck_assert_uint_gt(evbuffer_get_length(bufferevent_get_input(sunder)), 0);
        bufferevent_setcb(sunder, NULL, NULL, NULL, NULL);
        mint_wrap(&m.server, m.sctx, sunder, server_host);
    }
    event_base_dispatch(m.base);
    ck_assert_msg(mint_side_is_done(&m.client) && mint_side_is_done(&m.server),
                  "the handshake did not end in %d s", MINT_DEADLINE_S);
}

static void
mint_handshake(const char *server_host, const char *client_host)
{
    mint_handshake_at(server_host, client_host, false);
}

static void
mint_assert_connected(void)
{
    ck_assert_msg(m.client.connected, "client: %s", m.client.error);
    ck_assert_msg(m.server.connected, "server: %s", m.server.error);
}

/* The subjectAltName entries of crt: each one's tag and value must be tag/v. */
static void
mint_assert_san(const mbedtls_x509_crt *crt, int tag, const void *v, size_t len)
{
    const mbedtls_x509_sequence *san = &crt->subject_alt_names;
    int n = 0;

    for (; san != NULL && san->buf.p != NULL; san = san->next, n++) {
        ck_assert_int_eq(san->buf.tag, tag);
        ck_assert_uint_eq(san->buf.len, len);
        ck_assert(memcmp(san->buf.p, v, len) == 0);
    }
    ck_assert_int_eq(n, 1);
}

START_TEST(test_mint_two_hosts_and_cache)
{
    struct net_tls_mint_stats st;

    mint_ctxs_new(NULL, false);
    /* The client verifies each leaf against the name it dialled (the DNS SAN). */
    mint_handshake(NULL, "a.example.test");
    mint_assert_connected();
    ck_assert_str_eq(m.server.sni, "a.example.test");
    mint_handshake(NULL, "b.example.test");
    mint_assert_connected();
    ck_assert_str_eq(m.server.sni, "b.example.test");
    net_tls_mint_stats(m.mint, &st);
    ck_assert_uint_eq(st.minted, 2);
    ck_assert_uint_eq(st.hits, 0);
    /* Again, with other case: served from the cache, nothing signed. */
    mint_handshake(NULL, "A.Example.Test");
    mint_assert_connected();
    net_tls_mint_stats(m.mint, &st);
    ck_assert_uint_eq(st.minted, 2);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.cached, 2);
}

END_TEST

START_TEST(test_mint_leaf_names)
{
    static const unsigned char ip4[] = {127, 0, 0, 9};
    static const unsigned char ip6[16] = {[15] = 1};
    struct net_tls_mint_leaf *a = NULL, *b = NULL, *c = NULL;
    struct df_error err = {{0}};
    mbedtls_x509_crt *crt;
    char subject[128];

    ck_assert_int_eq(net_tls_mint_get(m.mint, "registry.test", &a, &err), 0);
    crt = net_tls_mint_leaf_crt(a);
    mint_assert_san(crt, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, "registry.test", 13);
    ck_assert(mbedtls_x509_dn_gets(subject, sizeof(subject), &crt->subject) > 0);
    ck_assert_str_eq(subject, "CN=registry.test");
    ck_assert(mbedtls_x509_dn_gets(subject, sizeof(subject), &crt->issuer) > 0);
    ck_assert_str_eq(subject, "CN=proxy CA, O=dragonfly");
    ck_assert(!crt->ca_istrue);
    ck_assert_ptr_nonnull(crt->next); /* the CA follows the leaf */
    ck_assert(crt->next->ca_istrue);
    ck_assert_int_eq(mbedtls_pk_get_type(&crt->pk), MBEDTLS_PK_ECKEY);
    ck_assert_int_eq(net_tls_mint_get(m.mint, "127.0.0.9", &b, &err), 0);
    mint_assert_san(net_tls_mint_leaf_crt(b), MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, ip4, 4);
    ck_assert_int_eq(net_tls_mint_get(m.mint, "::1", &c, &err), 0);
    mint_assert_san(net_tls_mint_leaf_crt(c), MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, ip6, 16);
    /* Random serials: two leaves never share one. */
    ck_assert(net_tls_mint_leaf_crt(a)->serial.len == net_tls_mint_leaf_crt(b)->serial.len);
    ck_assert(memcmp(net_tls_mint_leaf_crt(a)->serial.p, net_tls_mint_leaf_crt(b)->serial.p,
                     net_tls_mint_leaf_crt(a)->serial.len) != 0);
    net_tls_mint_leaf_release(a);
    net_tls_mint_leaf_release(b);
    net_tls_mint_leaf_release(c);
    ck_assert_int_eq(net_tls_mint_get(m.mint, "a,OU=seed", &a, &err), DF_EINVAL);
    ck_assert_msg(strstr(err.msg, "not a host name or address") != NULL, "%s", err.msg);
    ck_assert_int_eq(net_tls_mint_get(m.mint, "under_score.test", &a, &err), DF_EINVAL);
}

END_TEST

/* The cache stays bounded; a leaf evicted while held stays valid for its holder. */
START_TEST(test_mint_cache_bounded)
{
    struct net_tls_mint_opts mo = {0};
    struct net_tls_mint_leaf *held = NULL, *l = NULL;
    struct net_tls_mint_stats st;
    struct df_error err = {{0}};
    char host[32];

    net_tls_mint_free(m.mint);
    mo.ca_file = mint_path("ca/ca.crt");
    mo.ca_key_file = mint_path("ca/ca.key");
    mo.cache_max = 2;
    ck_assert_msg(net_tls_mint_new(&mo, &m.mint, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(net_tls_mint_get(m.mint, "h0.test", &held, &err), 0);
    for (int i = 1; i <= 3; i++) {
        snprintf(host, sizeof(host), "h%d.test", i);
        ck_assert_int_eq(net_tls_mint_get(m.mint, host, &l, &err), 0);
        net_tls_mint_leaf_release(l);
    }
    net_tls_mint_stats(m.mint, &st);
    ck_assert_uint_eq(st.cached, 2);
    ck_assert_uint_eq(st.evicted, 2);
    mint_assert_san(net_tls_mint_leaf_crt(held), MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, "h0.test", 7);
    /* h3 is the most recent: a hit; h0 was evicted: signed again. */
    ck_assert_int_eq(net_tls_mint_get(m.mint, "h3.test", &l, &err), 0);
    net_tls_mint_leaf_release(l);
    ck_assert_int_eq(net_tls_mint_get(m.mint, "h0.test", &l, &err), 0);
    net_tls_mint_leaf_release(l);
    net_tls_mint_stats(m.mint, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.minted, 5);
    net_tls_mint_free(m.mint); /* a held leaf outlives its minter */
    m.mint = NULL;
    ck_assert(!net_tls_mint_leaf_crt(held)->ca_istrue);
    net_tls_mint_leaf_release(held);
}

END_TEST

START_TEST(test_mint_no_sni_refused)
{
    mint_ctxs_new(NULL, true);
    mint_handshake(NULL, NULL);
    ck_assert(!m.client.connected);
    ck_assert(m.server.failed);
    ck_assert_msg(strstr(m.server.error, "no SNI") != NULL, "%s", m.server.error);
}

END_TEST

START_TEST(test_mint_no_sni_default_cert)
{
    mint_ctxs_new("default", true);
    mint_handshake(NULL, NULL);
    mint_assert_connected();
    ck_assert_str_eq(m.server.sni, "(none)");
}

END_TEST

/* Without SNI the host given to net_tls_wrap is minted (an address here: an IP SAN). */
START_TEST(test_mint_no_sni_wrap_host)
{
    struct net_tls_mint_leaf *l = NULL;
    struct net_tls_mint_stats st;
    struct df_error err = {{0}};

    mint_ctxs_new(NULL, true);
    mint_handshake("127.0.0.7", NULL);
    mint_assert_connected();
    net_tls_mint_stats(m.mint, &st);
    ck_assert_uint_eq(st.minted, 1);
    ck_assert_int_eq(net_tls_mint_get(m.mint, "127.0.0.7", &l, &err), 0);
    net_tls_mint_leaf_release(l);
    net_tls_mint_stats(m.mint, &st);
    ck_assert_uint_eq(st.hits, 1);
}

END_TEST

/* A client that names one host in SNI after asking for another is refused. */
START_TEST(test_mint_sni_differs_from_wrap_host)
{
    mint_ctxs_new(NULL, false);
    mint_handshake("a.example.test", "a.example.test");
    mint_assert_connected();
    mint_handshake("a.example.test", "b.example.test");
    ck_assert(!m.client.connected);
    ck_assert(m.server.failed);
    ck_assert_msg(strstr(m.server.error, "names \"b.example.test\" in SNI") != NULL, "%s",
                  m.server.error);
    ck_assert_msg(strstr(m.client.error, "server refused us: unrecognized name") != NULL, "%s",
                  m.client.error);
}

END_TEST

/* A ClientHello already read when the server wraps the socket is not left waiting. */
START_TEST(test_mint_client_hello_read_before_wrap)
{
    mint_ctxs_new(NULL, false);
    mint_handshake_at("a.example.test", "a.example.test", true);
    mint_assert_connected();
    ck_assert_str_eq(m.server.sni, "a.example.test");
}

END_TEST

/* The issuer of a leaf is the CA's subject exactly, whatever characters it holds: a client
 * matches them byte for byte to find the CA. */
START_TEST(test_mint_ca_name_utf8)
{
    struct net_tls_mint_opts mo = {0};
    struct net_tls_opts so = {0}, co = {0};
    struct df_error err = {{0}};

    net_tls_mint_free(m.mint);
    mo.ca_file = mint_path("odd.crt");
    mo.ca_key_file = mint_path("odd.key");
    ck_assert_msg(net_tls_mint_new(&mo, &m.mint, &err) == 0, "%s", err.msg);
    so.mint = m.mint;
    ck_assert_int_eq(net_tls_ctx_new(true, &so, &m.sctx, &err), 0);
    co.ca_file = mint_path("odd.crt");
    ck_assert_int_eq(net_tls_ctx_new(false, &co, &m.cctx, &err), 0);
    mint_handshake(NULL, "a.example.test");
    mint_assert_connected();
}

END_TEST

/* A server that does not mint takes any SNI, even one no certificate could name. */
START_TEST(test_plain_server_any_sni)
{
    struct net_tls_opts so = {0}, co = {0};
    struct df_error err = {{0}};
    char host[NET_TLS_HOST_MAX + 2];

    so.cert_file = mint_path("default.crt");
    so.key_file = mint_path("default.key");
    ck_assert_int_eq(net_tls_ctx_new(true, &so, &m.sctx, &err), 0);
    co.insecure = true;
    ck_assert_int_eq(net_tls_ctx_new(false, &co, &m.cctx, &err), 0);
    memset(host, 'a', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    mint_handshake(NULL, host);
    mint_assert_connected();
    ck_assert_str_eq(m.server.sni, "(none)");
    mint_handshake(NULL, "b.example.test");
    mint_assert_connected();
    ck_assert_str_eq(m.server.sni, "b.example.test");
}

END_TEST

/* A client that does not trust the minting CA refuses the leaf. */
START_TEST(test_mint_untrusted_ca)
{
    struct net_tls_opts so = {0}, co = {0};
    struct df_error err = {{0}};

    so.mint = m.mint;
    ck_assert_int_eq(net_tls_ctx_new(true, &so, &m.sctx, &err), 0);
    co.ca_file = mint_path("ca2/ca.crt");
    ck_assert_int_eq(net_tls_ctx_new(false, &co, &m.cctx, &err), 0);
    mint_handshake(NULL, "a.example.test");
    ck_assert(m.client.failed);
    ck_assert_msg(strstr(m.client.error, "unknown CA") != NULL, "%s", m.client.error);
}

END_TEST

static const struct {
    const char *crt, *key, *want;
} mint_bad_cas[] = {
        {"missing/ca.crt", "ca/ca.key", "missing/ca.crt: No such file or directory"},
        {"junk.crt", "ca/ca.key", "junk.crt: X509"},
        {"ca/ca.crt", "missing.key", "missing.key: No such file or directory"},
        {"default.crt", "default.key", "default.crt: not a CA certificate"},
        {"ca/ca.crt", "ca2/ca.key", "ca2/ca.key does not belong to"},
};

START_TEST(test_mint_bad_ca)
{
    struct net_tls_mint_opts mo = {0};
    struct net_tls_mint *mint = NULL;
    struct df_error err = {{0}};

    mo.ca_file = mint_path(mint_bad_cas[_i].crt);
    mo.ca_key_file = mint_path(mint_bad_cas[_i].key);
    ck_assert_int_eq(net_tls_mint_new(&mo, &mint, &err), DF_ETLS);
    ck_assert_ptr_null(mint);
    ck_assert_msg(strncmp(err.msg, "tls mint: ", 10) == 0, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, mint_bad_cas[_i].want) != NULL, "%s", err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}

END_TEST

START_TEST(test_mint_opts_errors)
{
    struct net_tls_mint_opts mo = {0};
    struct net_tls_opts o = {0};
    struct net_tls_mint *mint = NULL;
    struct df_error err = {{0}};

    ck_assert_int_eq(net_tls_mint_new(&mo, &mint, &err), DF_EINVAL);
    mo.ca_file = mint_path("ca/ca.crt");
    mo.ca_key_file = mint_path("ca/ca.key");
    mo.valid_secs = 5;
    ck_assert_int_eq(net_tls_mint_new(&mo, &mint, &err), DF_EINVAL);
    ck_assert_msg(strstr(err.msg, "lifetime") != NULL, "%s", err.msg);
    o.mint = m.mint;
    ck_assert_int_eq(net_tls_ctx_new(false, &o, &m.cctx, &err), DF_EINVAL);
    ck_assert_msg(strstr(err.msg, "mint is a server setting") != NULL, "%s", err.msg);
}

END_TEST

Suite *test_net_tls_mint_suite(void);

Suite *
test_net_tls_mint_suite(void)
{
    Suite *s = suite_create("net_tls_mint");
    TCase *tc = tcase_create("mint");

    tcase_add_unchecked_fixture(tc, mint_certs_setup, mint_certs_teardown);
    tcase_add_checked_fixture(tc, mint_loop_setup, mint_loop_teardown);
    tcase_set_timeout(tc, MINT_DEADLINE_S * 3);
    tcase_add_test(tc, test_mint_two_hosts_and_cache);
    tcase_add_test(tc, test_mint_leaf_names);
    tcase_add_test(tc, test_mint_cache_bounded);
    tcase_add_test(tc, test_mint_no_sni_refused);
    tcase_add_test(tc, test_mint_no_sni_default_cert);
    tcase_add_test(tc, test_mint_no_sni_wrap_host);
    tcase_add_test(tc, test_mint_sni_differs_from_wrap_host);
    tcase_add_test(tc, test_mint_client_hello_read_before_wrap);
    tcase_add_test(tc, test_mint_untrusted_ca);
    tcase_add_test(tc, test_plain_server_any_sni);
    tcase_add_test(tc, test_mint_ca_name_utf8);
    tcase_add_loop_test(tc, test_mint_bad_ca, 0, (int)DF_NELEM(mint_bad_cas));
    tcase_add_test(tc, test_mint_opts_errors);
    suite_add_tcase(s, tc);
    return s;
}
