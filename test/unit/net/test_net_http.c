/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loop-driven HTTP/1.1 tests: a net_http_server on 127.0.0.1:0 and, in the same event_base,
 * raw socket clients (to send exactly the bytes a test needs) or net_http_client.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/net_http_client.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"

#define FILE_SIZE ((uint64_t)64 << 20)

static struct event_base *base;
static struct event *deadline;
static struct net_http_server *srv;
static struct net_listener *lis;
static uint16_t port;
static char file_path[64];

/* What the handlers saw. */
static int closes_seen;
static int close_reason;
static int requests_seen;
static struct net_http_req *pending;
static size_t peak_heap;

/*
 * A timer's lateness bound: timers never fire early, so lower bounds are exact, but a loaded
 * machine fires them late. Upper bounds only tell "fired" from "never fired" (which would
 * hang until the tcase timeout), so they are far above the timeouts they check.
 */
#define NET_TEST_LATE_MS 10000

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopexit(base, NULL);
}

static void
arm_deadline(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(deadline, &tv);
}

static void
pending_close_cb(struct net_http_req *req, int reason, void *arg)
{
    (void)req;
    (void)arg;
    closes_seen++;
    close_reason = reason;
    pending = NULL;
}

static void
async_reply_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (pending != NULL)
        net_http_req_respond(pending, 200, "text/plain", "late", 4);
    pending = NULL;
}

struct stream_state {
    uint64_t sent;
    uint64_t total;
};

static struct stream_state stream;

static void
stream_more_cb(struct net_http_req *req, void *arg)
{
    struct stream_state *st = arg;
    char chunk[65536];

    memset(chunk, 's', sizeof(chunk));
    while (st->sent < st->total && !net_http_req_is_congested(req)) {
        size_t n = st->total - st->sent < sizeof(chunk) ? (size_t)(st->total - st->sent)
                                                        : sizeof(chunk);
        ck_assert_int_eq(net_http_req_write(req, chunk, n), 0);
        st->sent += n;
    }
    if (st->sent == st->total)
        net_http_req_end(req, 0);
}

/* What net_http_req_on_respond reported: "<status> <method> <path>" lines. */
static char responds[512];

static void
respond_cb(struct net_http_req *req, int status, void *arg)
{
    size_t n = strlen(responds);

    ck_assert_ptr_eq(arg, &responds);
    snprintf(responds + n, sizeof(responds) - n, "%d %s %s\n", status, net_http_req_method(req),
             net_http_req_path(req));
}

static void
handler(struct net_http_req *req, void *arg)
{
    const char *path = net_http_req_path(req);
    struct timeval tv = {0, 100000};

    (void)arg;
    requests_seen++;
    net_http_req_on_respond(req, respond_cb, &responds);
    if (strcmp(path, "/hello") == 0) {
        net_http_req_add_header(req, "X-Test", "1");
        ck_assert_int_eq(net_http_req_add_header(req, "X-Bad", "a\r\nInjected: 1"), DF_EINVAL);
        net_http_req_respond(req, 200, "text/plain", "hello", 5);
    } else if (strcmp(path, "/echo") == 0) {
        net_http_req_respond_buffer(req, 200, NULL, net_http_req_body(req));
    } else if (strcmp(path, "/file") == 0 || strcmp(path, "/range") == 0) {
        int fd = open(file_path, O_RDONLY | O_CLOEXEC);
        const char *range = net_http_req_header(req, "range");
        struct net_http_range r = {0, FILE_SIZE};
        char cr[80];

        ck_assert_int_ne(fd, -1);
        if (range != NULL && net_http_range_parse(range, FILE_SIZE, &r) == 0) {
            snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)r.start,
                     (unsigned long long)(r.start + r.length - 1), (unsigned long long)FILE_SIZE);
            net_http_req_add_header(req, "Content-Range", cr);
            net_http_req_respond_file(req, 206, NULL, fd, r.start, r.length);
        } else
            net_http_req_respond_file(req, 200, NULL, fd, 0, FILE_SIZE);
    } else if (strcmp(path, "/slices") == 0) {
        /* 20 bytes across the end of the file's marked head, queued as slices of one file
         * segment (7 + 7 + 6 bytes), which is freed before they go out: they hold it */
        int fd = open(file_path, O_RDONLY | O_CLOEXEC);
        struct evbuffer_file_segment *seg;

        ck_assert_int_ne(fd, -1);
        seg = evbuffer_file_segment_new(fd, 4086, 20, EVBUF_FS_CLOSE_ON_FREE);
        ck_assert_ptr_nonnull(seg);
        ck_assert_int_eq(net_http_req_start(req, 200, NULL, 20, NULL, NULL), 0);
        ck_assert_int_eq(net_http_req_write_file(req, seg, 0, 7), 0);
        ck_assert_int_eq(net_http_req_write_file(req, seg, 7, 7), 0);
        ck_assert_int_eq(net_http_req_write_file(req, seg, 14, 6), 0);
        evbuffer_file_segment_free(seg);
        net_http_req_end(req, 0);
    } else if (strcmp(path, "/stream") == 0) {
        stream.sent = 0;
        stream.total = 4u << 20;
        net_http_req_start(req, 200, NULL, -1, stream_more_cb, &stream);
    } else if (strcmp(path, "/short") == 0) {
        /* declares 100 bytes, sends 10, aborts: the client must see a truncated body */
        net_http_req_start(req, 200, NULL, 100, NULL, NULL);
        net_http_req_write(req, "0123456789", 10);
        net_http_req_end(req, DF_EIO);
    } else if (strcmp(path, "/stall") == 0) {
        /* 10 of 100 bytes, then nothing: the client's idle timeout must fire */
        pending = req;
        net_http_req_on_close(req, pending_close_cb, NULL);
        net_http_req_start(req, 200, NULL, 100, NULL, NULL);
        net_http_req_write(req, "0123456789", 10);
    } else if (strcmp(path, "/async") == 0 || strcmp(path, "/hang") == 0) {
        pending = req;
        net_http_req_on_close(req, pending_close_cb, NULL);
        if (strcmp(path, "/async") == 0)
            event_base_once(base, -1, EV_TIMEOUT, async_reply_cb, NULL, &tv);
    } else {
        net_http_req_respond(req, 404, "text/plain", "nope\n", 5);
    }
}

static void
start_server(const struct net_http_server_opts *opts)
{
    struct df_error err;

    ck_assert_int_eq(net_http_server_new(base, opts, handler, NULL, &srv), 0);
    ck_assert_int_eq(
            net_listener_new(base, "127.0.0.1:0", 0, net_http_server_accept_cb, srv, &lis, &err),
            0);
    port = net_listener_port(lis);
}

static void
setup(void)
{
    int fd;
    char buf[4096];

    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    deadline = evtimer_new(base, deadline_cb, NULL);
    arm_deadline(20000);
    closes_seen = 0;
    close_reason = 0;
    requests_seen = 0;
    responds[0] = '\0';
    pending = NULL;
    peak_heap = 0;
    snprintf(file_path, sizeof(file_path), "/tmp/df-http-test-XXXXXX");
    fd = mkstemp(file_path);
    ck_assert_int_ne(fd, -1);
    /* sparse 64 MiB with a marked head and tail */
    memset(buf, 'H', sizeof(buf));
    ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    memset(buf, 'T', sizeof(buf));
    ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), (off_t)(FILE_SIZE - sizeof(buf))),
                     (ssize_t)sizeof(buf));
    close(fd);
}

static void
teardown(void)
{
    net_listener_free(lis);
    lis = NULL;
    net_http_server_free(srv);
    srv = NULL;
    event_free(deadline);
    event_base_free(base);
    unlink(file_path);
}

/* A raw client: sends fixed bytes, collects everything, stops the loop on a condition. */
struct raw {
    struct bufferevent *bev;
    struct evbuffer *got;
    size_t received;
    size_t stop_at_bytes; /* stop the loop once this many bytes arrived (0: on EOF only) */
    const char *stop_marker;
    int stop_count;        /* ... or once stop_marker was seen this many times */
    const char *stop_tail; /* ... or once the last bytes are these */
    bool keep;             /* keep what arrives (else only count it) */
    bool eof;
    int64_t eof_ms;
    char head[16], tail[16];
};

static int
count_str(struct evbuffer *b, const char *s)
{
    struct evbuffer_ptr p;
    int n = 0;

    evbuffer_ptr_set(b, &p, 0, EVBUFFER_PTR_SET);
    while ((p = evbuffer_search(b, s, strlen(s), &p)).pos != -1) {
        n++;
        evbuffer_ptr_set(b, &p, 1, EVBUFFER_PTR_ADD);
    }
    return n;
}

static void
raw_read_cb(struct bufferevent *bev, void *arg)
{
    struct raw *r = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);

    if (r->keep && evbuffer_get_length(r->got) < 65536) {
        evbuffer_add_buffer(r->got, in);
    } else {
        if (r->received == 0 && n >= sizeof(r->head))
            evbuffer_copyout(in, r->head, sizeof(r->head));
        if (n >= sizeof(r->tail)) {
            struct evbuffer_ptr p;

            evbuffer_ptr_set(in, &p, n - sizeof(r->tail), EVBUFFER_PTR_SET);
            evbuffer_copyout_from(in, &p, r->tail, sizeof(r->tail));
        } else {
            memmove(r->tail, r->tail + n, sizeof(r->tail) - n);
            evbuffer_copyout(in, r->tail + sizeof(r->tail) - n, n);
        }
        evbuffer_drain(in, n);
    }
    r->received += n;
    if (r->stop_tail != NULL && memcmp(r->tail + sizeof(r->tail) - strlen(r->stop_tail),
                                       r->stop_tail, strlen(r->stop_tail)) == 0)
        event_base_loopexit(base, NULL);
    if (r->stop_at_bytes != 0 && r->received >= r->stop_at_bytes)
        event_base_loopexit(base, NULL);
    if (r->stop_marker != NULL && count_str(r->got, r->stop_marker) >= r->stop_count)
        event_base_loopexit(base, NULL);
}

static void
raw_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct raw *r = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        r->eof = true;
        r->eof_ms = now_ms();
        event_base_loopexit(base, NULL);
    }
}

static void
raw_open(struct raw *r, const char *req)
{
    struct sockaddr_in sin;

    memset(r, 0, sizeof(*r));
    r->keep = true;
    r->got = evbuffer_new();
    r->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bufferevent_setcb(r->bev, raw_read_cb, NULL, raw_event_cb, r);
    ck_assert_int_eq(bufferevent_socket_connect(r->bev, (struct sockaddr *)&sin, sizeof(sin)), 0);
    bufferevent_enable(r->bev, EV_READ | EV_WRITE);
    if (req != NULL)
        bufferevent_write(r->bev, req, strlen(req));
}

static void
raw_close(struct raw *r)
{
    bufferevent_free(r->bev);
    evbuffer_free(r->got);
}

/* NUL-terminated copy of what a raw client got (at most 64 KiB). */
static char *
raw_text(struct raw *r)
{
    size_t n = evbuffer_get_length(r->got);
    char *s = malloc(n + 1);

    evbuffer_copyout(r->got, s, n);
    s[n] = '\0';
    return s;
}

START_TEST(test_keepalive_pipelined)
{
    struct raw r;
    char *s;

    start_server(NULL);
    /* three pipelined requests, then one with a body, then one that closes */
    raw_open(&r, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /hello?a=b HTTP/1.1\r\nHost: x\r\n\r\n"
                 "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping"
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\npo\r\n2;x=y\r\nng\r\n0\r\nT: 1\r\n\r\n"
                 "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    event_base_dispatch(base);
    ck_assert(r.eof);
    s = raw_text(&r);
    ck_assert_int_eq(count_str(r.got, "HTTP/1.1 200 OK\r\n"), 5);
    ck_assert_int_eq(count_str(r.got, "\r\n\r\nhello"), 2);
    ck_assert_int_eq(count_str(r.got, "X-Test: 1\r\n"), 3);
    ck_assert_int_eq(count_str(r.got, "Injected"), 0);
    ck_assert_int_eq(count_str(r.got, "Date: "), 6);
    ck_assert_ptr_nonnull(strstr(s, "\r\n\r\nping"));
    ck_assert_ptr_nonnull(strstr(s, "\r\n\r\npong"));
    ck_assert_msg(strstr(s, "HTTP/1.1 404 Not Found\r\n") != NULL, "got %s", s);
    ck_assert_ptr_nonnull(strstr(s, "Connection: close\r\n"));
    /* HEAD: length of the GET, no body */
    ck_assert_ptr_nonnull(strstr(s, "Content-Length: 5\r\nX-Test: 1\r\n\r\nHTTP/1.1 200"));
    ck_assert_int_eq(requests_seen, 6);
    free(s);
    raw_close(&r);
}

END_TEST

START_TEST(test_header_too_large)
{
    struct net_http_server_opts o = {.limits.max_head_bytes = 4096, .limits.max_line = 1024};
    struct raw r, ok;
    char *big = malloc(70000), *s;

    start_server(&o);
    strcpy(big, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 600; i++)
        strcat(big, "X-Filler: 0123456789abcdef01\r\n");
    strcat(big, "\r\n");
    raw_open(&r, big);
    event_base_dispatch(base);
    ck_assert(r.eof);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 431 ", 13) == 0, "got %.40s", s);
    ck_assert_ptr_nonnull(strstr(s, "Connection: close\r\n"));
    free(s);
    raw_close(&r);

    /* too many fields, long request line */
    raw_open(&r, NULL);
    evbuffer_add_printf(bufferevent_get_output(r.bev), "GET /%09000d HTTP/1.1\r\n\r\n", 1);
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 414 ", 13) == 0, "got %.40s", s);
    free(s);
    raw_close(&r);

    /* malformed: smuggling attempt */
    raw_open(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 400 ", 13) == 0, "got %.40s", s);
    free(s);
    raw_close(&r);

    /* a TLS ClientHello on this plaintext port: closed without a reply */
    raw_open(&r, "\x16\x03\x01\x01\x05hello");
    event_base_dispatch(base);
    ck_assert(r.eof);
    s = raw_text(&r);
    ck_assert_msg(s[0] == '\0', "got %.40s", s);
    free(s);
    raw_close(&r);

    /* the server still serves others */
    raw_open(&ok, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    event_base_dispatch(base);
    s = raw_text(&ok);
    ck_assert_msg(strncmp(s, "HTTP/1.1 200 ", 13) == 0, "got %.40s", s);
    free(s);
    raw_close(&ok);
    free(big);
}

END_TEST

START_TEST(test_body_too_large)
{
    struct net_http_server_opts o = {.max_body = 1000};
    struct raw r;
    char *s, chunk[600];

    start_server(&o);
    /* declared too large: refused before the body is read */
    raw_open(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n"
                 "Expect: 100-continue\r\n\r\n");
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 413 ", 13) == 0, "got %.40s", s);
    ck_assert_ptr_null(strstr(s, "100 Continue"));
    free(s);
    raw_close(&r);
    ck_assert_int_eq(requests_seen, 0);

    /* chunked body that grows past the limit */
    raw_open(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    memset(chunk, 'a', sizeof(chunk));
    for (int i = 0; i < 3; i++) {
        evbuffer_add_printf(bufferevent_get_output(r.bev), "%zx\r\n", sizeof(chunk));
        bufferevent_write(r.bev, chunk, sizeof(chunk));
        bufferevent_write(r.bev, "\r\n", 2);
    }
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 413 ", 13) == 0, "got %.40s", s);
    free(s);
    raw_close(&r);

    /* within the limit, with 100-continue */
    raw_open(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 "Expect: 100-continue\r\nConnection: close\r\n\r\nabc");
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42) == 0,
                  "got %.60s", s);
    ck_assert_ptr_nonnull(strstr(s, "\r\n\r\nabc"));
    free(s);
    raw_close(&r);
}

END_TEST

static void
trickle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct raw *r = arg;
    static const char head[] = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    static size_t off;
    struct timeval tv = {0, 50000};

    (void)fd;
    (void)what;
    if (r->eof)
        return;
    bufferevent_write(r->bev, off < sizeof(head) - 1 ? head + off : "a", 1);
    off++;
    event_base_once(base, -1, EV_TIMEOUT, trickle_cb, r, &tv);
}

START_TEST(test_slowloris)
{
    struct net_http_server_opts o = {.header_timeout_ms = 400};
    struct raw r, idle;
    int64_t t0;

    start_server(&o);
    t0 = now_ms();
    raw_open(&r, NULL);
    trickle_cb(-1, 0, &r);
    /* a second connection that never sends anything */
    raw_open(&idle, NULL);
    while (!r.eof || !idle.eof)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_ge(r.eof_ms - t0, 350);
    ck_assert_int_lt(r.eof_ms - t0, NET_TEST_LATE_MS);
    ck_assert_int_lt(idle.eof_ms - t0, NET_TEST_LATE_MS);
    ck_assert_uint_eq(evbuffer_get_length(r.got), 0);
    ck_assert_int_eq(requests_seen, 0);
    raw_close(&r);
    raw_close(&idle);
}

END_TEST

START_TEST(test_per_ip_cap)
{
    struct net_http_server_opts o = {.max_conns_per_ip = 2};
    struct raw r[3];
    int64_t end;
    int eofs = 0;

    start_server(&o);
    for (int i = 0; i < 3; i++)
        raw_open(&r[i], NULL);
    /* 300 ms of loop (an EOF stops a dispatch early) */
    for (end = now_ms() + 300; now_ms() < end;) {
        struct timeval tv = {0, 50 * 1000};

        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    /* the one over the cap is closed at once; the others wait for their head */
    for (int i = 0; i < 3; i++)
        eofs += r[i].eof;
    ck_assert_int_eq(eofs, 1);
    ck_assert_uint_eq(net_http_server_conn_count(srv), 2);
    for (int i = 0; i < 3; i++)
        raw_close(&r[i]);
}

END_TEST

START_TEST(test_idle_keepalive)
{
    struct net_http_server_opts o = {.idle_timeout_ms = 300};
    struct raw r;
    int64_t t0;

    start_server(&o);
    raw_open(&r, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    r.stop_marker = "hello";
    r.stop_count = 1;
    event_base_dispatch(base);
    ck_assert(!r.eof);
    t0 = now_ms();
    r.stop_marker = NULL;
    event_base_dispatch(base);
    ck_assert(r.eof);
    ck_assert_int_ge(r.eof_ms - t0, 250);
    ck_assert_int_lt(r.eof_ms - t0, NET_TEST_LATE_MS);
    ck_assert_uint_eq(net_http_server_conn_count(srv), 0);
    raw_close(&r);
}

END_TEST

/* A request the handler holds (/hang) whose client leaves; returns once the server saw it. */
static void
hang_then_leave(void)
{
    struct raw r;
    int seen = closes_seen;

    raw_open(&r, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
    while (pending == NULL)
        event_base_loop(base, EVLOOP_ONCE);
    raw_close(&r);
    while (closes_seen == seen)
        event_base_loop(base, EVLOOP_ONCE);
}

START_TEST(test_async_and_close)
{
    struct net_http_server_opts o = {.request_timeout_ms = 300};
    struct raw r;
    char *s;

    start_server(&o);
    /* async handler answers 100 ms later */
    raw_open(&r, "GET /async HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_ptr_nonnull(strstr(s, "\r\n\r\nlate"));
    free(s);
    raw_close(&r);
    ck_assert_int_eq(closes_seen, 0);

    /* the client goes away while the handler holds the request */
    hang_then_leave();
    ck_assert_int_eq(close_reason, DF_ECLOSED);
    ck_assert_ptr_null(pending);

    /* the handler never answers: 503 at the request deadline, handler told */
    raw_open(&r, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 503 ", 13) == 0, "got %.40s", s);
    free(s);
    ck_assert_int_eq(closes_seen, 2);
    ck_assert_int_eq(close_reason, DF_ETIMEDOUT);
    raw_close(&r);

    /* server shutdown with a pending handler */
    raw_open(&r, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
    while (pending == NULL)
        event_base_loop(base, EVLOOP_ONCE);
    net_http_server_free(srv);
    srv = NULL;
    ck_assert_int_eq(closes_seen, 3);
    ck_assert_int_eq(close_reason, DF_ECANCELED);
    raw_close(&r);
}

END_TEST

/*
 * net_http_req_on_respond: once per answer, with its status, the request still readable;
 * late answers and the server's own 503 too; nothing for a request whose client left.
 */
START_TEST(test_on_respond)
{
    struct net_http_server_opts o = {.request_timeout_ms = 300};
    struct raw r;

    start_server(&o);
    raw_open(&r, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                 "GET /nope?secret=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /async HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    event_base_dispatch(base);
    raw_close(&r);
    ck_assert_str_eq(responds, "200 GET /hello\n200 POST /echo\n404 GET /nope\n200 GET /async\n");
    responds[0] = '\0';
    /* the client goes away first: no answer, no call */
    hang_then_leave();
    ck_assert_str_eq(responds, "");
    /* the handler never answers: the server's 503 is reported */
    raw_open(&r, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
    event_base_dispatch(base);
    raw_close(&r);
    ck_assert_str_eq(responds, "503 GET /hang\n");
}

END_TEST

static void
heap_sample_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mallinfo2 mi = mallinfo2();
    struct timeval tv = {0, 20000};

    (void)fd;
    (void)what;
    (void)arg;
    if (mi.uordblks > peak_heap)
        peak_heap = mi.uordblks;
    event_base_once(base, -1, EV_TIMEOUT, heap_sample_cb, NULL, &tv);
}

START_TEST(test_sendfile_slow_reader)
{
    struct ev_token_bucket_cfg *rl;
    struct timeval tick = {0, 10000};
    size_t heap0;
    struct raw r;

    start_server(NULL);
    heap0 = mallinfo2().uordblks;
    heap_sample_cb(-1, 0, NULL);
    raw_open(&r, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
    r.keep = false;
    /* a reader at 64 MiB/s: the server must not queue the file in memory */
    rl = ev_token_bucket_cfg_new(640 << 10, 640 << 10, EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, &tick);
    bufferevent_set_rate_limit(r.bev, rl);
    r.stop_tail = "TTTTTTTTTTTTTTTT";
    event_base_dispatch(base);
    ck_assert(!r.eof);
    ck_assert_uint_ge(r.received, FILE_SIZE);
    ck_assert_uint_lt(r.received, FILE_SIZE + 200);
    ck_assert_mem_eq(r.head, "HTTP/1.1 200 OK\r", 16);
    ck_assert_mem_eq(r.tail, "TTTTTTTTTTTTTTTT", 16);
    ck_assert_msg(peak_heap < heap0 + (8u << 20), "heap grew from %zu to %zu", heap0, peak_heap);
    bufferevent_set_rate_limit(r.bev, NULL);
    ev_token_bucket_cfg_free(rl);
    raw_close(&r);
}

END_TEST

/*
 * A whole answer larger than the socket takes at once (an 8 MiB echo to a reader at 16
 * MiB/s): what the first write leaves is queued, and the pipelined request after it is
 * answered on the same connection.
 */
START_TEST(test_whole_answer_partly_written)
{
    struct net_http_server_opts o = {.max_body = 16u << 20};
    struct ev_token_bucket_cfg *rl;
    struct timeval tick = {0, 10000};
    size_t len = 8u << 20;
    char *body = malloc(len);
    struct raw r;

    ck_assert_ptr_nonnull(body);
    start_server(&o);
    memset(body, 'e', len);
    memcpy(body + len - 16, "EEEEEEEEEEEEEEEE", 16);
    raw_open(&r, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n");
    bufferevent_write(r.bev, body, len);
    bufferevent_write(r.bev, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 52);
    r.keep = false;
    rl = ev_token_bucket_cfg_new(160 << 10, 160 << 10, EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, &tick);
    bufferevent_set_rate_limit(r.bev, rl);
    event_base_dispatch(base);
    ck_assert(r.eof);
    ck_assert_mem_eq(r.head, "HTTP/1.1 200 OK\r", 16);
    ck_assert_mem_eq(r.tail + 11, "hello", 5);
    /* two heads, the echo and "hello": nothing lost, nothing more */
    ck_assert_uint_gt(r.received, len + 2 * 40);
    ck_assert_uint_lt(r.received, len + 2 * 200);
    ck_assert_int_eq(requests_seen, 2);
    bufferevent_set_rate_limit(r.bev, NULL);
    ev_token_bucket_cfg_free(rl);
    raw_close(&r);
    free(body);
}

END_TEST

START_TEST(test_range_and_stream)
{
    struct raw r;
    char *s;

    start_server(NULL);
    raw_open(&r, "GET /range HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\n\r\n");
    r.stop_marker = "TTTTTTTTTT";
    r.stop_count = 1;
    event_base_dispatch(base);
    s = raw_text(&r);
    ck_assert_msg(strncmp(s, "HTTP/1.1 206 Partial Content\r\n", 30) == 0, "got %.40s", s);
    ck_assert_ptr_nonnull(strstr(s, "Content-Range: bytes 67108854-67108863/67108864\r\n"));
    ck_assert_ptr_nonnull(strstr(s, "Content-Length: 10\r\n"));
    free(s);

    /* chunked stream on the same connection, 4 MiB in 64 KiB chunks */
    evbuffer_drain(r.got, evbuffer_get_length(r.got));
    bufferevent_write(r.bev, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", 33);
    r.keep = false;
    r.stop_marker = NULL;
    r.received = 0;
    r.stop_tail = "\r\n0\r\n\r\n";
    event_base_dispatch(base);
    ck_assert(!r.eof);
    ck_assert_uint_gt(r.received, 4u << 20);
    ck_assert_uint_lt(r.received, (4u << 20) + 1000);
    ck_assert_mem_eq(r.head, "HTTP/1.1 200 OK\r", 16);
    raw_close(&r);
}

END_TEST

/* net_http_req_write_file: slices of a file segment as a response body, keep-alive after. */
START_TEST(test_write_file_slices)
{
    static const char req[] = "GET /slices HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    char want[20], got[20];
    struct evbuffer_ptr p;
    struct raw r;

    start_server(NULL);
    raw_open(&r, req);
    r.stop_marker = "hello";
    r.stop_count = 1;
    event_base_dispatch(base);
    ck_assert(!r.eof);
    ck_assert_int_eq(count_str(r.got, "Content-Length: 20\r\n"), 1);
    p = evbuffer_search(r.got, "\r\n\r\n", 4, NULL);
    ck_assert_int_ne(p.pos, -1);
    evbuffer_ptr_set(r.got, &p, 4, EVBUFFER_PTR_ADD);
    ck_assert_int_eq(evbuffer_copyout_from(r.got, &p, got, sizeof(got)), (ev_ssize_t)sizeof(got));
    memset(want, 'H', 10);
    memset(want + 10, 0, 10);
    ck_assert_mem_eq(got, want, sizeof(want));
    /* the next response starts right after the 20 bytes */
    evbuffer_ptr_set(r.got, &p, sizeof(got), EVBUFFER_PTR_ADD);
    ck_assert_int_eq(evbuffer_copyout_from(r.got, &p, got, 12), 12);
    ck_assert_mem_eq(got, "HTTP/1.1 200", 12);
    raw_close(&r);
}

END_TEST

/* A client request's outcome. */
struct creq {
    struct net_http_client *c;
    int status;
    int rv;
    bool ended;
    bool keep; /* keep the body (else count it) */
    bool slow; /* pause after every delivery and resume from a timer */
    int pauses;
    uint64_t bytes;
    uint64_t content_length;
    char content_range[80];
    struct evbuffer *body;
    char tail[16];
};

static void
creq_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct creq *r = arg;

    (void)fd;
    (void)what;
    if (!r->ended)
        net_http_client_resume(r->c);
}

static int
creq_head_cb(struct net_http_client *c, const struct net_http_head *h, void *arg)
{
    struct creq *r = arg;
    const char *cr = net_http_head_get(h, "content-range");

    (void)c;
    r->status = h->status;
    r->content_length = h->content_length;
    if (cr != NULL)
        snprintf(r->content_range, sizeof(r->content_range), "%s", cr);
    return 0;
}

static int
creq_data_cb(struct net_http_client *c, struct evbuffer *data, void *arg)
{
    struct creq *r = arg;
    size_t n = evbuffer_get_length(data);
    struct timeval tv = {0, 2000};

    r->bytes += n;
    if (n >= sizeof(r->tail)) {
        struct evbuffer_ptr p;

        evbuffer_ptr_set(data, &p, n - sizeof(r->tail), EVBUFFER_PTR_SET);
        evbuffer_copyout_from(data, &p, r->tail, sizeof(r->tail));
    }
    if (r->keep)
        evbuffer_add_buffer(r->body, data);
    else
        evbuffer_drain(data, n);
    if (r->slow && (r->bytes - n) >> 20 != r->bytes >> 20) {
        r->pauses++;
        net_http_client_pause(c);
        event_base_once(base, -1, EV_TIMEOUT, creq_resume_cb, r, &tv);
    }
    return 0;
}

static void
creq_end_cb(struct net_http_client *c, int rv, void *arg)
{
    struct creq *r = arg;

    (void)c;
    r->rv = rv;
    r->ended = true;
    event_base_loopexit(base, NULL);
}

static const struct net_http_client_cbs creq_cbs = {creq_head_cb, creq_data_cb, creq_end_cb};

static struct net_http_client *
client_open(const struct net_http_client_opts *o)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct net_http_client *c = NULL;
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bufferevent_socket_connect(bev, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(net_http_client_new(bev, o, &c), 0);
    return c;
}

/* Run one request to completion on c. */
static void
creq_run(struct net_http_client *c, struct creq *r, const char *method, const char *target,
         const struct net_http_header *hdrs, size_t nhdrs)
{
    struct net_http_request req = {.method = method,
                                   .target = target,
                                   .host = "127.0.0.1",
                                   .headers = hdrs,
                                   .nheaders = nhdrs};
    bool keep = r->keep, slow = r->slow;

    if (r->body != NULL)
        evbuffer_free(r->body);
    memset(r, 0, sizeof(*r));
    r->keep = keep;
    r->slow = slow;
    r->c = c;
    r->body = evbuffer_new();
    ck_assert_int_eq(net_http_client_request(c, &req, &creq_cbs, r), 0);
    while (!r->ended)
        ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
}

START_TEST(test_client_keepalive)
{
    struct net_http_header range = {"Range", "bytes=0-99"};
    struct net_http_header secret = {"Authorization", "Bearer hunter2"};
    struct net_http_content_range cr;
    struct net_http_client *c;
    struct creq r = {.keep = true};

    start_server(NULL);
    c = client_open(NULL);
    creq_run(c, &r, "GET", "/hello", &secret, 1);
    ck_assert_int_eq(r.rv, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(evbuffer_get_length(r.body), 5);
    ck_assert(net_http_client_is_reusable(c));

    creq_run(c, &r, "GET", "/stream", NULL, 0);
    ck_assert_int_eq(r.rv, 0);
    ck_assert_uint_eq(r.bytes, 4u << 20);
    ck_assert_uint_eq(net_http_client_body_bytes(c), 4u << 20);

    creq_run(c, &r, "GET", "/range", &range, 1);
    ck_assert_int_eq(r.rv, 0);
    ck_assert_int_eq(r.status, 206);
    ck_assert_int_eq(net_http_content_range_parse(r.content_range, &cr), 0);
    ck_assert_uint_eq(cr.first, 0);
    ck_assert_uint_eq(cr.last, 99);
    ck_assert_uint_eq(cr.total, FILE_SIZE);
    ck_assert_uint_eq(r.bytes, 100);

    creq_run(c, &r, "HEAD", "/file", NULL, 0);
    ck_assert_int_eq(r.rv, 0);
    ck_assert_uint_eq(r.content_length, FILE_SIZE);
    ck_assert_uint_eq(r.bytes, 0);

    creq_run(c, &r, "GET", "/missing", NULL, 0);
    ck_assert_int_eq(r.rv, 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert(net_http_client_is_reusable(c));
    ck_assert_uint_eq(net_http_server_conn_count(srv), 1);
    ck_assert_int_eq(requests_seen, 5);

    /* bad requests are refused before anything is sent */
    {
        struct net_http_header bad = {"X", "a\r\nInjected: 1"}, cl = {"Content-Length", "1"};
        struct net_http_request q = {
                .method = "GET", .target = "/", .host = "h", .headers = &bad, .nheaders = 1};

        ck_assert_int_eq(net_http_client_request(c, &q, &creq_cbs, &r), DF_EINVAL);
        q.headers = &cl;
        ck_assert_int_eq(net_http_client_request(c, &q, &creq_cbs, &r), DF_EINVAL);
        q.nheaders = 0;
        q.target = "/a b";
        ck_assert_int_eq(net_http_client_request(c, &q, &creq_cbs, &r), DF_EINVAL);
    }
    net_http_client_free(c);
    evbuffer_free(r.body);
}

END_TEST

START_TEST(test_client_truncated)
{
    struct net_http_client *c;
    struct creq r = {.keep = true};

    start_server(NULL);
    c = client_open(NULL);
    creq_run(c, &r, "GET", "/short", NULL, 0);
    ck_assert_int_eq(r.rv, DF_EPROTO);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.bytes, 10);
    ck_assert(!net_http_client_is_reusable(c));
    ck_assert_int_eq(
            net_http_client_request(
                    c, &(struct net_http_request){.method = "GET", .target = "/", .host = "h"},
                    &creq_cbs, &r),
            DF_ECLOSED);
    net_http_client_free(c);
    evbuffer_free(r.body);
}

END_TEST

START_TEST(test_client_deadlines)
{
    struct net_http_client_opts o = {.total_timeout_ms = 300};
    struct net_http_client *c;
    struct creq r = {.keep = true};
    int64_t t0;

    start_server(NULL);
    /* total deadline while the server holds the request */
    c = client_open(&o);
    t0 = now_ms();
    creq_run(c, &r, "GET", "/hang", NULL, 0);
    ck_assert_int_eq(r.rv, DF_ETIMEDOUT);
    ck_assert_int_ge(now_ms() - t0, 250);
    ck_assert_int_lt(now_ms() - t0, NET_TEST_LATE_MS);
    ck_assert(!net_http_client_is_reusable(c));
    net_http_client_free(c);
    /* the server's handler hears about it */
    while (closes_seen == 0)
        event_base_loop(base, EVLOOP_ONCE);

    /* head timeout */
    o.total_timeout_ms = 0;
    o.head_timeout_ms = 200;
    c = client_open(&o);
    t0 = now_ms();
    creq_run(c, &r, "GET", "/hang", NULL, 0);
    ck_assert_int_eq(r.rv, DF_ETIMEDOUT);
    ck_assert_int_lt(now_ms() - t0, NET_TEST_LATE_MS);
    net_http_client_free(c);

    /* idle timeout after the head: a stalled body */
    o.head_timeout_ms = 0;
    o.idle_timeout_ms = 200;
    c = client_open(&o);
    t0 = now_ms();
    creq_run(c, &r, "GET", "/stall", NULL, 0);
    ck_assert_int_eq(r.rv, DF_ETIMEDOUT);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.bytes, 10);
    ck_assert_int_ge(now_ms() - t0, 150);
    ck_assert_int_lt(now_ms() - t0, NET_TEST_LATE_MS);
    net_http_client_free(c);
    evbuffer_free(r.body);
}

END_TEST

START_TEST(test_client_backpressure)
{
    struct net_http_client_opts o = {.body_high_water = 256 << 10};
    struct net_http_client *c;
    struct creq r = {.slow = true};
    size_t heap0;

    start_server(NULL);
    heap0 = mallinfo2().uordblks;
    heap_sample_cb(-1, 0, NULL);
    c = client_open(&o);
    creq_run(c, &r, "GET", "/file", NULL, 0);
    ck_assert_int_eq(r.rv, 0);
    ck_assert_uint_eq(r.bytes, FILE_SIZE);
    ck_assert_mem_eq(r.tail, "TTTTTTTTTTTTTTTT", 16);
    ck_assert_int_gt(r.pauses, 10);
    ck_assert_msg(peak_heap < heap0 + (8u << 20), "heap grew from %zu to %zu", heap0, peak_heap);
    ck_assert(net_http_client_is_reusable(c));
    net_http_client_free(c);
    evbuffer_free(r.body);
}

END_TEST

START_TEST(test_client_server_closed_idle)
{
    struct net_http_server_opts so = {.idle_timeout_ms = 100};
    struct net_http_client *c;
    struct creq r = {.keep = true};
    struct timeval tv = {0, 100000};

    start_server(&so);
    c = client_open(NULL);
    creq_run(c, &r, "GET", "/hello", NULL, 0);
    ck_assert_int_eq(r.rv, 0);
    /* the server closes the idle connection after 100 ms: wait for the client to see it */
    for (int i = 0; i < 100 && net_http_client_is_reusable(c); i++) {
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    ck_assert(!net_http_client_is_reusable(c));
    net_http_client_free(c);
    evbuffer_free(r.body);
}

END_TEST

/* Client against scripted responses over a bufferevent pair. */
static void
pair_case(const char *resp, bool close_after, int want_rv, uint64_t want_bytes, int want_status)
{
    struct bufferevent *pair[2];
    struct net_http_client *c;
    struct creq r = {.keep = true};
    struct net_http_request req = {.method = "GET", .target = "/x", .host = "h"};

    ck_assert_int_eq(bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
    ck_assert_int_eq(net_http_client_new(pair[0], NULL, &c), 0);
    r.c = c;
    r.body = evbuffer_new();
    ck_assert_int_eq(net_http_client_request(c, &req, &creq_cbs, &r), 0);
    bufferevent_enable(pair[1], EV_READ | EV_WRITE);
    bufferevent_write(pair[1], resp, strlen(resp));
    if (close_after) {
        bufferevent_flush(pair[1], EV_WRITE, BEV_FINISHED);
        bufferevent_free(pair[1]);
        pair[1] = NULL;
    }
    while (!r.ended)
        ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
    ck_assert_msg(r.rv == want_rv, "%s: rv %d", resp, r.rv);
    ck_assert_msg(r.bytes == want_bytes, "%s: %llu bytes", resp, (unsigned long long)r.bytes);
    ck_assert_int_eq(r.status, want_status);
    net_http_client_free(c);
    if (pair[1] != NULL)
        bufferevent_free(pair[1]);
    evbuffer_free(r.body);
}

START_TEST(test_client_framing)
{
    /* close-delimited body */
    pair_case("HTTP/1.1 200 OK\r\n\r\nabcdef", true, 0, 6, 200);
    /* interim 100 skipped */
    pair_case("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false,
              0, 2, 200);
    /* truncated length and chunked bodies */
    pair_case("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, DF_EPROTO, 3, 200);
    pair_case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", true, DF_EPROTO,
              3, 200);
    pair_case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", false,
              DF_EPROTO, 3, 200);
    /* the whole response arrives with the close */
    pair_case("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", true, 0, 3, 200);
    /* extra bytes after the body */
    pair_case("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA", false, DF_EPROTO, 3, 200);
    /* nothing at all, then a broken head */
    pair_case("", true, DF_ECLOSED, 0, 0);
    pair_case("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", true, DF_EPROTO, 0, 0);
    pair_case("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false,
              DF_EPROTO, 0, 0);
    pair_case("HTTP/1.1 101 Switching Protocols\r\n\r\n", false, DF_EPROTO, 0, 0);
}

END_TEST

/* curl against the server: keep-alive across URLs, HEAD, and an upload with 100-continue. */
START_TEST(test_curl)
{
    char cmd[512], out[512] = "";
    struct raw dummy;
    pid_t pid;
    int pfd[2], status = -1;
    ssize_t n;
    size_t off = 0;

    (void)dummy;
    if (system("command -v curl >/dev/null 2>&1") != 0)
        return; /* no curl here */
    start_server(NULL);
    snprintf(
            cmd, sizeof(cmd),
            "curl -sS --max-time 5  -w '%%{http_code}:%%{num_connects} ' -o /dev/null -o /dev/null "
            "http://127.0.0.1:%u/hello http://127.0.0.1:%u/range -H 'Range: bytes=-16' "
            "&& curl -sS --max-time 5 -I http://127.0.0.1:%u/file | tr -d '\\r' | "
            "grep -E '^(HTTP|Content-Length)' | tr '\\n' ' ' "
            "&& printf 'data' | curl -sS --max-time 5 -H 'Expect: 100-continue' "
            "-H 'Transfer-Encoding: chunked' --data-binary @- http://127.0.0.1:%u/echo",
            port, port, port, port);
    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        struct timeval tv = {0, 10000};

        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
        while ((n = read(pfd[0], out + off, sizeof(out) - 1 - off)) > 0)
            off += (size_t)n;
    }
    while ((n = read(pfd[0], out + off, sizeof(out) - 1 - off)) > 0)
        off += (size_t)n;
    out[off] = '\0';
    close(pfd[0]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "curl failed: %s", out);
    ck_assert_str_eq(out, "200:1 206:0 HTTP/1.1 200 OK Content-Length: 67108864 data");
}

END_TEST

Suite *test_net_http_suite(void);

Suite *
test_net_http_suite(void)
{
    Suite *s = suite_create("net_http");
    TCase *tc = tcase_create("server");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_keepalive_pipelined);
    tcase_add_test(tc, test_write_file_slices);
    tcase_add_test(tc, test_on_respond);
    tcase_add_test(tc, test_per_ip_cap);
    tcase_add_test(tc, test_header_too_large);
    tcase_add_test(tc, test_body_too_large);
    tcase_add_test(tc, test_slowloris);
    tcase_add_test(tc, test_idle_keepalive);
    tcase_add_test(tc, test_async_and_close);
    tcase_add_test(tc, test_sendfile_slow_reader);
    tcase_add_test(tc, test_whole_answer_partly_written);
    tcase_add_test(tc, test_range_and_stream);
    tcase_add_test(tc, test_curl);
    suite_add_tcase(s, tc);
    tc = tcase_create("client");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_client_keepalive);
    tcase_add_test(tc, test_client_truncated);
    tcase_add_test(tc, test_client_deadlines);
    tcase_add_test(tc, test_client_backpressure);
    tcase_add_test(tc, test_client_server_closed_idle);
    tcase_add_test(tc, test_client_framing);
    suite_add_tcase(s, tc);
    return s;
}
