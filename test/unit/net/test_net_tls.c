/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_tls over loopback: a TLS echo server and client on one event loop, certificates from
 * scripts/gen-test-certs.sh in a temp dir. Data follows a pattern that is a function of its
 * offset, so lost, duplicated or reordered bytes are caught. The "mtls" case checks cluster
 * identities with certificates made by `dragonfly cert` itself (cli_cert_main).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/net_connect.h"
#include "df/net_listener.h"
#include "df/net_tls.h"
#include "df/roles.h"
#include "../unit_cert.h"

#define TLS_ECHO_BYTES (32u * 1024 * 1024)
#define TLS_CHUNK      (1024u * 1024)
/* A guard, not a goal: 32 MiB through ASan-built TLS on a loaded 2-core machine can take
 * tens of seconds (0.6 s on an idle one); the tcase timeout is above it. */
#define TLS_DEADLINE_MS 150000

struct tls_side {
    struct bufferevent *bev;
    bool connected, failed, eof;
    int ident_rv; /* net_tls_peer_identity() at CONNECTED */
    struct net_tls_identity ident;
    char error[256];
    char alpn[32];
    size_t sent, recvd;
};

enum tls_server_mode {
    TLS_SERVER_ECHO, /* write back what arrives */
    TLS_SERVER_SINK, /* verify and discard */
    TLS_SERVER_HOLD, /* read nothing until the test says so */
};

static struct {
    char certdir[64];
    struct event_base *base;
    struct evdns_base *dns;
    struct event *deadline;
    struct event *hold_ev; /* test_slow_reader_backpressure's check */
    int hold_full_ticks;
    struct net_listener *listener;
    struct net_tls_ctx *sctx, *cctx;
    struct tls_side server, client;
    enum tls_server_mode server_mode;
    size_t total;                /* bytes the client sends */
    const char *client_hostname; /* verification name */
    bool client_expect;          /* wrap with net_tls_wrap_expect(expect_roles, expect_host) */
    unsigned expect_roles;
    const char *expect_host;
    bool client_close; /* send close_notify after the data */
    bool (*is_done)(void);
} t;

static uint8_t
tls_pattern(size_t i)
{
    return (uint8_t)((i ^ (i >> 8) ^ (i >> 17)) * 31u + 7u);
}

static const char *
tls_path(const char *name)
{
    static char buf[4][128];
    static int n;
    char *p = buf[n++ % 4];

    snprintf(p, sizeof(buf[0]), "%s/%s", t.certdir, name);
    return p;
}

static void
tls_check_done(void)
{
    if (t.is_done != NULL && t.is_done())
        event_base_loopexit(t.base, NULL);
}

/* Verify len bytes at the front of buf against the pattern from *offset and drain them. */
static void
tls_consume(struct evbuffer *buf, size_t *offset, size_t len)
{
    struct evbuffer_iovec v[16];
    size_t done;
    int n;

    while (len > 0) {
        n = evbuffer_peek(buf, (ev_ssize_t)len, NULL, v, 16);
        ck_assert_int_gt(n, 0);
        done = 0;
        for (int k = 0; k < n && k < 16 && done < len; k++) {
            const uint8_t *p = v[k].iov_base;
            size_t m = v[k].iov_len < len - done ? v[k].iov_len : len - done;

            for (size_t j = 0; j < m; j++)
                if (p[j] != tls_pattern(*offset + done + j))
                    ck_abort_msg("byte %zu: got %u want %u", *offset + done + j, p[j],
                                 tls_pattern(*offset + done + j));
            done += m;
        }
        evbuffer_drain(buf, done);
        *offset += done;
        len -= done;
    }
}

static void
tls_side_event(struct tls_side *s, struct bufferevent *bev, short what)
{
    const char *alpn;

    if (what & BEV_EVENT_CONNECTED) {
        s->connected = true;
        s->ident_rv = net_tls_peer_identity(bev, &s->ident);
        alpn = net_tls_alpn(bev);
        snprintf(s->alpn, sizeof(s->alpn), "%s", alpn != NULL ? alpn : "");
    }
    if (what & BEV_EVENT_ERROR) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "%s", net_tls_error(bev));
    }
    if (what & BEV_EVENT_EOF)
        s->eof = true;
}

static void
tls_server_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)arg;
    switch (t.server_mode) {
    case TLS_SERVER_ECHO:
        t.server.recvd += evbuffer_get_length(in);
        evbuffer_add_buffer(bufferevent_get_output(bev), in);
        break;
    case TLS_SERVER_SINK:
        tls_consume(in, &t.server.recvd, evbuffer_get_length(in));
        break;
    case TLS_SERVER_HOLD:
        break;
    }
    tls_check_done();
}

static void
tls_server_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    tls_side_event(&t.server, bev, what);
    tls_check_done();
}

static void
tls_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct bufferevent *under;

    (void)peer;
    (void)peerlen;
    (void)arg;
    ck_assert_ptr_null(t.server.bev);
    under = bufferevent_socket_new(t.base, fd, BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(under);
    t.server.bev = net_tls_wrap(t.sctx, under, NULL);
    ck_assert_ptr_nonnull(t.server.bev);
    ck_assert(net_tls_is_tls(t.server.bev));
    ck_assert(!net_tls_is_tls(under));
    /* No identity before the handshake, and none on a plain connection. */
    ck_assert_int_eq(net_tls_peer_identity(t.server.bev, &t.server.ident), DF_EAGAIN);
    ck_assert_int_eq(t.server.ident.role, NET_TLS_ROLE_NONE);
    ck_assert_int_eq(net_tls_peer_identity(under, &t.server.ident), DF_EINVAL);
    if (t.server_mode == TLS_SERVER_HOLD)
        bufferevent_setwatermark(t.server.bev, EV_READ, 0, 64 * 1024);
    bufferevent_setcb(t.server.bev, tls_server_read_cb, NULL, tls_server_event_cb, NULL);
    bufferevent_enable(t.server.bev, EV_READ | EV_WRITE);
}

/* Queue pattern data up to one more chunk. */
static void
tls_client_fill(struct bufferevent *bev)
{
    uint8_t buf[16384];
    size_t end = t.client.sent + TLS_CHUNK;

    if (end > t.total)
        end = t.total;
    while (t.client.sent < end) {
        size_t n = end - t.client.sent < sizeof(buf) ? end - t.client.sent : sizeof(buf);

        for (size_t j = 0; j < n; j++)
            buf[j] = tls_pattern(t.client.sent + j);
        t.client.sent += n;
        ck_assert_int_eq(bufferevent_write(bev, buf, n), 0);
    }
    if (t.client.sent == t.total && t.client_close)
        bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
}

static void
tls_client_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)arg;
    tls_consume(in, &t.client.recvd, evbuffer_get_length(in));
    tls_check_done();
}

static void
tls_client_write_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (t.client.connected && t.client.sent < t.total)
        tls_client_fill(bev);
}

static void
tls_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    tls_side_event(&t.client, bev, what);
    if ((what & BEV_EVENT_CONNECTED) && t.total > 0)
        tls_client_fill(bev);
    tls_check_done();
}

static void
tls_connected_cb(struct bufferevent *under, int rv, void *arg)
{
    (void)arg;
    ck_assert_int_eq(rv, 0);
    if (t.client_expect)
        t.client.bev = net_tls_wrap_expect(t.cctx, under, t.expect_roles, t.expect_host);
    else
        t.client.bev = net_tls_wrap(t.cctx, under, t.client_hostname);
    ck_assert_ptr_nonnull(t.client.bev);
    bufferevent_setcb(t.client.bev, tls_client_read_cb, tls_client_write_cb, tls_client_event_cb,
                      NULL);
    bufferevent_enable(t.client.bev, EV_READ | EV_WRITE);
}

static void
tls_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopexit(t.base, NULL);
}

static void
tls_certs_setup(void)
{
    char cmd[256];

    snprintf(t.certdir, sizeof(t.certdir), "/tmp/df-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t.certdir));
    snprintf(cmd, sizeof(cmd), "sh scripts/gen-test-certs.sh %s", t.certdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void
tls_certs_teardown(void)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", t.certdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t.certdir);
}

static void
tls_loop_setup(void)
{
    struct timeval tv = {TLS_DEADLINE_MS / 1000, 0};
    char certdir[sizeof(t.certdir)];

    /* Each test starts clean, forked or not; only the certificate dir carries over. */
    memcpy(certdir, t.certdir, sizeof(certdir));
    memset(&t, 0, sizeof(t));
    memcpy(t.certdir, certdir, sizeof(certdir));
    t.base = event_base_new();
    ck_assert_ptr_nonnull(t.base);
    t.dns = net_dns_new(t.base);
    ck_assert_ptr_nonnull(t.dns);
    t.deadline = evtimer_new(t.base, tls_deadline_cb, NULL);
    evtimer_add(t.deadline, &tv);
    t.client_hostname = "localhost";
}

static void
tls_loop_teardown(void)
{
    if (t.client.bev != NULL)
        bufferevent_free(t.client.bev);
    if (t.server.bev != NULL)
        bufferevent_free(t.server.bev);
    net_listener_free(t.listener);
    event_free(t.deadline);
    if (t.hold_ev != NULL)
        event_free(t.hold_ev);
    net_dns_free(t.dns);
    event_base_free(t.base);
    net_tls_ctx_free(t.sctx);
    net_tls_ctx_free(t.cctx);
}

static void
tls_server_new_opts(const struct net_tls_opts *o)
{
    struct df_error err = {{0}};

    ck_assert_msg(net_tls_ctx_new(true, o, &t.sctx, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(
            net_listener_new(t.base, "127.0.0.1:0", 0, tls_accept_cb, NULL, &t.listener, &err), 0);
}

static void
tls_server_new(const char *cert, const char *key, const char *ca, const char *const *alpn)
{
    struct net_tls_opts o = {0};

    o.cert_file = tls_path(cert);
    o.key_file = tls_path(key);
    o.ca_file = ca != NULL ? tls_path(ca) : NULL;
    o.alpn = alpn;
    tls_server_new_opts(&o);
}

static void
tls_client_new(const struct net_tls_opts *o)
{
    struct df_error err = {{0}};

    ck_assert_msg(net_tls_ctx_new(false, o, &t.cctx, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(net_connect_start(t.base, t.dns, "127.0.0.1", net_listener_port(t.listener),
                                       5000, tls_connected_cb, NULL, NULL),
                     0);
}

static bool
tls_echo_done(void)
{
    return t.client.recvd == t.total || t.client.failed || t.server.failed;
}

START_TEST(test_echo_32mib)
{
    static const char *const alpn_srv[] = {"h2", "http/1.1", NULL};
    static const char *const alpn_cli[] = {"h2", NULL};
    struct net_tls_opts o = {0};

    t.total = TLS_ECHO_BYTES;
    t.is_done = tls_echo_done;
    tls_server_new("server.crt", "server.key", NULL, alpn_srv);
    o.ca_file = tls_path("ca.crt");
    o.alpn = alpn_cli;
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_msg(!t.server.failed, "server: %s", t.server.error);
    ck_assert(t.client.connected && t.server.connected);
    ck_assert_uint_eq(t.client.sent, TLS_ECHO_BYTES);
    ck_assert_uint_eq(t.server.recvd, TLS_ECHO_BYTES);
    ck_assert_uint_eq(t.client.recvd, TLS_ECHO_BYTES);
    ck_assert_str_eq(t.client.alpn, "h2");
    ck_assert_str_eq(t.server.alpn, "h2");
    ck_assert_str_eq(net_tls_error(t.client.bev), "no error");
}

END_TEST

static bool
tls_sink_done(void)
{
    return (t.server.recvd == t.total && t.server.eof) || t.client.failed || t.server.failed;
}

START_TEST(test_close_notify_is_eof)
{
    struct net_tls_opts o = {0};

    t.total = 100000;
    t.client_close = true;
    t.server_mode = TLS_SERVER_SINK;
    t.is_done = tls_sink_done;
    tls_server_new("server.crt", "server.key", NULL, NULL);
    o.ca_file = tls_path("ca.crt");
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_msg(!t.server.failed, "server: %s", t.server.error);
    ck_assert_uint_eq(t.server.recvd, t.total);
    ck_assert(t.server.eof);
    /* No ALPN configured: none negotiated. */
    ck_assert_str_eq(t.server.alpn, "");
}

END_TEST

/*
 * A reader that stops must stop the socket too: memory stays bounded, nothing is lost.
 * Checked every tick while the server holds (no wall-clock bound: a slow machine only takes
 * more ticks); once the input has sat full for a few ticks, the server drains it all.
 */
#define TLS_HOLD_FULL_TICKS 4

static void
tls_hold_check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bufferevent *u;
    size_t in, under_in;

    (void)fd;
    (void)what;
    (void)arg;
    if (t.server.bev == NULL || !t.server.connected)
        return;
    u = bufferevent_get_underlying(t.server.bev);
    in = evbuffer_get_length(bufferevent_get_input(t.server.bev));
    under_in = evbuffer_get_length(bufferevent_get_input(u));
    ck_assert_uint_le(in, 64 * 1024 + 16384);
    ck_assert_uint_le(under_in, 256 * 1024);
    t.hold_full_ticks = in >= 64 * 1024 ? t.hold_full_ticks + 1 : 0;
    if (t.hold_full_ticks < TLS_HOLD_FULL_TICKS)
        return;
    ck_assert_uint_lt(t.client.sent - in, 8u * 1024 * 1024); /* the client was held up */
    evtimer_del(t.hold_ev);
    t.server_mode = TLS_SERVER_SINK;
    tls_consume(bufferevent_get_input(t.server.bev), &t.server.recvd, in);
}

START_TEST(test_slow_reader_backpressure)
{
    struct net_tls_opts o = {0};
    struct timeval tv = {0, 50000};

    t.total = 16u * 1024 * 1024;
    t.server_mode = TLS_SERVER_HOLD;
    t.client_close = true;
    t.is_done = tls_sink_done;
    tls_server_new("server.crt", "server.key", NULL, NULL);
    o.ca_file = tls_path("ca.crt");
    tls_client_new(&o);
    t.hold_ev = event_new(t.base, -1, EV_PERSIST, tls_hold_check_cb, NULL);
    evtimer_add(t.hold_ev, &tv);
    event_base_dispatch(t.base);
    ck_assert_int_ge(t.hold_full_ticks, TLS_HOLD_FULL_TICKS);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_msg(!t.server.failed, "server: %s", t.server.error);
    ck_assert_uint_eq(t.server.recvd, t.total);
}

END_TEST

static bool
tls_fail_done(void)
{
    return t.client.failed && (t.server.failed || t.server.eof);
}

START_TEST(test_hostname_mismatch)
{
    struct net_tls_opts o = {0};

    t.is_done = tls_fail_done;
    tls_server_new("other.crt", "other.key", NULL, NULL);
    o.ca_file = tls_path("ca.crt");
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert(t.client.failed);
    ck_assert(!t.client.connected);
    ck_assert_msg(strstr(t.client.error, "verify failed") != NULL, "%s", t.client.error);
    ck_assert_msg(strstr(t.client.error, "hostname mismatch") != NULL, "%s", t.client.error);
    ck_assert(!t.server.connected);
}

END_TEST

/* mbedtls 2.28 matches DNS names only: an IP literal cannot be verified. */
START_TEST(test_ip_literal_not_verifiable)
{
    struct net_tls_opts o = {0};

    t.is_done = tls_fail_done;
    tls_server_new("server.crt", "server.key", NULL, NULL);
    o.ca_file = tls_path("ca.crt");
    t.client_hostname = "127.0.0.1";
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert(t.client.failed);
    ck_assert_msg(strstr(t.client.error, "hostname mismatch") != NULL, "%s", t.client.error);
}

END_TEST

START_TEST(test_unknown_ca)
{
    struct net_tls_opts o = {0};

    t.is_done = tls_fail_done;
    tls_server_new("rogue.crt", "rogue.key", NULL, NULL);
    o.ca_file = tls_path("ca.crt");
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert(t.client.failed);
    ck_assert_msg(strstr(t.client.error, "unknown CA") != NULL, "%s", t.client.error);
}

END_TEST

START_TEST(test_insecure_accepts_unknown_ca)
{
    struct net_tls_opts o = {0};

    t.total = 4096;
    t.is_done = tls_echo_done;
    tls_server_new("rogue.crt", "rogue.key", NULL, NULL);
    o.ca_file = tls_path("ca.crt");
    o.insecure = true;
    t.client_hostname = NULL; /* no name needed when not verifying */
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_uint_eq(t.client.recvd, t.total);
}

END_TEST

static bool
tls_client_fail_done(void)
{
    return t.client.failed;
}

START_TEST(test_missing_hostname_fails)
{
    struct net_tls_opts o = {0};

    t.is_done = tls_client_fail_done;
    tls_server_new("server.crt", "server.key", NULL, NULL);
    o.ca_file = tls_path("ca.crt");
    t.client_hostname = NULL;
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert(t.client.failed);
    ck_assert_msg(strstr(t.client.error, "hostname") != NULL, "%s", t.client.error);
}

END_TEST

START_TEST(test_client_cert_optional)
{
    struct net_tls_opts o = {0};

    t.total = 1000;
    t.is_done = tls_echo_done;
    tls_server_new("server.crt", "server.key", "ca.crt", NULL);
    o.ca_file = tls_path("ca.crt");
    if (_i == 1) {
        o.cert_file = tls_path("client.crt");
        o.key_file = tls_path("client.key");
    }
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_msg(!t.server.failed, "server: %s", t.server.error);
    ck_assert_uint_eq(t.client.recvd, t.total);
}

END_TEST

static bool
tls_server_fail_done(void)
{
    return t.server.failed && (t.client.failed || t.client.eof);
}

START_TEST(test_client_cert_untrusted)
{
    struct net_tls_opts o = {0};

    t.is_done = tls_server_fail_done;
    tls_server_new("server.crt", "server.key", "ca.crt", NULL);
    o.ca_file = tls_path("ca.crt");
    o.cert_file = tls_path("rogue.crt");
    o.key_file = tls_path("rogue.key");
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert(t.server.failed);
    ck_assert_msg(strstr(t.server.error, "client certificate verify failed") != NULL, "%s",
                  t.server.error);
    ck_assert(!t.server.connected);
}

END_TEST

START_TEST(test_ctx_errors)
{
    struct net_tls_opts o = {0};
    struct net_tls_ctx *ctx = NULL;
    struct df_error err = {{0}};
    static const char *const long_alpn[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL};

    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_EINVAL);
    ck_assert_ptr_null(ctx);
    o.cert_file = tls_path("nope.crt");
    o.key_file = tls_path("server.key");
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_ETLS);
    ck_assert_msg(strstr(err.msg, "nope.crt") != NULL, "%s", err.msg);
    o.cert_file = tls_path("server.crt");
    o.key_file = tls_path("other.key");
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_ETLS);
    o.key_file = tls_path("server.key");
    o.ca_file = tls_path("missing-ca.crt");
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_ETLS);
    ck_assert_msg(strstr(err.msg, "missing-ca.crt") != NULL, "%s", err.msg);
    o.ca_file = NULL;
    o.alpn = long_alpn;
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_EINVAL);
    o.alpn = NULL;
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), 0);
    net_tls_ctx_free(ctx);
    ctx = NULL;
    /* A client with a CA dir. */
    memset(&o, 0, sizeof(o));
    o.ca_dir = t.certdir;
    ck_assert_msg(net_tls_ctx_new(false, &o, &ctx, &err) == 0, "%s", err.msg);
    net_tls_ctx_free(ctx);
    net_tls_ctx_free(NULL);
    ck_assert(!net_tls_is_tls(NULL));
    ck_assert_ptr_null(net_tls_alpn(NULL));
}

END_TEST

/* ---- cluster identities, with certificates from `dragonfly cert` ---- */

/*
 * A cluster CA with a scheduler (reachable as 127.0.0.1), a peer, a seed and an expired
 * peer; another CA with a peer of its own.
 */
static void
mtls_certs_setup(void)
{
    snprintf(t.certdir, sizeof(t.certdir), "/tmp/df-mtls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t.certdir));
    unit_cert("ca", "--dir", tls_path("ca"), NULL);
    unit_cert("ca", "--dir", tls_path("ca2"), "--name", "another CA", NULL);
    unit_cert("issue", "--dir", tls_path("ca"), "--role", "scheduler", "--host", "sched-1", "--ip",
              "127.0.0.1", "--out", tls_path("sched"), NULL);
    unit_cert("issue", "--dir", tls_path("ca"), "--role", "peer", "--host", "node-1", "--out",
              tls_path("peer"), NULL);
    unit_cert("issue", "--dir", tls_path("ca"), "--role", "seed", "--host", "seed-1", "--out",
              tls_path("seed"), NULL);
    unit_cert("issue", "--dir", tls_path("ca"), "--role", "peer", "--host", "old-1", "--not-after",
              "2020-01-01T00:00:00Z", "--out", tls_path("expired"), NULL);
    unit_cert("issue", "--dir", tls_path("ca2"), "--role", "peer", "--host", "node-1", "--out",
              tls_path("foreign"), NULL);
}

/* The scheduler's server: requires a client certificate from the cluster CA naming roles. */
static void
mtls_server_new(bool verify_client, unsigned roles)
{
    struct net_tls_opts o = {0};

    o.cert_file = tls_path("sched.crt");
    o.key_file = tls_path("sched.key");
    o.ca_file = tls_path("ca/ca.crt");
    o.verify_client = verify_client;
    o.peer_roles = roles;
    tls_server_new_opts(&o);
}

/* A client with certificate name (NULL: none) that wants a scheduler, dialled by IP. */
static void
mtls_client_new(const char *name)
{
    struct net_tls_opts o = {0};
    char crt[64], key[64];

    o.ca_file = tls_path("ca/ca.crt");
    o.peer_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER);
    if (name != NULL) {
        snprintf(crt, sizeof(crt), "%s.crt", name);
        snprintf(key, sizeof(key), "%s.key", name);
        o.cert_file = tls_path(crt);
        o.key_file = tls_path(key);
    }
    t.client_hostname = "127.0.0.1"; /* what a caller passes for an address: not checked */
    tls_client_new(&o);
}

START_TEST(test_mtls_ok_identities)
{
    t.total = 100000;
    t.is_done = tls_echo_done;
    mtls_server_new(true,
                    NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER) | NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED));
    mtls_client_new(_i == 0 ? "peer" : "seed");
    event_base_dispatch(t.base);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_msg(!t.server.failed, "server: %s", t.server.error);
    ck_assert_uint_eq(t.client.recvd, t.total);
    /* Each side reads the other's verified identity. */
    ck_assert_int_eq(t.server.ident_rv, 0);
    ck_assert_int_eq(t.server.ident.role, _i == 0 ? NET_TLS_ROLE_PEER : NET_TLS_ROLE_SEED);
    ck_assert_str_eq(t.server.ident.host, _i == 0 ? "node-1" : "seed-1");
    ck_assert_int_eq(t.client.ident_rv, 0);
    ck_assert_int_eq(t.client.ident.role, NET_TLS_ROLE_SCHEDULER);
    ck_assert_str_eq(t.client.ident.host, "sched-1");
}

END_TEST

/* Client certificates the cluster server refuses, and what each side says. */
static const struct {
    const char *cert;       /* NULL: none */
    const char *server_why; /* the server's error starts with this */
    const char *client_why; /* the client's error contains this */
} mtls_refusals[] = {
        {NULL, "handshake failed: no client certificate", "server refused us: handshake failure"},
        {"foreign", "client certificate verify failed: unknown CA",
         "server refused us: unknown CA"},
        {"expired", "client certificate verify failed: expired",
         "server refused us: certificate expired"},
};

START_TEST(test_mtls_client_refused)
{
    t.is_done = tls_server_fail_done;
    mtls_server_new(true, 0);
    mtls_client_new(mtls_refusals[_i].cert);
    event_base_dispatch(t.base);
    ck_assert(t.server.failed && !t.server.connected);
    ck_assert_msg(strncmp(t.server.error, mtls_refusals[_i].server_why,
                          strlen(mtls_refusals[_i].server_why)) == 0,
                  "%s", t.server.error);
    /* The alert comes before the close, so the client always learns why. */
    ck_assert(t.client.failed && !t.client.connected);
    ck_assert_msg(strstr(t.client.error, mtls_refusals[_i].client_why) != NULL, "%s",
                  t.client.error);
}

END_TEST

/* The scheduler takes seeds only: a peer's certificate is refused in the handshake. */
START_TEST(test_mtls_server_wrong_role)
{
    t.is_done = tls_server_fail_done;
    mtls_server_new(true, NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED));
    mtls_client_new("peer");
    event_base_dispatch(t.base);
    ck_assert(t.server.failed && !t.server.connected);
    ck_assert_str_eq(t.server.error, "wrong role: client certificate is for a peer, want seed");
    ck_assert(t.client.failed && !t.client.connected);
    ck_assert_msg(strstr(t.client.error, "server refused us: access denied") != NULL, "%s",
                  t.client.error);
}

END_TEST

/* A client that wants a seed (or a given host) refuses the scheduler it reached. */
START_TEST(test_mtls_client_wrong_role_or_host)
{
    t.is_done = tls_fail_done;
    mtls_server_new(true, 0);
    t.client_expect = true;
    if (_i == 0) {
        t.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED) | NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER);
    } else {
        t.expect_roles = 0; /* the context's: scheduler */
        t.expect_host = "sched-2";
    }
    mtls_client_new("peer");
    event_base_dispatch(t.base);
    ck_assert(t.client.failed && !t.client.connected);
    ck_assert_str_eq(
            t.client.error,
            _i == 0 ? "wrong role: server certificate is for a scheduler, want peer|seed"
                    : "wrong host: server certificate is for \"sched-1\", want \"sched-2\"");
    ck_assert(!t.server.connected);
}

END_TEST

/* Reached by IP, the server verifies by CA, role and host instead of a DNS name. */
START_TEST(test_mtls_expect_host_by_ip)
{
    t.total = 1000;
    t.is_done = tls_echo_done;
    mtls_server_new(true, 0);
    t.client_expect = true;
    t.expect_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER);
    t.expect_host = "sched-1";
    mtls_client_new("peer");
    event_base_dispatch(t.base);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_uint_eq(t.client.recvd, t.total);
    ck_assert_str_eq(t.client.ident.host, "sched-1");
}

END_TEST

/* Without verify_client, a client certificate is optional: none gives identity "none". */
START_TEST(test_mtls_optional_identity)
{
    t.total = 1000;
    t.is_done = tls_echo_done;
    mtls_server_new(false, 0);
    mtls_client_new(_i == 0 ? NULL : "peer");
    event_base_dispatch(t.base);
    ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
    ck_assert_msg(!t.server.failed, "server: %s", t.server.error);
    ck_assert_int_eq(t.server.ident_rv, 0);
    ck_assert_int_eq(t.server.ident.role, _i == 0 ? NET_TLS_ROLE_NONE : NET_TLS_ROLE_PEER);
    ck_assert_str_eq(t.server.ident.host, _i == 0 ? "" : "node-1");
}

END_TEST

/* Hostname verification of a `dragonfly cert` certificate through its DNS SAN still works. */
START_TEST(test_mtls_cert_dns_san)
{
    struct net_tls_opts o = {0};

    t.total = 1000;
    t.is_done = tls_echo_done;
    mtls_server_new(false, 0);
    o.ca_file = tls_path("ca/ca.crt");
    t.client_hostname = _i == 0 ? "sched-1" : "sched-2";
    if (_i == 1)
        t.is_done = tls_fail_done;
    tls_client_new(&o);
    event_base_dispatch(t.base);
    if (_i == 0) {
        ck_assert_msg(!t.client.failed, "client: %s", t.client.error);
        ck_assert_int_eq(t.client.ident.role, NET_TLS_ROLE_SCHEDULER);
    } else {
        ck_assert_msg(strstr(t.client.error, "hostname mismatch") != NULL, "%s", t.client.error);
    }
}

END_TEST

START_TEST(test_mtls_ctx_errors)
{
    struct net_tls_opts o = {0};
    struct net_tls_ctx *ctx = NULL;
    struct df_error err = {{0}};

    o.cert_file = tls_path("sched.crt");
    o.key_file = tls_path("sched.key");
    o.verify_client = true;
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_EINVAL);
    ck_assert_msg(strstr(err.msg, "cluster CA") != NULL, "%s", err.msg);
    o.verify_client = false;
    o.ca_file = tls_path("ca/ca.crt");
    o.peer_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER);
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_EINVAL); /* no verify_client */
    o.verify_client = true;
    o.peer_roles = 1u << 9;
    ck_assert_int_eq(net_tls_ctx_new(true, &o, &ctx, &err), DF_EINVAL);
    ck_assert_ptr_null(ctx);
    memset(&o, 0, sizeof(o));
    o.verify_client = true;
    o.ca_file = tls_path("ca/ca.crt");
    ck_assert_int_eq(net_tls_ctx_new(false, &o, &ctx, &err), DF_EINVAL); /* a server setting */
    o.verify_client = false;
    o.ca_file = NULL; /* roles against the system bundle: never */
    o.peer_roles = NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER);
    ck_assert_int_eq(net_tls_ctx_new(false, &o, &ctx, &err), DF_EINVAL);
    o.ca_file = tls_path("ca/ca.crt");
    o.insecure = true;
    ck_assert_int_eq(net_tls_ctx_new(false, &o, &ctx, &err), DF_EINVAL);
    ck_assert_ptr_null(ctx);
}

END_TEST

/* net_tls_wrap_expect refuses what it cannot check, through the normal failure path. */
START_TEST(test_mtls_expect_needs_ca)
{
    struct net_tls_opts o = {0};

    t.is_done = tls_client_fail_done;
    mtls_server_new(false, 0);
    t.client_expect = true;
    t.expect_roles = _i == 0 ? 0 : NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER);
    t.expect_host = _i == 2 ? "bad host" : NULL;
    if (_i == 1)
        o.insecure = true;
    else
        o.ca_file = tls_path("ca/ca.crt");
    tls_client_new(&o);
    event_base_dispatch(t.base);
    ck_assert(t.client.failed && !t.client.connected);
    ck_assert_msg(strncmp(t.client.error, "wrong ", 6) == 0, "%s", t.client.error);
}

END_TEST

START_TEST(test_role_names)
{
    enum net_tls_role r = NET_TLS_ROLE_NONE;

    ck_assert_str_eq(net_tls_role_name(NET_TLS_ROLE_SEED), "seed");
    ck_assert_str_eq(net_tls_role_name(NET_TLS_ROLE_NONE), "none");
    ck_assert_str_eq(net_tls_role_name((enum net_tls_role)42), "none");
    ck_assert_int_eq(net_tls_role_parse("manager", &r), 0);
    ck_assert_int_eq(r, NET_TLS_ROLE_MANAGER);
    ck_assert_int_eq(net_tls_role_parse("none", &r), DF_EINVAL);
    ck_assert_int_eq(net_tls_role_parse("Peer", &r), DF_EINVAL);
    ck_assert_int_eq(r, NET_TLS_ROLE_MANAGER);
    ck_assert(net_tls_host_is_valid("127.0.0.1-node_3.example"));
    ck_assert(!net_tls_host_is_valid(""));
    ck_assert(!net_tls_host_is_valid("-x"));
    ck_assert(!net_tls_host_is_valid("a,OU=seed"));
    ck_assert(!net_tls_host_is_valid(NULL));
}

END_TEST

Suite *test_net_tls_suite(void);

Suite *
test_net_tls_suite(void)
{
    Suite *s = suite_create("net_tls");
    TCase *tc = tcase_create("tls");

    tcase_add_unchecked_fixture(tc, tls_certs_setup, tls_certs_teardown);
    tcase_add_checked_fixture(tc, tls_loop_setup, tls_loop_teardown);
    tcase_set_timeout(tc, TLS_DEADLINE_MS / 1000 + 30);
    tcase_add_test(tc, test_echo_32mib);
    tcase_add_test(tc, test_close_notify_is_eof);
    tcase_add_test(tc, test_slow_reader_backpressure);
    tcase_add_test(tc, test_hostname_mismatch);
    tcase_add_test(tc, test_ip_literal_not_verifiable);
    tcase_add_test(tc, test_unknown_ca);
    tcase_add_test(tc, test_insecure_accepts_unknown_ca);
    tcase_add_test(tc, test_missing_hostname_fails);
    tcase_add_loop_test(tc, test_client_cert_optional, 0, 2);
    tcase_add_test(tc, test_client_cert_untrusted);
    tcase_add_test(tc, test_ctx_errors);
    tcase_add_test(tc, test_role_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("mtls");
    tcase_add_unchecked_fixture(tc, mtls_certs_setup, tls_certs_teardown);
    tcase_add_checked_fixture(tc, tls_loop_setup, tls_loop_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_mtls_ok_identities, 0, 2);
    tcase_add_loop_test(tc, test_mtls_client_refused, 0, (int)DF_NELEM(mtls_refusals));
    tcase_add_test(tc, test_mtls_server_wrong_role);
    tcase_add_loop_test(tc, test_mtls_client_wrong_role_or_host, 0, 2);
    tcase_add_test(tc, test_mtls_expect_host_by_ip);
    tcase_add_loop_test(tc, test_mtls_optional_identity, 0, 2);
    tcase_add_loop_test(tc, test_mtls_cert_dns_san, 0, 2);
    tcase_add_test(tc, test_mtls_ctx_errors);
    tcase_add_loop_test(tc, test_mtls_expect_needs_ca, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
