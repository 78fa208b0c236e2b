/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_h2 over a socketpair, both ends ours: request/response, output backpressure when the
 * peer stops reading, rapid-reset detection, close from inside a callback, graceful GOAWAY.
 */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/net_h2.h"

struct side {
    struct net_h2 *h2;
    struct bufferevent *bev;
    int closes;
    const char *reason;
    size_t body;     /* server: response bytes left to produce; client: bytes received */
    size_t produced; /* server: bytes handed to nghttp2 */
    int streams_closed;
    int requests; /* server: requests received */
    bool goaway;
    uint32_t goaway_code;
    bool close_in_cb; /* server: close from inside on_frame_recv */
    bool respond;     /* server: answer requests */
};

static struct event_base *base;
static struct side srv, cli;

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as every daemon does: peers may vanish mid-write */
    base = event_base_new();
    memset(&srv, 0, sizeof(srv));
    memset(&cli, 0, sizeof(cli));
}

static void
teardown(void)
{
    net_h2_free(srv.h2);
    net_h2_free(cli.h2);
    event_base_free(base);
}

static ssize_t
body_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
             nghttp2_data_source *src, void *ud)
{
    struct side *sd = src->ptr;
    size_t n = sd->body < len ? sd->body : len;

    (void)s;
    (void)id;
    (void)ud;
    memset(buf, 'b', n);
    sd->body -= n;
    sd->produced += n;
    if (sd->body == 0)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int
srv_frame_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct side *sd = ud;
    nghttp2_nv nv = {(uint8_t *)(uintptr_t) ":status", (uint8_t *)(uintptr_t) "200", 7, 3, 0};
    nghttp2_data_provider prd = {.source.ptr = sd, .read_callback = body_read_cb};

    if (f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    sd->requests++;
    if (sd->close_in_cb) {
        net_h2_close(sd->h2, "closed in callback");
        net_h2_close(sd->h2, "twice");
        return 0;
    }
    if (sd->respond)
        nghttp2_submit_response(s, f->hd.stream_id, &nv, 1, &prd);
    return 0;
}

static int
cli_frame_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct side *sd = ud;

    (void)s;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        sd->goaway = true;
        sd->goaway_code = f->goaway.error_code;
    }
    return 0;
}

static int
cli_data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len, void *ud)
{
    struct side *sd = ud;

    (void)s;
    (void)flags;
    (void)id;
    (void)d;
    sd->body += len;
    return 0;
}

static int
stream_close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct side *sd = ud;

    (void)s;
    (void)id;
    (void)code;
    sd->streams_closed++;
    return 0;
}

static void
close_cb(struct net_h2 *h2, const char *reason, void *arg)
{
    struct side *sd = arg;

    ck_assert_ptr_eq(h2, sd->h2);
    sd->closes++;
    sd->reason = reason;
    sd->h2 = NULL; /* freed by net_h2 after this returns */
}

/* Connect a server and a client net_h2 over a socketpair. */
static void
pair(const struct net_h2_opts *so, const struct net_h2_opts *co, int sndbuf)
{
    struct net_h2_cbs scb = {
            .on_frame_recv = srv_frame_cb,
            .on_stream_close = stream_close_cb,
            .on_close = close_cb,
    };
    struct net_h2_cbs ccb = {
            .on_frame_recv = cli_frame_cb,
            .on_data_chunk_recv = cli_data_cb,
            .on_stream_close = stream_close_cb,
            .on_close = close_cb,
    };
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sndbuf > 0) {
        for (int i = 0; i < 2; i++) {
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
            setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
        }
    }
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    srv.bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    cli.bev = bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE);
    ck_assert_int_eq(net_h2_new(srv.bev, so, &scb, &srv, &srv.h2), 0);
    ck_assert_int_eq(net_h2_new(cli.bev, co, &ccb, &cli, &cli.h2), 0);
}

static int32_t
request(void)
{
    nghttp2_nv nva[] = {
            {(uint8_t *)(uintptr_t) ":method", (uint8_t *)(uintptr_t) "GET", 7, 3, 0},
            {(uint8_t *)(uintptr_t) ":scheme", (uint8_t *)(uintptr_t) "http", 7, 4, 0},
            {(uint8_t *)(uintptr_t) ":authority", (uint8_t *)(uintptr_t) "t", 10, 1, 0},
            {(uint8_t *)(uintptr_t) ":path", (uint8_t *)(uintptr_t) "/", 5, 1, 0},
    };
    int32_t id = nghttp2_submit_request(net_h2_session(cli.h2), NULL, nva, 4, NULL, NULL);

    ck_assert_int_gt(id, 0);
    net_h2_flush(cli.h2);
    return id;
}

static void
run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/*
 * Run the loop until cond() holds, up to 10 s. The tests wait for what they expect, never
 * for a fixed time: a loaded machine is slow, not wrong.
 */
static bool
run_until(bool (*cond)(void))
{
    for (int i = 0; i < 1000 && !cond(); i++)
        run_ms(10);
    return cond();
}

static bool
roundtrip_done(void)
{
    return cli.streams_closed == 1 && srv.streams_closed == 1;
}

static bool
window_known(void)
{
    nghttp2_session *s = net_h2_session(srv.h2);

    return nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) ==
                   16u << 20 &&
           nghttp2_session_get_remote_window_size(s) >= 16 << 20;
}

static bool
srv_congested(void)
{
    return net_h2_is_congested(srv.h2);
}

static size_t backpressure_total;

static bool
backpressure_done(void)
{
    return cli.body == backpressure_total && !net_h2_is_congested(srv.h2);
}

static bool
both_closed(void)
{
    return srv.closes == 1 && cli.closes == 1;
}

static bool
calmed_down(void)
{
    return cli.goaway && both_closed();
}

static bool
srv_has_request(void)
{
    return srv.requests == 1;
}

static bool
cli_has_goaway(void)
{
    return cli.goaway;
}

static bool
srv_closed(void)
{
    return srv.closes == 1;
}

START_TEST(test_roundtrip)
{
    struct net_h2_opts so = {.server = true}, co = {0};

    pair(&so, &co, 0);
    srv.respond = true;
    srv.body = 100000;
    request();
    ck_assert(run_until(roundtrip_done));
    ck_assert_uint_eq(cli.body, 100000);
    ck_assert_int_eq(cli.streams_closed, 1);
    ck_assert_int_eq(srv.streams_closed, 1);
    ck_assert(net_h2_is_open(srv.h2));
    ck_assert_ptr_nonnull(net_h2_peer(srv.h2));
}

END_TEST

START_TEST(test_backpressure)
{
    struct net_h2_opts so = {.server = true, .out_high_water = 16384};
    struct net_h2_opts co = {.window_bytes = 16u << 20};
    size_t total = 8u << 20;

    pair(&so, &co, 32768);
    srv.respond = true;
    srv.body = total;
    backpressure_total = total;
    ck_assert(run_until(window_known)); /* SETTINGS: the client's 16 MiB window */
    /* The client stops reading: the server may not buffer the 8 MiB its window allows. */
    bufferevent_disable(cli.bev, EV_READ);
    request();
    ck_assert(run_until(srv_congested));
    run_ms(300); /* and it stays bounded: more time only lets a leak show */
    ck_assert(net_h2_is_congested(srv.h2));
    ck_assert_msg(srv.produced - cli.body < (1u << 20), "buffered %zu bytes",
                  srv.produced - cli.body);
    bufferevent_enable(cli.bev, EV_READ);
    ck_assert_msg(run_until(backpressure_done), "got %zu of %zu bytes", cli.body, total);
}

END_TEST

START_TEST(test_rapid_reset)
{
    struct net_h2_opts so = {.server = true, .reset_burst = 10, .reset_rate = 1}, co = {0};

    pair(&so, &co, 0);
    for (int i = 0; i < 100 && !cli.goaway && cli.h2 != NULL; i++) {
        int32_t id = request();
        /* Send HEADERS before the reset, or nghttp2 would just drop the request. */
        run_ms(1);
        if (cli.h2 == NULL)
            break;
        nghttp2_submit_rst_stream(net_h2_session(cli.h2), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        net_h2_flush(cli.h2);
    }
    ck_assert(run_until(calmed_down));
    ck_assert(cli.goaway);
    ck_assert_uint_eq(cli.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    ck_assert_int_eq(srv.closes, 1);
    ck_assert_int_eq(cli.closes, 1);
}

END_TEST

START_TEST(test_close_in_callback)
{
    struct net_h2_opts so = {.server = true}, co = {0};

    pair(&so, &co, 0);
    srv.close_in_cb = true;
    request();
    ck_assert(run_until(both_closed));
    ck_assert_int_eq(srv.closes, 1);
    ck_assert_str_eq(srv.reason, "closed in callback");
    /* the client sees the connection go */
    ck_assert_int_eq(cli.closes, 1);
}

END_TEST

START_TEST(test_goaway_drains)
{
    struct net_h2_opts so = {.server = true}, co = {0};

    pair(&so, &co, 0);
    request();
    ck_assert(run_until(srv_has_request));
    /* a stream is open (no response yet): GOAWAY waits for it */
    net_h2_goaway(srv.h2, NGHTTP2_NO_ERROR);
    ck_assert(!net_h2_is_open(srv.h2));
    ck_assert(run_until(cli_has_goaway));
    ck_assert_int_eq(srv.closes, 0);
    ck_assert_int_eq(
            nghttp2_submit_rst_stream(net_h2_session(cli.h2), NGHTTP2_FLAG_NONE, 1, NGHTTP2_CANCEL),
            0);
    net_h2_flush(cli.h2);
    ck_assert(run_until(srv_closed));
    ck_assert_str_eq(srv.reason, "done");
}

END_TEST

Suite *test_net_h2_suite(void);

Suite *
test_net_h2_suite(void)
{
    Suite *s = suite_create("net_h2");
    TCase *tc = tcase_create("h2");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_rapid_reset);
    tcase_add_test(tc, test_close_in_callback);
    tcase_add_test(tc, test_goaway_drains);
    suite_add_tcase(s, tc);
    return s;
}
