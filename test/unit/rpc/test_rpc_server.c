/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rpc_server and rpc_client in one loop over a unix socket: the lifetimes a handler and a
 * caller see — cancel notifications, early finishes, frees from inside callbacks, calls that
 * wait for a server that is not there yet. The "bounds" case drives a TCP server with a raw
 * HTTP/2 client (net_h2 + nghttp2 submits) that leaves request bodies unfinished, and checks
 * the budgets, deadlines and per-IP cap against small configured values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/net_h2.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"

static struct event_base *base;
static struct rpc_server *srv;
static struct rpc_client *cli;
static char dir[64], sock[128];

static int cancels;
static enum rpc_code cancel_why;
static struct rpc_call *held;

static void
hold_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    (void)arg;
    cancels++;
    cancel_why = why;
    if (call == held)
        held = NULL;
}

/* Never answers by itself: the call ends by cancel, deadline or teardown. */
static void
hold_handler(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_cancel = hold_cancel_cb};

    (void)req;
    (void)arg;
    held = call;
    rpc_call_set_cbs(call, &cbs, NULL);
}

static void
echo_handler(struct rpc_call *call, const cJSON *req, void *arg)
{
    (void)arg;
    rpc_call_reply(call, req);
}

static int bidi_seen;

static void
picky_message_cb(struct rpc_call *call, const cJSON *msg, void *arg)
{
    (void)msg;
    (void)arg;
    /* finish early, while the client still sends */
    if (++bidi_seen == 2)
        rpc_call_finish(call, RPC_FAILED_PRECONDITION, "two is enough");
}

static void
picky_handler(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_message = picky_message_cb};

    (void)req;
    (void)arg;
    ck_assert_int_eq(rpc_call_send(call, NULL) == DF_EINVAL, 0);
    rpc_call_set_cbs(call, &cbs, NULL);
}

static const struct rpc_method methods[] = {
        {"/t.v1.T/Hold", RPC_KIND_UNARY, hold_handler, NULL},
        {"/t.v1.T/Echo", RPC_KIND_UNARY, echo_handler, NULL},
        {"/t.v1.T/Picky", RPC_KIND_BIDI, picky_handler, NULL},
        {"/t.v1.T/Quiet", RPC_KIND_BIDI, hold_handler, NULL}, /* takes messages, never answers */
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static void
server_start(void)
{
    struct df_error err;

    srv = rpc_server_new(base, NULL);
    ck_assert_int_eq(rpc_server_register(srv, methods, NMETHODS), 0);
    ck_assert_int_eq(rpc_server_listen(srv, sock, NULL, &err), 0);
    ck_assert_str_eq(rpc_server_addr(srv, 0), sock);
}

static void
setup(void)
{
    struct rpc_client_opts o = {.backoff_min_ms = 20, .backoff_max_ms = 50};
    struct df_error err;

    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/df-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "unix:%s/rpc.sock", dir);
    base = event_base_new();
    cancels = 0;
    held = NULL;
    bidi_seen = 0;
    server_start();
    o.addr = sock;
    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &cli, &err), 0);
}

static void
teardown(void)
{
    rpc_client_free(cli);
    rpc_server_free(srv);
    event_base_free(base);
    snprintf(sock, sizeof(sock), "%s/rpc.sock", dir);
    unlink(sock);
    rmdir(dir);
}

static void
run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/*
 * Run the loop until cond() holds, up to 10 s. Tests wait for what they expect rather than
 * for a fixed time, and their deadlines are far above what an idle machine needs: a loaded
 * machine is slow, not wrong.
 */
static bool
run_until(bool (*cond)(void))
{
    for (int i = 0; i < 1000 && !cond(); i++)
        run_ms(10);
    return cond();
}

struct res {
    int n;
    enum rpc_code code;
    char msg[RPC_ERR_MSG_MAX];
};

/* The one result a test waits for, and the conditions on it. */
static struct res *want;

static bool
answered(void)
{
    return want->n == 1;
}

static bool
answered_and_cancelled(void)
{
    return want->n == 1 && cancels == 1;
}

static bool
answered_and_disconnected(void)
{
    return want->n == 1 && !rpc_client_is_connected(cli);
}

static bool
handler_holds(void)
{
    return held != NULL;
}

static bool
cancelled(void)
{
    return cancels == 1;
}

static bool
no_conns(void)
{
    return rpc_server_conn_count(srv) == 0;
}

static void
res_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct res *r = arg;

    (void)resp;
    r->n++;
    r->code = st->code;
    snprintf(r->msg, sizeof(r->msg), "%s", st->message);
}

START_TEST(test_register)
{
    const struct rpc_method dup = {"/t.v1.T/Echo", RPC_KIND_UNARY, echo_handler, NULL};
    const struct rpc_method bad = {"nope", RPC_KIND_UNARY, echo_handler, NULL};
    const struct rpc_method health = {"/grpc.health.v1.Health/Check", RPC_KIND_UNARY, echo_handler,
                                      NULL};

    ck_assert_int_eq(rpc_server_register(srv, &dup, 1), DF_EEXIST);
    ck_assert_int_eq(rpc_server_register(srv, &bad, 1), DF_EINVAL);
    ck_assert_int_eq(rpc_server_register(srv, &health, 1), DF_EEXIST);
}

END_TEST

START_TEST(test_deadline_cancels_handler)
{
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 100, res_cb, &r, NULL), 0);
    want = &r;
    ck_assert(run_until(answered_and_cancelled));
    run_ms(100); /* and nothing more comes */
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_DEADLINE_EXCEEDED);
    /* the handler learns it, once, whichever side's timer won */
    ck_assert_int_eq(cancels, 1);
    ck_assert_ptr_null(held);
}

END_TEST

START_TEST(test_client_cancel_reaches_handler)
{
    struct rpc_client_call *call = NULL;
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 30000, res_cb, &r, &call),
                     0);
    ck_assert(run_until(handler_holds));
    ck_assert_int_lt(rpc_call_remaining_ms(held), 30001);
    ck_assert_int_gt(rpc_call_remaining_ms(held), 20000);
    ck_assert_str_eq(rpc_call_path(held), "/t.v1.T/Hold");
    rpc_client_cancel(call);
    ck_assert(run_until(cancelled));
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(cancels, 1);
    ck_assert_int_eq(cancel_why, RPC_CANCELED);
}

END_TEST

static enum rpc_code stream_code;
static char stream_msg[RPC_ERR_MSG_MAX];
static int stream_closes;

static bool
stream_closed(void)
{
    return stream_closes == 1;
}

static void
stream_close_cb(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    (void)s;
    (void)arg;
    stream_closes++;
    stream_code = st->code;
    snprintf(stream_msg, sizeof(stream_msg), "%s", st->message);
}

START_TEST(test_bidi_early_finish)
{
    struct rpc_client_stream_cbs cbs = {.on_close = stream_close_cb};
    struct rpc_client_call *s = NULL;
    cJSON *m = cJSON_CreateObject();

    stream_closes = 0;
    ck_assert_int_eq(rpc_client_stream(cli, "/t.v1.T/Picky", 30000, &cbs, NULL, &s), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rpc_client_send(s, m), 0);
    ck_assert(run_until(stream_closed));
    cJSON_Delete(m);
    ck_assert_int_eq(stream_closes, 1);
    ck_assert_int_eq(stream_code, RPC_FAILED_PRECONDITION);
    ck_assert_str_eq(stream_msg, "two is enough");
    ck_assert_int_eq(bidi_seen, 2);
}

END_TEST

static struct res others;

static bool
freed_and_cancelled(void)
{
    return cli == NULL && others.n == 3;
}

static void
free_in_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    (void)resp;
    (void)arg;
    ck_assert_int_eq(st->code, RPC_OK);
    rpc_client_free(cli);
    cli = NULL;
}

START_TEST(test_free_inside_callback)
{
    memset(&others, 0, sizeof(others));
    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{}", 2, 0, free_in_cb, NULL, NULL),
                     0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(
                rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 0, res_cb, &others, NULL), 0);
    ck_assert(run_until(freed_and_cancelled));
    ck_assert_ptr_null(cli);
    ck_assert_int_eq(others.n, 3);
    ck_assert_int_eq(others.code, RPC_CANCELED);
}

END_TEST

START_TEST(test_server_free_with_live_calls)
{
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Hold", "{}", 2, 30000, res_cb, &r, NULL),
                     0);
    ck_assert(run_until(handler_holds));
    ck_assert_uint_eq(rpc_server_conn_count(srv), 1);
    rpc_server_free(srv);
    srv = NULL;
    ck_assert_int_eq(cancels, 1);
    ck_assert_int_eq(cancel_why, RPC_UNAVAILABLE);
    want = &r;
    ck_assert(run_until(answered_and_disconnected));
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_UNAVAILABLE);
    ck_assert(!rpc_client_is_connected(cli));
}

END_TEST

START_TEST(test_waits_for_server)
{
    struct res r = {0};

    rpc_server_free(srv);
    srv = NULL;
    ck_assert_int_eq(
            rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{\"a\":1}", 7, 30000, res_cb, &r, NULL), 0);
    run_ms(200);
    ck_assert_int_eq(r.n, 0);
    server_start();
    want = &r;
    ck_assert(run_until(answered));
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_int_eq(rpc_client_connects(cli), 1);
}

END_TEST

START_TEST(test_shutdown_drains)
{
    struct res r = {0};

    ck_assert_int_eq(rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{}", 2, 0, res_cb, &r, NULL), 0);
    want = &r;
    ck_assert(run_until(answered));
    rpc_server_shutdown(srv);
    ck_assert(run_until(no_conns));
    ck_assert_uint_eq(rpc_server_conn_count(srv), 0);
}

END_TEST

/* ---- bounds ---- */

#define RAW_STREAMS 32

/* One request of the raw client: left body bytes to send, then END_STREAM if finish. */
struct raw_stream {
    int32_t id;
    size_t left;
    bool finish;
    int status;
    bool closed;
    char body[512];
    size_t blen;
};

struct raw_conn {
    struct net_h2 *h2;
    bool gone;
    struct raw_stream st[RAW_STREAMS];
    int n;
};

static struct rpc_server_opts bopts;
static char baddr[64];

static struct raw_stream *
raw_find(struct raw_conn *rc, int32_t id)
{
    for (int i = 0; i < rc->n; i++) {
        if (rc->st[i].id == id)
            return &rc->st[i];
    }
    return NULL;
}

static int
raw_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
              const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct raw_stream *st = raw_find(ud, f->hd.stream_id);

    (void)s;
    (void)flags;
    if (st != NULL && namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3)
        st->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int
raw_data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
            void *ud)
{
    struct raw_stream *st = raw_find(ud, id);

    (void)s;
    (void)flags;
    for (size_t i = 0; st != NULL && i < len && st->blen + 1 < sizeof(st->body); i++) {
        /* envelopes carry binary headers: keep the text */
        if (data[i] >= 0x20)
            st->body[st->blen++] = (char)data[i];
    }
    return 0;
}

static int
raw_stream_close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct raw_stream *st = raw_find(ud, id);

    (void)s;
    (void)code;
    if (st != NULL)
        st->closed = true;
    return 0;
}

static void
raw_close_cb(struct net_h2 *h2, const char *reason, void *arg)
{
    struct raw_conn *rc = arg;

    (void)h2;
    (void)reason;
    rc->gone = true;
    rc->h2 = NULL;
}

static ssize_t
raw_body_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
            nghttp2_data_source *src, void *ud)
{
    struct raw_stream *st = src->ptr;
    size_t n = st->left < length ? st->left : length;

    (void)s;
    (void)id;
    (void)ud;
    memset(buf, ' ', n); /* JSON whitespace: a body that never becomes a message */
    st->left -= n;
    if (st->left == 0 && st->finish)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
    return (ssize_t)n;
}

static struct sockaddr_in
raw_sockaddr(const char *addr)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    const char *colon = strrchr(addr, ':');
    char ip[32];

    ck_assert_ptr_nonnull(colon);
    snprintf(ip, sizeof(ip), "%.*s", (int)(colon - addr), addr);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    sin.sin_port = htons((uint16_t)atoi(colon + 1));
    return sin;
}

static void
raw_open(struct raw_conn *rc)
{
    struct net_h2_opts ho = {.server = false};
    struct net_h2_cbs cbs = {.on_header = raw_header_cb,
                             .on_data_chunk_recv = raw_data_cb,
                             .on_stream_close = raw_stream_close_cb,
                             .on_close = raw_close_cb};
    struct sockaddr_in sin = raw_sockaddr(baddr);
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    memset(rc, 0, sizeof(*rc));
    ck_assert_ptr_nonnull(bev);
    ck_assert_int_eq(bufferevent_socket_connect(bev, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(net_h2_new(bev, &ho, &cbs, rc, &rc->h2), 0);
}

/* Start a request of path with body bytes (END_STREAM after them when finish). */
static struct raw_stream *
raw_request(struct raw_conn *rc, const char *path, bool bidi, size_t body, bool finish)
{
    struct raw_stream *st = &rc->st[rc->n++];
    const char *ct = bidi ? "application/connect+json" : "application/json";
    const char *hdr[5][2] = {{":method", "POST"},
                             {":scheme", "http"},
                             {":path", path},
                             {":authority", "t"},
                             {"content-type", ct}};
    nghttp2_nv nva[5];
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = raw_body_cb};

    ck_assert_int_lt(rc->n, RAW_STREAMS + 1);
    for (int i = 0; i < 5; i++)
        nva[i] = (nghttp2_nv){(uint8_t *)(uintptr_t)hdr[i][0], (uint8_t *)(uintptr_t)hdr[i][1],
                              strlen(hdr[i][0]), strlen(hdr[i][1]), NGHTTP2_NV_FLAG_NONE};
    st->left = body;
    st->finish = finish;
    st->id = nghttp2_submit_request(net_h2_session(rc->h2), NULL, nva, 5, &prd, NULL);
    ck_assert_int_gt(st->id, 0);
    net_h2_flush(rc->h2);
    return st;
}

static void
raw_free(struct raw_conn *rc)
{
    net_h2_free(rc->h2);
    rc->h2 = NULL;
}

/* A plain TCP connection that sends nothing; returns the fd. */
static int
tcp_open(void)
{
    struct sockaddr_in sin = raw_sockaddr(baddr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno == EINPROGRESS);
    return fd;
}

/* True when the peer closed fd (what it wrote before is read and dropped). */
static bool
tcp_is_closed(int fd)
{
    char buf[4096];
    ssize_t n;

    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    return n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int
count_with(const struct raw_conn *rc, const char *text)
{
    int n = 0;

    for (int i = 0; i < rc->n; i++)
        n += strstr(rc->st[i].body, text) != NULL;
    return n;
}

static void
bounds_start(void)
{
    struct df_error err;

    srv = rpc_server_new(base, &bopts);
    ck_assert_int_eq(rpc_server_register(srv, methods, NMETHODS), 0);
    ck_assert_int_eq(rpc_server_listen(srv, "127.0.0.1:0", NULL, &err), 0);
    snprintf(baddr, sizeof(baddr), "%s", rpc_server_addr(srv, 0));
}

static void
bounds_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    cancels = 0;
    held = NULL;
    bidi_seen = 0;
    cli = NULL;
    srv = NULL;
    memset(&bopts, 0, sizeof(bopts));
    bopts.max_msg_bytes = 64 * 1024;
}

static void
bounds_teardown(void)
{
    rpc_client_free(cli);
    rpc_server_free(srv);
    event_base_free(base);
}

static struct rpc_client *
bounds_client(int keepalive_ms)
{
    struct rpc_client_opts o = {.addr = baddr, .keepalive_ms = keepalive_ms};
    struct rpc_client *c = NULL;
    struct df_error err;

    ck_assert_int_eq(rpc_client_new(base, NULL, &o, &c, &err), 0);
    return c;
}

START_TEST(test_conn_budget)
{
    struct raw_conn rc;
    struct res r = {0};

    bopts.conn_body_budget = 256 * 1024;
    bopts.body_budget = 1024 * 1024;
    bounds_start();
    raw_open(&rc);
    /* 16 unfinished 60 KiB bodies (each under the message limit): about 1 MiB asked for */
    for (int i = 0; i < 16; i++)
        raw_request(&rc, "/t.v1.T/Echo", false, 60 * 1024, false);
    run_ms(300);
    ck_assert_uint_le(rpc_server_body_bytes(srv), 256 * 1024 + 64 * 1024);
    /* 4 bodies of 64 KiB buffers fit in the budget: the rest were answered */
    ck_assert_int_ge(count_with(&rc, "resource_exhausted"), 11);
    ck_assert_int_ge(count_with(&rc, "on this connection exceed 262144 bytes"), 11);
    for (int i = 0; i < rc.n; i++) {
        if (rc.st[i].body[0] != '\0')
            ck_assert_int_eq(rc.st[i].status, 429);
    }
    /* another connection is served meanwhile */
    cli = bounds_client(0);
    ck_assert_int_eq(
            rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{\"a\":1}", 7, 2000, res_cb, &r, NULL), 0);
    run_ms(200);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_OK);
    /* the held bytes go away with the connection */
    raw_free(&rc);
    run_ms(100);
    ck_assert_uint_eq(rpc_server_body_bytes(srv), 0);
}

END_TEST

START_TEST(test_global_budget)
{
    struct raw_conn a, b;
    struct res r = {0};

    bopts.conn_body_budget = 256 * 1024;
    bopts.body_budget = 256 * 1024;
    bounds_start();
    raw_open(&a);
    raw_open(&b);
    for (int i = 0; i < 3; i++)
        raw_request(&a, "/t.v1.T/Echo", false, 60 * 1024, false);
    run_ms(200);
    ck_assert_int_eq(count_with(&a, "resource_exhausted"), 0);
    for (int i = 0; i < 3; i++)
        raw_request(&b, "/t.v1.T/Echo", false, 60 * 1024, false);
    run_ms(200);
    ck_assert_int_ge(count_with(&b, "on this server exceed 262144 bytes"), 2);
    ck_assert_uint_le(rpc_server_body_bytes(srv), 256 * 1024 + 64 * 1024);
    /* A small call in one DATA frame is still served: its bytes are gone at once. */
    cli = bounds_client(0);
    ck_assert_int_eq(
            rpc_client_unary_raw(cli, "/t.v1.T/Echo", "{\"a\":1}", 7, 2000, res_cb, &r, NULL), 0);
    run_ms(200);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, RPC_OK);
    raw_free(&a);
    raw_free(&b);
}

END_TEST

START_TEST(test_preface_deadline)
{
    struct raw_conn rc;
    int fd;

    bopts.preface_timeout_ms = 100;
    bounds_start();
    fd = tcp_open();
    raw_open(&rc); /* sends the preface: only the idle timeout (300 s) applies */
    run_ms(50);
    ck_assert_uint_eq(rpc_server_conn_count(srv), 2);
    run_ms(400);
    ck_assert_uint_eq(rpc_server_conn_count(srv), 1);
    ck_assert(tcp_is_closed(fd));
    ck_assert(!rc.gone);
    close(fd);
    raw_free(&rc);
}

END_TEST

START_TEST(test_body_deadline)
{
    struct raw_conn rc;
    struct raw_stream *u, *b, *done;

    bopts.body_timeout_ms = 150;
    bounds_start();
    raw_open(&rc);
    u = raw_request(&rc, "/t.v1.T/Echo", false, 100, false);
    b = raw_request(&rc, "/t.v1.T/Picky", true, 0, false); /* no first message */
    done = raw_request(&rc, "/t.v1.T/Echo", false, 0, true);
    run_ms(80);
    ck_assert_int_eq(done->status, 200);
    ck_assert(!u->closed);
    ck_assert_uint_eq(rpc_server_conn_count(srv), 1);
    run_ms(500);
    ck_assert_int_eq(u->status, 504);
    ck_assert_ptr_nonnull(strstr(u->body, "request message not complete within 150 ms"));
    ck_assert_ptr_nonnull(strstr(b->body, "deadline_exceeded"));
    /* answered and gone: the client never ended its side, the server reset the streams */
    ck_assert(u->closed);
    ck_assert(b->closed);
    ck_assert_uint_eq(rpc_server_body_bytes(srv), 0);
    raw_free(&rc);
}

END_TEST

START_TEST(test_idle_with_stream)
{
    struct rpc_client_stream_cbs cbs = {.on_close = stream_close_cb};
    struct rpc_client *quiet;
    struct rpc_client_call *s1 = NULL, *s2 = NULL;
    cJSON *m = cJSON_CreateObject();

    bopts.idle_timeout_ms = 300;
    bounds_start();
    stream_closes = 0;
    /* A bidi stream that sent its first message and then stays quiet, from a client that
     * PINGs (alive) and from one that does not (gone, as far as the server can tell). */
    cli = bounds_client(100);
    quiet = bounds_client(60 * 1000);
    ck_assert_int_eq(rpc_client_stream(cli, "/t.v1.T/Quiet", 60000, &cbs, NULL, &s1), 0);
    ck_assert_int_eq(rpc_client_stream(quiet, "/t.v1.T/Quiet", 60000, &cbs, NULL, &s2), 0);
    ck_assert_int_eq(rpc_client_send(s1, m), 0);
    ck_assert_int_eq(rpc_client_send(s2, m), 0);
    cJSON_Delete(m);
    run_ms(1200);
    ck_assert_int_eq(stream_closes, 1);
    ck_assert_int_eq(stream_code, RPC_UNAVAILABLE);
    ck_assert_int_eq(cancels, 1); /* the handler of the quiet client's stream */
    /* the PINGing client kept its one connection and its stream */
    ck_assert(rpc_client_is_connected(cli));
    ck_assert_uint_eq(rpc_client_connects(cli), 1);
    ck_assert_uint_eq(rpc_client_pending(cli), 1);
    rpc_client_free(quiet);
}

END_TEST

START_TEST(test_per_ip_cap)
{
    int fd[3];
    int closed = 0;

    bopts.max_conns_per_ip = 2;
    bounds_start();
    for (int i = 0; i < 3; i++)
        fd[i] = tcp_open();
    run_ms(200);
    ck_assert_uint_eq(rpc_server_conn_count(srv), 2);
    for (int i = 0; i < 3; i++)
        closed += tcp_is_closed(fd[i]);
    ck_assert_int_eq(closed, 1);
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    run_ms(100);
    /* slots come back */
    fd[0] = tcp_open();
    run_ms(100);
    ck_assert_uint_eq(rpc_server_conn_count(srv), 1);
    close(fd[0]);
}

END_TEST

START_TEST(test_method_limit)
{
    struct raw_conn rc;
    struct raw_stream *big, *small, *other;

    bounds_start();
    ck_assert_int_eq(rpc_server_limit_method(srv, "/t.v1.T/Nope", 1024), DF_ENOTFOUND);
    ck_assert_int_eq(rpc_server_limit_method(srv, "/t.v1.T/Echo", 1024), 0);
    raw_open(&rc);
    big = raw_request(&rc, "/t.v1.T/Echo", false, 2048, true);
    small = raw_request(&rc, "/t.v1.T/Echo", false, 1000, true);
    other = raw_request(&rc, "/t.v1.T/Hold", false, 2048, false); /* server's 64 KiB */
    run_ms(200);
    ck_assert_int_eq(big->status, 429);
    ck_assert_ptr_nonnull(strstr(big->body, "exceeds the limit of 1024 bytes"));
    /* 1000 bytes of whitespace: not a message, but within the limit */
    ck_assert_int_eq(small->status, 400);
    ck_assert_int_eq(other->status, 0);
    raw_free(&rc);
}

END_TEST

Suite *test_rpc_server_suite(void);

Suite *
test_rpc_server_suite(void)
{
    Suite *s = suite_create("rpc_server");
    TCase *tc = tcase_create("server");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_register);
    tcase_add_test(tc, test_deadline_cancels_handler);
    tcase_add_test(tc, test_client_cancel_reaches_handler);
    tcase_add_test(tc, test_bidi_early_finish);
    tcase_add_test(tc, test_free_inside_callback);
    tcase_add_test(tc, test_server_free_with_live_calls);
    tcase_add_test(tc, test_waits_for_server);
    tcase_add_test(tc, test_shutdown_drains);
    suite_add_tcase(s, tc);
    tc = tcase_create("bounds");
    tcase_add_checked_fixture(tc, bounds_setup, bounds_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_conn_budget);
    tcase_add_test(tc, test_global_budget);
    tcase_add_test(tc, test_preface_deadline);
    tcase_add_test(tc, test_body_deadline);
    tcase_add_test(tc, test_idle_with_stream);
    tcase_add_test(tc, test_per_ip_cap);
    tcase_add_test(tc, test_method_limit);
    suite_add_tcase(s, tc);
    return s;
}
