/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded resources under abuse (SECURITY-REVIEW H4, H5, H6), against the real roles: a raw
 * HTTP/2 client (nghttp2 over a blocking-with-poll socket bound to a chosen 127.0.0.x source)
 * opens streams whose bodies never end, holds connections that never speak, and floods a
 * role started under `prlimit --nofile=64`. Bounds are loose (RSS growth, CPU over 5 s, log
 * lines): they tell a budget from none, not one machine from another.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <nghttp2/nghttp2.h>

#include "harness/harness.h"

#define BD_MAX_STREAMS 128
#define BD_HEALTH      "/grpc.health.v1.Health/Check"

/* ---- time, /proc ---- */

static int64_t
bd_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* VmRSS of pid in KiB, or -1. */
static long
bd_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return kib;
}

/* utime + stime of pid in clock ticks, or -1. */
static long
bd_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the ")" closing the command name: state is 3, utime 14, stime 15. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

/* Lines of the file at path, and how many of them contain want (may be NULL). */
static int
bd_count_lines(const char *path, const char *want, int *with)
{
    char buf[4096];
    int n = 0;
    FILE *f;

    if (with != NULL)
        *with = 0;
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        n += strchr(buf, '\n') != NULL;
        if (want != NULL && strstr(buf, want) != NULL)
            (*with)++;
    }
    fclose(f);
    return n;
}

/* ---- sockets ---- */

/* A non-blocking TCP connection from src (an IP) to addr ("ip:port"), connected. */
static int
bd_tcp(const char *src, const char *addr)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    const char *colon = strrchr(addr, ':');
    char ip[32];
    int fd, err = 0;

    ck_assert_ptr_nonnull(colon);
    snprintf(ip, sizeof(ip), "%.*s", (int)(colon - addr), addr);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &to.sin_addr), 1);
    to.sin_port = htons((uint16_t)atoi(colon + 1));
    ck_assert_int_eq(inet_pton(AF_INET, src, &from.sin_addr), 1);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    /* Bounded: a listener that never drains its backlog must fail the test, not hang it. */
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == -1) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        socklen_t len = sizeof(err);

        ck_assert_msg(errno == EINPROGRESS, "connect %s: %s", addr, strerror(errno));
        ck_assert_msg(poll(&pfd, 1, 5000) == 1, "connect %s: timed out", addr);
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
        ck_assert_msg(err == 0, "connect %s: %s", addr, strerror(err));
    }
    return fd;
}

/* True once the peer has closed fd; what it sent before is read and dropped. */
static bool
bd_is_closed(int fd)
{
    char buf[4096];
    ssize_t n;

    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    return n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Wait up to ms for all n fds to be closed by the peer; returns how many are. */
static int
bd_wait_closed(const int *fds, int n, int ms)
{
    int64_t end = bd_now_ms() + ms;
    int closed;

    for (;;) {
        closed = 0;
        for (int i = 0; i < n; i++)
            closed += bd_is_closed(fds[i]);
        if (closed == n || bd_now_ms() >= end)
            return closed;
        usleep(100 * 1000);
    }
}

/* ---- a raw HTTP/2 client ---- */

struct bd_stream {
    int32_t id;
    char *json;  /* the body, or NULL for whitespace */
    size_t off;  /* of json sent */
    size_t left; /* body bytes still to send */
    bool finish; /* END_STREAM after them; otherwise the body never ends */
    int status;
    bool closed;
    char body[256];
    size_t blen;
};

struct bd_h2 {
    int fd;
    nghttp2_session *s;
    bool eof;
    struct bd_stream st[BD_MAX_STREAMS];
    int n;
};

static struct bd_stream *
bd_find(struct bd_h2 *h, int32_t id)
{
    for (int i = 0; i < h->n; i++) {
        if (h->st[i].id == id)
            return &h->st[i];
    }
    return NULL;
}

static int
bd_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
             const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct bd_stream *st = bd_find(ud, f->hd.stream_id);

    (void)s;
    (void)flags;
    if (st != NULL && namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3)
        st->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int
bd_data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
    struct bd_stream *st = bd_find(ud, id);

    (void)s;
    (void)flags;
    for (size_t i = 0; st != NULL && i < len && st->blen + 1 < sizeof(st->body); i++) {
        if (data[i] >= 0x20)
            st->body[st->blen++] = (char)data[i];
    }
    return 0;
}

static int
bd_close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct bd_stream *st = bd_find(ud, id);

    (void)s;
    (void)code;
    if (st != NULL)
        st->closed = true;
    return 0;
}

static ssize_t
bd_body_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
           nghttp2_data_source *src, void *ud)
{
    struct bd_stream *st = src->ptr;
    size_t n = st->left < length ? st->left : length;

    (void)s;
    (void)id;
    (void)ud;
    if (st->json != NULL)
        memcpy(buf, st->json + st->off, n);
    else
        memset(buf, ' ', n); /* JSON whitespace: a body that is never a message */
    st->off += n;
    st->left -= n;
    if (st->left == 0 && st->finish)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
    return (ssize_t)n;
}

/* Connect from src to addr and queue the preface and SETTINGS. */
static struct bd_h2 *
bd_h2_open(const char *src, const char *addr)
{
    struct bd_h2 *h = calloc(1, sizeof(*h));
    nghttp2_session_callbacks *cb;

    ck_assert_ptr_nonnull(h);
    h->fd = bd_tcp(src, addr);
    ck_assert_int_eq(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, bd_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, bd_data_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, bd_close_cb);
    ck_assert_int_eq(nghttp2_session_client_new(&h->s, cb, h), 0);
    nghttp2_session_callbacks_del(cb);
    ck_assert_int_eq(nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    return h;
}

static void
bd_h2_close(struct bd_h2 *h)
{
    if (h == NULL)
        return;
    for (int i = 0; i < h->n; i++)
        free(h->st[i].json);
    nghttp2_session_del(h->s);
    close(h->fd);
    free(h);
}

/* Open a stream of path with body bytes of whitespace, ended when finish. */
static struct bd_stream *
bd_h2_request(struct bd_h2 *h, const char *path, const char *ctype, size_t body, bool finish)
{
    struct bd_stream *st;
    const char *hdr[5][2] = {{":method", "POST"},
                             {":scheme", "http"},
                             {":path", path},
                             {":authority", "dragonfly"},
                             {"content-type", ctype}};
    nghttp2_nv nva[5];
    nghttp2_data_provider prd = {.read_callback = bd_body_cb};

    ck_assert_int_lt(h->n, BD_MAX_STREAMS);
    st = &h->st[h->n++];
    for (int i = 0; i < 5; i++)
        nva[i] = (nghttp2_nv){(uint8_t *)(uintptr_t)hdr[i][0], (uint8_t *)(uintptr_t)hdr[i][1],
                              strlen(hdr[i][0]), strlen(hdr[i][1]), NGHTTP2_NV_FLAG_NONE};
    st->left = body;
    st->finish = finish;
    prd.source.ptr = st;
    st->id = nghttp2_submit_request(h->s, NULL, nva, 5, body > 0 || !finish ? &prd : NULL, NULL);
    ck_assert_int_gt(st->id, 0);
    return st;
}

/* Read what the server sent and feed it to the session; false once it closed. */
static bool
bd_h2_read(struct bd_h2 *h)
{
    uint8_t buf[65536];
    ssize_t n = recv(h->fd, buf, sizeof(buf), 0);

    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    if (n <= 0 || nghttp2_session_mem_recv(h->s, buf, (size_t)n) < 0)
        h->eof = true;
    return !h->eof;
}

/* Exchange frames for up to ms, or until done(h) says so; false once the server closed. */
static bool
bd_h2_pump(struct bd_h2 *h, int ms, bool (*done)(struct bd_h2 *))
{
    int64_t end = bd_now_ms() + ms;
    const uint8_t *out;
    struct pollfd pfd;
    ssize_t n, w;

    while (!h->eof && bd_now_ms() < end && (done == NULL || !done(h))) {
        while (!h->eof && (n = nghttp2_session_mem_send(h->s, &out)) > 0) {
            /* Every byte of out goes before the next mem_send, or the stream is corrupt. */
            for (ssize_t off = 0; off < n && !h->eof;) {
                w = send(h->fd, out + off, (size_t)(n - off), MSG_NOSIGNAL);
                if (w > 0) {
                    off += w;
                    continue;
                }
                if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    h->eof = true;
                    break;
                }
                if (bd_now_ms() >= end + 10000) {
                    ck_abort_msg("the server neither reads nor writes");
                }
                /* The server stops reading while its own output is unread: read it. */
                pfd = (struct pollfd){.fd = h->fd, .events = POLLOUT | POLLIN};
                if (poll(&pfd, 1, 20) > 0 && (pfd.revents & POLLIN))
                    bd_h2_read(h);
            }
        }
        pfd = (struct pollfd){.fd = h->fd, .events = POLLIN};
        if (!h->eof && poll(&pfd, 1, 20) > 0)
            bd_h2_read(h);
    }
    return !h->eof;
}

/* Every stream is answered or has sent its whole (unfinished) body. */
static bool
bd_all_sent(struct bd_h2 *h)
{
    for (int i = 0; i < h->n; i++) {
        if (h->st[i].status == 0 && h->st[i].left > 0)
            return false;
    }
    return true;
}

/* A unary call of path with a printf-formatted JSON body. */
static struct bd_stream *bd_h2_callf(struct bd_h2 *h, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static struct bd_stream *
bd_h2_callf(struct bd_h2 *h, const char *path, const char *fmt, ...)
{
    struct bd_stream *st;
    char *json;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&json, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    st = bd_h2_request(h, path, "application/json", (size_t)n, true);
    st->json = json;
    return st;
}

static bool
bd_all_answered(struct bd_h2 *h)
{
    for (int i = 0; i < h->n; i++) {
        if (h->st[i].status == 0)
            return false;
    }
    return true;
}

/* A bidi stream of path whose first envelope declares msg_len bytes; sends 5 + sent bytes. */
static struct bd_stream *
bd_h2_envelope(struct bd_h2 *h, const char *path, uint32_t msg_len, size_t sent)
{
    struct bd_stream *st = bd_h2_request(h, path, "application/connect+json", 5 + sent, false);

    ck_assert_ptr_nonnull(st->json = calloc(1, 5 + sent));
    st->json[1] = (char)(msg_len >> 24);
    st->json[2] = (char)(msg_len >> 16);
    st->json[3] = (char)(msg_len >> 8);
    st->json[4] = (char)msg_len;
    memset(st->json + 5, ' ', sent);
    return st;
}

/* An honest health check from src: true when the server answers SERVING. */
static bool
bd_health_ok(const char *src, const char *addr)
{
    struct bd_h2 *h = bd_h2_open(src, addr);
    struct bd_stream *st = bd_h2_request(h, BD_HEALTH, "application/json", 0, true);
    bool ok;

    bd_h2_pump(h, 10000, bd_all_answered);
    ok = st->status == 200 && strstr(st->body, "SERVING") != NULL;
    bd_h2_close(h);
    return ok;
}

/* ---- roles ---- */

struct bd_env {
    char *dir;
    struct it_proc proc;
    char rpc[64];
    char upload[64];
};

static void
bd_start(struct bd_env *e, const char *role, const char *prefix, ...)
{
    char ready[700], data[700];
    const char *argv[48];
    const char *a;
    size_t n = 0;
    va_list ap;

    memset(e, 0, sizeof(*e));
    e->dir = it_tmpdir();
    ck_assert_ptr_nonnull(e->dir);
    snprintf(ready, sizeof(ready), "%s/%s.ready", e->dir, role);
    snprintf(data, sizeof(data), "%s/data", e->dir);
    if (prefix != NULL) {
        argv[n++] = prefix;
        argv[n++] = "--nofile=64";
    }
    argv[n++] = it_bin();
    argv[n++] = role;
    if (prefix != NULL)
        argv[n++] = "--plaintext"; /* it_proc_start adds it only when it runs dragonfly */
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    if (strcmp(role, "scheduler") == 0) {
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.150:0";
        argv[n++] = "--metrics-listen";
        argv[n++] = "127.0.0.150:0";
    } else {
        argv[n++] = "--ip";
        argv[n++] = "127.0.0.150";
        argv[n++] = "--rpc-port";
        argv[n++] = "0";
        argv[n++] = "--upload-port";
        argv[n++] = "0";
        argv[n++] = "--data-dir";
        argv[n++] = data;
    }
    va_start(ap, prefix);
    while ((a = va_arg(ap, const char *)) != NULL && n < 46)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(it_proc_start(&e->proc, e->dir, role, (char *const *)(uintptr_t)argv, ready,
                                   IT_READY_MS),
                     0);
    snprintf(e->rpc, sizeof(e->rpc), "%s", it_proc_ready_str(&e->proc, "rpc"));
    if (it_proc_ready_str(&e->proc, "upload") != NULL)
        snprintf(e->upload, sizeof(e->upload), "%s", it_proc_ready_str(&e->proc, "upload"));
}

/* Stop the daemon: it must exit 0 (under ASan, that also means no leak report). */
static void
bd_stop(struct bd_env *e)
{
    int status = it_proc_stop(&e->proc);

    if (status != 0)
        it_proc_dump_log(&e->proc);
    it_rmtree(e->dir);
    free(e->dir);
    ck_assert_msg(status == 0, "daemon exit status %d", status);
}

/* The daemon's pid from its ready file (under prlimit, the same process after exec). */
static pid_t
bd_pid(const struct bd_env *e)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e->proc.ready, "pid");

    ck_assert(cJSON_IsNumber(p));
    return (pid_t)p->valuedouble;
}

/* ---- H4: one connection, many streams with unfinished bodies ---- */

static int
bd_count_status(const struct bd_h2 *h, int status)
{
    int n = 0;

    for (int i = 0; i < h->n; i++)
        n += h->st[i].status == status;
    return n;
}

START_TEST(it_rpc_mem_budget)
{
    /* Budgets as configured by default: 1 MiB messages, 8 MiB per connection. */
    const long budget_kib = 8 * 1024, slack_kib = 24 * 1024;
    const int streams = 64;
    struct bd_env e;
    struct bd_h2 *h;
    struct bd_stream *reg;
    long before, after;
    pid_t pid;

    bd_start(&e, "scheduler", NULL, NULL);
    pid = bd_pid(&e);
    ck_assert(bd_health_ok("127.0.0.152", e.rpc));
    before = bd_rss_kib(pid);
    h = bd_h2_open("127.0.0.151", e.rpc);
    /* 64 x 900 KiB: each under the message limit, 56 MiB in all, none ever finished. */
    for (int i = 0; i < streams; i++)
        bd_h2_request(h, BD_HEALTH, "application/json", 900 * 1024, false);
    bd_h2_pump(h, 20000, bd_all_sent);
    ck_assert(bd_all_sent(h));
    bd_h2_pump(h, 200, NULL);
    after = bd_rss_kib(pid);
    /* The streams past the budget were answered resource_exhausted (429)... */
    ck_assert_int_ge(bd_count_status(h, 429), streams - 12);
    ck_assert_int_eq(bd_count_status(h, 429) + bd_count_status(h, 0), streams);
    /* ...and an honest call is served while the others still hold theirs. */
    ck_assert(bd_health_ok("127.0.0.152", e.rpc));
    fprintf(stderr, "it_rpc_mem_budget: scheduler RSS %ld -> %ld KiB, %d/%d streams refused\n",
            before, after, bd_count_status(h, 429), streams);
    /* A register that would pin a 3 MiB download object for the task's life: refused at its
     * envelope header (AnnouncePeer takes 64 KiB messages). */
    bd_h2_close(h);
    h = bd_h2_open("127.0.0.151", e.rpc);
    reg = bd_h2_envelope(h, "/scheduler.v2.Scheduler/AnnouncePeer", 3u << 20, 60 * 1024);
    bd_h2_pump(h, 10000, bd_all_answered);
    ck_assert_int_eq(reg->status, 200);
    bd_h2_pump(h, 500, NULL);
    ck_assert_msg(strstr(reg->body, "exceeds the limit of 65536") != NULL, "%s", reg->body);
    ck_assert(bd_h2_pump(h, 100, NULL));
    if (getenv("DF_SANITIZE") == NULL)
        ck_assert_msg(after - before < budget_kib + slack_kib,
                      "RSS grew %ld KiB from one connection (budget %ld KiB + %ld KiB slack)",
                      after - before, budget_kib, slack_kib);
    bd_h2_close(h);
    bd_stop(&e);
}

END_TEST

/* ---- H5: connections that never speak, or hold one stream open ---- */

START_TEST(it_rpc_preface_deadline)
{
    enum { N = 20 };
    struct bd_env e;
    struct bd_h2 *h2[N], *quiet;
    int raw[N], t0;

    bd_start(&e, "peer", NULL, "--rpc-preface-timeout", "1s", "--rpc-body-timeout", "2s",
             "--rpc-idle-timeout", "3s", NULL);
    t0 = (int)bd_now_ms();
    for (int i = 0; i < N; i++)
        raw[i] = bd_tcp("127.0.0.153", e.rpc);
    /* The hold of the review: preface, SETTINGS and one StatTask HEADERS without a body. */
    for (int i = 0; i < N; i++) {
        h2[i] = bd_h2_open("127.0.0.154", e.rpc);
        bd_h2_request(h2[i], "/dfdaemon.v2.DfdaemonDownload/StatTask", "application/json", 0,
                      false);
        ck_assert(bd_h2_pump(h2[i], 50, NULL));
    }
    /* And a connection that says hello and nothing more. */
    quiet = bd_h2_open("127.0.0.154", e.rpc);
    ck_assert(bd_h2_pump(quiet, 50, NULL));
    /* Nothing is closed before its deadline... */
    for (int i = 0; i < N; i++)
        ck_assert(bd_h2_pump(h2[i], 10, NULL));
    ck_assert(bd_h2_pump(quiet, 10, NULL));
    /* ...and everything after it (1 s preface, 2 s body + 2 s linger, 3 s idle), with room. */
    ck_assert_int_eq(bd_wait_closed(raw, N, 20000), N);
    for (int i = 0; i < N; i++) {
        bd_h2_pump(h2[i], 20000, NULL);
        ck_assert_msg(h2[i]->eof, "connection %d with an open stream still open", i);
        /* answered deadline_exceeded before the stream went away */
        ck_assert_int_eq(h2[i]->st[0].status, 504);
    }
    ck_assert(!bd_h2_pump(quiet, 20000, NULL));
    fprintf(stderr, "it_rpc_preface_deadline: %d + %d + 1 connections closed in %d ms\n", N, N,
            (int)bd_now_ms() - t0);
    ck_assert(bd_health_ok("127.0.0.155", e.rpc));
    for (int i = 0; i < N; i++) {
        close(raw[i]);
        bd_h2_close(h2[i]);
    }
    bd_h2_close(quiet);
    bd_stop(&e);
}

END_TEST

/* ---- H5: per-IP connection caps ---- */

/* GET /healthy on the upload server from src: true for a 200. */
static bool
bd_upload_healthy(const char *src, const char *addr)
{
    static const char req[] = "GET /healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fd = bd_tcp(src, addr);
    char buf[512];
    size_t len = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ssize_t n;
    int64_t end = bd_now_ms() + 10000;

    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
        close(fd);
        return false;
    }
    while (len < sizeof(buf) - 1 && bd_now_ms() < end) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if ((n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

START_TEST(it_upload_per_ip_cap)
{
    enum { CAP = 4 };
    struct bd_env e;
    int up[CAP + 1], rpc[CAP + 1];

    bd_start(&e, "peer", NULL, "--upload-max-conns-per-ip", "4", "--rpc-max-conns-per-ip", "4",
             NULL);
    /* Upload server: CAP silent connections from one address are kept (until the head
     * deadline), the next one from it is closed at once, and another address is served. */
    for (int i = 0; i < CAP; i++)
        up[i] = bd_tcp("127.0.0.156", e.upload);
    usleep(200 * 1000);
    up[CAP] = bd_tcp("127.0.0.156", e.upload);
    ck_assert_int_eq(bd_wait_closed(&up[CAP], 1, 30000), 1);
    ck_assert_int_eq(bd_wait_closed(up, CAP, 0), 0);
    ck_assert(bd_upload_healthy("127.0.0.157", e.upload));
    /* Slots come back when connections close. */
    for (int i = 0; i < CAP; i++)
        close(up[i]);
    close(up[CAP]);
    usleep(300 * 1000);
    ck_assert(bd_upload_healthy("127.0.0.156", e.upload));
    /* The same on the RPC port. */
    for (int i = 0; i < CAP; i++)
        rpc[i] = bd_tcp("127.0.0.158", e.rpc);
    usleep(200 * 1000);
    rpc[CAP] = bd_tcp("127.0.0.158", e.rpc);
    ck_assert_int_eq(bd_wait_closed(&rpc[CAP], 1, 30000), 1);
    ck_assert_int_eq(bd_wait_closed(rpc, CAP, 0), 0);
    ck_assert(bd_health_ok("127.0.0.159", e.rpc));
    for (int i = 0; i <= CAP; i++)
        close(rpc[i]);
    bd_stop(&e);
}

END_TEST

/* ---- H6: accept at the fd limit ---- */

START_TEST(it_listener_emfile)
{
    enum { N = 200 };
    struct bd_env e;
    long hz = sysconf(_SC_CLK_TCK), t0, t1;
    int fds[N], lines, paused;
    pid_t pid;

    bd_start(&e, "scheduler", "/usr/bin/prlimit", "--rpc-preface-timeout", "60s", NULL);
    pid = bd_pid(&e);
    for (int i = 0; i < N; i++)
        fds[i] = bd_tcp("127.0.0.160", e.rpc);
    usleep(500 * 1000);
    t0 = bd_cpu_ticks(pid);
    sleep(5);
    t1 = bd_cpu_ticks(pid);
    lines = bd_count_lines(e.proc.log_path, "pausing accepts", &paused);
    fprintf(stderr, "it_listener_emfile: %.2f s CPU in 5 s at the fd limit, %d log lines\n",
            (double)(t1 - t0) / (double)hz, lines);
    ck_assert_msg(paused >= 1, "the scheduler never ran out of descriptors");
    ck_assert_int_ge(t0, 0);
    /* A busy loop burns the 5 s; a paused listener next to nothing. */
    ck_assert_msg((t1 - t0) < hz * 3 / 2, "%.2f s of CPU in 5 s", (double)(t1 - t0) / (double)hz);
    ck_assert_int_lt(lines, 100);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    usleep(500 * 1000);
    ck_assert(bd_health_ok("127.0.0.161", e.rpc));
    bd_stop(&e);
}

END_TEST

/* ---- M3: host table quota per source and eviction of silent hosts ---- */

/* Announce n new hosts named <prefix><i> from src; returns how many were accepted. */
static int
bd_announce(const char *src, const char *addr, const char *prefix, int n)
{
    struct bd_h2 *h = bd_h2_open(src, addr);
    int ok;

    for (int i = 0; i < n; i++)
        bd_h2_callf(h, "/scheduler.v2.Scheduler/AnnounceHost",
                    "{\"host\":{\"id\":\"%s%d\",\"ip\":\"10.9.%d.%d\",\"hostname\":\"h%d\","
                    "\"port\":65000,\"downloadPort\":65002,\"type\":\"super\"}}",
                    prefix, i, i / 250, i % 250 + 1, i);
    bd_h2_pump(h, 10000, bd_all_answered);
    ck_assert(bd_all_answered(h));
    ok = bd_count_status(h, 200);
    ck_assert_int_eq(ok + bd_count_status(h, 429), n);
    bd_h2_close(h);
    return ok;
}

START_TEST(it_sec_host_quota)
{
    struct bd_env e;

    bd_start(&e, "scheduler", NULL, "--max-hosts-per-source", "16", "--max-hosts", "40",
             "--host-announce-interval", "1s", NULL);
    /* One source floods: it gets its quota and no more... */
    ck_assert_int_eq(bd_announce("127.0.0.162", e.rpc, "flood-a-", 30), 16);
    /* ...and a host from elsewhere still gets in. */
    ck_assert_int_eq(bd_announce("127.0.0.163", e.rpc, "legit-", 1), 1);
    /* Fill the table from two more sources: 16 + 7 fit in the 40, the rest are refused while
     * every host is fresh. */
    ck_assert_int_eq(bd_announce("127.0.0.164", e.rpc, "flood-c-", 16), 16);
    ck_assert_int_eq(bd_announce("127.0.0.165", e.rpc, "flood-d-", 16), 7);
    /* Once the flood's hosts miss an announce, new hosts take their places; the legit host,
     * which announces on time, keeps its own. */
    usleep(1500 * 1000);
    ck_assert_int_eq(bd_announce("127.0.0.163", e.rpc, "legit-", 1), 1);
    ck_assert_int_eq(bd_announce("127.0.0.166", e.rpc, "new-", 10), 10);
    ck_assert_int_eq(bd_announce("127.0.0.163", e.rpc, "legit-", 1), 1);
    bd_stop(&e);
}

END_TEST

Suite *it_bound_suite(void);

Suite *
it_bound_suite(void)
{
    Suite *s = suite_create("it_bound");
    TCase *tc = tcase_create("bound");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, it_rpc_mem_budget);
    tcase_add_test(tc, it_rpc_preface_deadline);
    tcase_add_test(tc, it_upload_per_ip_cap);
    tcase_add_test(tc, it_listener_emfile);
    tcase_add_test(tc, it_sec_host_quota);
    suite_add_tcase(s, tc);
    return s;
}
