/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a proxy needs from net_http_server: the target of absolute-form and CONNECT requests,
 * and taking a CONNECT connection over. A net_http_server on 127.0.0.1:0 and a raw socket
 * client in one event_base.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/net_http_parse.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"
#include "df/net_tls.h"
#include "df/net_tls_mint.h"
#include "df/roles.h"
#include "../unit_cert.h"

static struct {
    struct event_base *base;
    struct event *deadline;
    struct net_http_server *srv;
    struct net_listener *lis;
    struct bufferevent *client; /* the raw client */
    struct evbuffer *got;       /* what it received */
    const char *stop_at;        /* leave the loop once got holds this */
    bool client_eof;
    struct bufferevent *tunnel; /* a connection taken over by the handler */
    int take_rv;                /* net_http_req_take_over's answer */
    unsigned conns_after_take;  /* net_http_server_conn_count right after it */
    int closes;                 /* close callbacks seen */
    bool stream_body;
    /* interception */
    char dir[64]; /* the CA's temp dir */
    struct net_tls_mint *mint;
    struct net_tls_ctx *sctx, *cctx;
    bool client_tls_connected;
    char client_error[256];
} p;

static void
proxy_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopexit(p.base, NULL);
}

static void
proxy_close_cb(struct net_http_req *req, int reason, void *arg)
{
    (void)req;
    (void)reason;
    (void)arg;
    p.closes++;
}

/* The tunnel echoes what arrives (starting with what came after the CONNECT head). */
static void
proxy_tunnel_read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

static void
proxy_take(struct net_http_req *req, const char *intercept_host)
{
    p.take_rv = net_http_req_take_over(req, &p.tunnel);
    if (p.take_rv != 0)
        return;
    p.conns_after_take = net_http_server_conn_count(p.srv);
    bufferevent_write(p.tunnel, "HTTP/1.1 200 Connection Established\r\n\r\n", 39);
    if (intercept_host != NULL) {
        /* Terminate TLS with a leaf for the CONNECT host; the echo then sees plaintext. */
        p.tunnel = net_tls_wrap(p.sctx, p.tunnel, intercept_host);
        ck_assert_ptr_nonnull(p.tunnel);
    }
    bufferevent_setcb(p.tunnel, proxy_tunnel_read_cb, NULL, NULL, NULL);
    bufferevent_enable(p.tunnel, EV_READ | EV_WRITE);
    /* What was read with the head is waiting already: echo it now. */
    proxy_tunnel_read_cb(p.tunnel, NULL);
}

/* Answers "rv scheme host port path" for every request; CONNECT is taken over. */
static void
proxy_handler(struct net_http_req *req, void *arg)
{
    struct net_http_target t;
    char body[512];
    int rv;

    (void)arg;
    net_http_req_on_close(req, proxy_close_cb, NULL);
    rv = net_http_req_target(req, &t);
    if (strcmp(net_http_req_method(req), "CONNECT") == 0 && rv == 0 &&
        strcmp(net_http_req_path(req), "127.0.0.1:443") == 0) {
        ck_assert_str_eq(t.host, "127.0.0.1");
        ck_assert_uint_eq(t.port, 443);
        ck_assert_ptr_null(t.path);
        proxy_take(req, NULL);
        return;
    }
    if (strcmp(net_http_req_method(req), "CONNECT") == 0 && rv == 0 && p.sctx != NULL) {
        proxy_take(req, t.host);
        return;
    }
    if (strcmp(net_http_req_method(req), "POST") == 0) {
        /* A body not read yet, then a response started: neither can be taken over. */
        ck_assert_int_eq(net_http_req_take_over(req, &p.tunnel), DF_EINVAL);
        ck_assert_int_eq(net_http_req_start(req, 200, "text/plain", 2, NULL, NULL), 0);
        ck_assert_int_eq(net_http_req_take_over(req, &p.tunnel), DF_EINVAL);
        ck_assert_ptr_null(p.tunnel);
        ck_assert_int_eq(net_http_req_write(req, "no", 2), 0);
        net_http_req_end(req, 0);
        return;
    }
    snprintf(body, sizeof(body), "%d %s %s %u %s|", rv, rv == 0 ? t.scheme : "-",
             rv == 0 ? t.host : "-", rv == 0 ? t.port : 0, rv == 0 ? t.path : "-");
    net_http_req_respond(req, 200, "text/plain", body, strlen(body));
}

static void
proxy_client_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer_ptr at;

    (void)arg;
    evbuffer_add_buffer(p.got, bufferevent_get_input(bev));
    if (p.stop_at == NULL)
        return;
    at = evbuffer_search(p.got, p.stop_at, strlen(p.stop_at), NULL);
    if (at.pos != -1)
        event_base_loopexit(p.base, NULL);
}

static void
proxy_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        p.client_eof = true;
        event_base_loopexit(p.base, NULL);
    }
}

static void
proxy_setup(void)
{
    struct timeval tv = {20, 0};

    signal(SIGPIPE, SIG_IGN);
    memset(&p, 0, sizeof(p));
    p.base = event_base_new();
    ck_assert_ptr_nonnull(p.base);
    p.deadline = evtimer_new(p.base, proxy_deadline_cb, NULL);
    evtimer_add(p.deadline, &tv);
    p.got = evbuffer_new();
}

static void
proxy_teardown(void)
{
    if (p.client != NULL)
        bufferevent_free(p.client);
    if (p.tunnel != NULL)
        bufferevent_free(p.tunnel);
    net_tls_ctx_free(p.sctx);
    net_tls_ctx_free(p.cctx);
    net_tls_mint_free(p.mint);
    net_listener_free(p.lis);
    net_http_server_free(p.srv);
    evbuffer_free(p.got);
    event_free(p.deadline);
    event_base_free(p.base);
}

/* Start the server and connect the raw client, which sends req. */
static void
proxy_start(const char *req)
{
    struct net_http_server_opts o = {0};
    struct df_error err;
    struct sockaddr_in sin;

    o.stream_body = p.stream_body;
    ck_assert_int_eq(net_http_server_new(p.base, &o, proxy_handler, NULL, &p.srv), 0);
    ck_assert_int_eq(net_listener_new(p.base, "127.0.0.1:0", 0, net_http_server_accept_cb, p.srv,
                                      &p.lis, &err),
                     0);
    p.client = bufferevent_socket_new(p.base, -1, BEV_OPT_CLOSE_ON_FREE);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(net_listener_port(p.lis));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bufferevent_setcb(p.client, proxy_client_read_cb, NULL, proxy_client_event_cb, NULL);
    ck_assert_int_eq(bufferevent_socket_connect(p.client, (struct sockaddr *)&sin, sizeof(sin)), 0);
    bufferevent_enable(p.client, EV_READ | EV_WRITE);
    bufferevent_write(p.client, req, strlen(req));
}

static int
proxy_count(const char *s, const char *what)
{
    int n = 0;

    for (; (s = strstr(s, what)) != NULL; s++)
        n++;
    return n;
}

/* NUL-terminated copy of what the client got. */
static char *
proxy_got(void)
{
    size_t n = evbuffer_get_length(p.got);
    char *s = malloc(n + 1);

    evbuffer_copyout(p.got, s, n);
    s[n] = '\0';
    return s;
}

START_TEST(test_proxy_absolute_target)
{
    char *s;

    proxy_start("GET http://Registry.Test:5000/v2/a/blobs/sha256:ab?ns=x HTTP/1.1\r\n"
                "Host: registry.test:5000\r\n\r\n"
                "HEAD https://[::1]/ HTTP/1.1\r\nHost: [::1]\r\n\r\n"
                "GET https://ghcr.io HTTP/1.1\r\nHost: ghcr.io\r\n\r\n"
                "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET http://user:pw@x.test/ HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET ftp://x.test/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    event_base_dispatch(p.base);
    ck_assert(p.client_eof);
    s = proxy_got();
    ck_assert_msg(strstr(s, "\r\n\r\n0 http registry.test 5000 /v2/a/blobs/sha256:ab?ns=x|") !=
                          NULL,
                  "%s", s);
    ck_assert_msg(strstr(s, "\r\n\r\n0 https ghcr.io 443 /|") != NULL, "%s", s);
    /* HEAD: the length of "0 https ::1 443 /|", no body. */
    ck_assert_msg(strstr(s, "Content-Length: 18\r\n\r\nHTTP/1.1 200 OK") != NULL, "%s", s);
    /* Origin-form, userinfo and another scheme are no proxy targets. */
    ck_assert_int_eq(proxy_count(s, "\r\n\r\n-2 - - 0 -|"), 3);
    ck_assert_int_eq(p.closes, 0);
    free(s);
}

END_TEST

/*
 * CONNECT: the handler takes the connection with the bytes sent after the head; the server
 * forgets it (not counted, no close callback, its end does not close the tunnel).
 */
START_TEST(test_proxy_connect_take_over)
{
    char *s;

    proxy_start("CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\nearly bytes|");
    p.stop_at = "early bytes|";
    event_base_dispatch(p.base);
    ck_assert_int_eq(p.take_rv, 0);
    ck_assert_ptr_nonnull(p.tunnel);
    ck_assert_uint_eq(p.conns_after_take, 0);
    net_listener_free(p.lis);
    p.lis = NULL;
    net_http_server_free(p.srv);
    p.srv = NULL;
    p.stop_at = "later bytes|";
    bufferevent_write(p.client, "later bytes|", 12);
    event_base_dispatch(p.base);
    ck_assert(!p.client_eof);
    s = proxy_got();
    ck_assert_str_eq(s, "HTTP/1.1 200 Connection Established\r\n\r\nearly bytes|later bytes|");
    ck_assert_int_eq(p.closes, 0);
    free(s);
}

END_TEST

/* Not with a request body pending, nor once a response started. */
START_TEST(test_proxy_take_over_wrong_state)
{
    char *s;

    p.stream_body = true;
    proxy_start("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                "GET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    event_base_dispatch(p.base);
    ck_assert(p.client_eof);
    s = proxy_got();
    ck_assert_msg(strstr(s, "\r\n\r\nno") != NULL, "%s", s);
    free(s);
}

END_TEST

static void
proxy_client_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & BEV_EVENT_CONNECTED) {
        p.client_tls_connected = true;
        bufferevent_write(bev, "inside|", 7);
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        snprintf(p.client_error, sizeof(p.client_error), "%s", net_tls_error(bev));
        p.client_eof = true;
        event_base_loopexit(p.base, NULL);
    }
}

/* CONNECT, take over, TLS with a minted leaf: the client trusting the CA talks through. */
START_TEST(test_proxy_connect_intercept)
{
    struct net_tls_mint_opts mo = {0};
    struct net_tls_opts so = {0}, co = {0};
    struct df_error err = {{0}};
    char ca[96], key[96], cmd[128];
    struct net_tls_mint_stats st;
    struct bufferevent *tls;
    char *s;

    snprintf(p.dir, sizeof(p.dir), "/tmp/df-proxy-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p.dir));
    unit_cert("ca", "--dir", p.dir, "--force", NULL);
    snprintf(ca, sizeof(ca), "%s/ca.crt", p.dir);
    snprintf(key, sizeof(key), "%s/ca.key", p.dir);
    mo.ca_file = ca;
    mo.ca_key_file = key;
    ck_assert_msg(net_tls_mint_new(&mo, &p.mint, &err) == 0, "%s", err.msg);
    so.mint = p.mint;
    ck_assert_msg(net_tls_ctx_new(true, &so, &p.sctx, &err) == 0, "%s", err.msg);
    co.ca_file = ca;
    ck_assert_msg(net_tls_ctx_new(false, &co, &p.cctx, &err) == 0, "%s", err.msg);

    proxy_start("CONNECT registry.test:443 HTTP/1.1\r\nHost: registry.test:443\r\n\r\n");
    p.stop_at = "\r\n\r\n";
    event_base_dispatch(p.base);
    s = proxy_got();
    ck_assert_str_eq(s, "HTTP/1.1 200 Connection Established\r\n\r\n");
    free(s);
    evbuffer_drain(p.got, evbuffer_get_length(p.got));
    /* The client verifies the leaf against the name it asked for. */
    tls = net_tls_wrap(p.cctx, p.client, "registry.test");
    ck_assert_ptr_nonnull(tls);
    p.client = tls;
    p.stop_at = "inside|";
    bufferevent_setcb(tls, proxy_client_read_cb, NULL, proxy_client_tls_event_cb, NULL);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
    event_base_dispatch(p.base);
    ck_assert_msg(p.client_tls_connected, "client: %s", p.client_error);
    s = proxy_got();
    ck_assert_str_eq(s, "inside|");
    free(s);
    ck_assert_str_eq(net_tls_sni(p.tunnel), "registry.test");
    net_tls_mint_stats(p.mint, &st);
    ck_assert_uint_eq(st.minted, 1);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", p.dir);
    ck_assert_int_eq(system(cmd), 0);
}

END_TEST

static const struct {
    const char *target;
    bool authority;
    int rv;
    const char *scheme, *host;
    unsigned port;
    const char *path;
} proxy_targets[] = {
        {"http://a.test/x?y", false, 0, "http", "a.test", 80, "/x?y"},
        {"HTTPS://A.Test:8443", false, 0, "https", "a.test", 8443, "/"},
        {"http://[fe80::1]:81/p", false, 0, "http", "fe80::1", 81, "/p"},
        {"http://10.0.0.1:65535/", false, 0, "http", "10.0.0.1", 65535, "/"},
        {"a.test:443", true, 0, "", "a.test", 443, NULL},
        {"[::1]:8443", true, 0, "", "::1", 8443, NULL},
        {"a.test", true, DF_EINVAL, NULL, NULL, 0, NULL},
        {"a.test:0", true, DF_EINVAL, NULL, NULL, 0, NULL},
        {"a.test:65536", true, DF_EINVAL, NULL, NULL, 0, NULL},
        {"a.test:+1", true, DF_EINVAL, NULL, NULL, 0, NULL},
        {":443", true, DF_EINVAL, NULL, NULL, 0, NULL},
        {"[::1:443", true, DF_EINVAL, NULL, NULL, 0, NULL},
        {"[nothex]:443", true, DF_EINVAL, NULL, NULL, 0, NULL},
        {"/v2/", false, DF_EINVAL, NULL, NULL, 0, NULL},
        {"ftp://a.test/", false, DF_EINVAL, NULL, NULL, 0, NULL},
        {"http://", false, DF_EINVAL, NULL, NULL, 0, NULL},
        {"http://u@a.test/", false, DF_EINVAL, NULL, NULL, 0, NULL},
        {"http://a.test?q", false, DF_EINVAL, NULL, NULL, 0, NULL},
        {"http://a.test/#f", false, DF_EINVAL, NULL, NULL, 0, NULL},
        {"http://a.test:/", false, DF_EINVAL, NULL, NULL, 0, NULL},
        {"http://a%2e.test/", false, DF_EINVAL, NULL, NULL, 0, NULL},
};

START_TEST(test_proxy_target_parse)
{
    struct net_http_target t;
    int rv;

    rv = net_http_target_parse(proxy_targets[_i].target, proxy_targets[_i].authority, &t);
    ck_assert_msg(rv == proxy_targets[_i].rv, "%s: %d", proxy_targets[_i].target, rv);
    if (rv != 0)
        return;
    ck_assert_str_eq(t.scheme, proxy_targets[_i].scheme);
    ck_assert_str_eq(t.host, proxy_targets[_i].host);
    ck_assert_uint_eq(t.port, proxy_targets[_i].port);
    if (proxy_targets[_i].path == NULL)
        ck_assert_ptr_null(t.path);
    else
        ck_assert_str_eq(t.path, proxy_targets[_i].path);
    ck_assert(t.host_is_ipv6 == (strchr(t.host, ':') != NULL));
}

END_TEST

Suite *test_net_http_proxy_suite(void);

Suite *
test_net_http_proxy_suite(void)
{
    Suite *s = suite_create("net_http_proxy");
    TCase *tc = tcase_create("proxy");

    tcase_add_checked_fixture(tc, proxy_setup, proxy_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_proxy_absolute_target);
    tcase_add_test(tc, test_proxy_connect_take_over);
    tcase_add_test(tc, test_proxy_take_over_wrong_state);
    tcase_add_test(tc, test_proxy_connect_intercept);
    tcase_add_loop_test(tc, test_proxy_target_parse, 0,
                        (int)(sizeof(proxy_targets) / sizeof(proxy_targets[0])));
    suite_add_tcase(s, tc);
    return s;
}
