/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC layer end to end: rpc_testd (a real daemon built from our library) on 127.0.0.x,
 * driven by our rpc_client, by curl as an outside HTTP/2 client, and by a raw nghttp2 client
 * that abuses stream resets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "df/df_json.h"
#include "df/rpc_client.h"
#include "harness/harness.h"

#define IT_RPC_HOST "127.0.0.7"

struct it_rpc {
    char *dir;
    char ready[600];
    struct it_proc proc;
    char addr[128];
    struct event_base *base;
    struct rpc_client *client;
};

static struct it_rpc T;

/* Start rpc_testd on listen with extra flags (NULL-terminated); fills T.addr. */
static void
testd_start(const char *listen, const char *const *extra)
{
    char tool[600], listen_buf[700], words[16][64];
    char *argv[32];
    int n = 0;

    unlink(T.ready);
    snprintf(listen_buf, sizeof(listen_buf), "%s", listen);
    it_tool("rpc_testd", tool, sizeof(tool));
    snprintf(words[0], sizeof(words[0]), "--listen");
    snprintf(words[1], sizeof(words[1]), "--ready-file");
    argv[n++] = tool;
    argv[n++] = words[0];
    argv[n++] = listen_buf;
    argv[n++] = words[1];
    argv[n++] = T.ready;
    for (int i = 0; extra != NULL && extra[i] != NULL && i < 14; i++) {
        snprintf(words[i + 2], sizeof(words[i + 2]), "%s", extra[i]);
        argv[n++] = words[i + 2];
    }
    argv[n] = NULL;
    ck_assert_int_eq(it_proc_start(&T.proc, T.dir, "rpc_testd", argv, T.ready, IT_READY_MS), 0);
    snprintf(T.addr, sizeof(T.addr), "%s", it_proc_ready_str(&T.proc, "rpc"));
}

static struct rpc_client *
client_new(const char *addr)
{
    struct rpc_client_opts o = {.addr = addr, .backoff_min_ms = 50, .backoff_max_ms = 200};
    struct rpc_client *c = NULL;
    struct df_error err;

    ck_assert_int_eq(rpc_client_new(T.base, NULL, &o, &c, &err), 0);
    return c;
}

static void
setup_common(const char *const *extra)
{
    memset(&T, 0, sizeof(T));
    signal(SIGPIPE, SIG_IGN);
    T.dir = it_tmpdir();
    ck_assert_ptr_nonnull(T.dir);
    snprintf(T.ready, sizeof(T.ready), "%s/ready.json", T.dir);
    testd_start(IT_RPC_HOST ":0", extra);
    T.base = event_base_new();
    T.client = client_new(T.addr);
}

static void
setup(void)
{
    static const char *const extra[] = {"--max-msg", "65536", "--max-depth", "16", NULL};

    setup_common(extra);
}

static void
setup_abuse(void)
{
    static const char *const extra[] = {"--reset-burst", "50", "--reset-rate", "10", NULL};

    setup_common(extra);
}

static void
setup_streams(void)
{
    static const char *const extra[] = {"--max-streams", "8", NULL};

    setup_common(extra);
}

static void
teardown(void)
{
    int status;

    rpc_client_free(T.client);
    if (T.base != NULL)
        event_base_free(T.base);
    if (T.proc.pid > 0) {
        status = it_proc_stop(&T.proc);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            it_proc_dump_log(&T.proc);
            /* A sanitizer report in the daemon ends up here too. */
            ck_abort_msg("rpc_testd exited with status %d", status);
        }
    }
    it_rmtree(T.dir);
    free(T.dir);
}

static void
loop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Run the loop until *done or ms pass; returns *done. */
static bool
run_until(const bool *done, int ms)
{
    bool expired = false;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *ev = evtimer_new(T.base, loop_timeout_cb, &expired);

    evtimer_add(ev, &tv);
    while (!*done && !expired)
        event_base_loop(T.base, EVLOOP_ONCE);
    event_free(ev);
    return *done;
}

static void
run_for(int ms)
{
    bool never = false;

    run_until(&never, ms);
}

/* ---- unary helpers ---- */

struct result {
    bool done;
    enum rpc_code code;
    char message[512];
    char *resp; /* printed response */
    int *counter;
};

static void
result_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct result *r = arg;

    r->done = true;
    r->code = st->code;
    snprintf(r->message, sizeof(r->message), "%s", st->message);
    if (resp != NULL)
        r->resp = cJSON_PrintUnformatted(resp);
    if (r->counter != NULL)
        (*r->counter)++;
}

static void
result_reset(struct result *r)
{
    free(r->resp);
    memset(r, 0, sizeof(*r));
}

/* Call path with the JSON text req and wait for the result. */
static void
call_raw(struct rpc_client *c, const char *path, const char *req, int deadline_ms, struct result *r)
{
    result_reset(r);
    ck_assert_int_eq(
            rpc_client_unary_raw(c, path, req, strlen(req), deadline_ms, result_cb, r, NULL), 0);
    ck_assert_msg(run_until(&r->done, 60000), "call %s did not complete", path);
}

static void
assert_echo_works(struct rpc_client *c)
{
    struct result r = {0};

    call_raw(c, "/test.v1.Echo/Unary", "{\"message\":\"still here\"}", 30000, &r);
    ck_assert_msg(r.code == RPC_OK, "echo failed: %s %s", rpc_err_name(r.code), r.message);
    ck_assert_str_eq(r.resp, "{\"message\":\"still here\"}");
    result_reset(&r);
}

START_TEST(test_unary)
{
    struct result r = {0};
    cJSON *req = cJSON_CreateObject();

    cJSON_AddStringToObject(req, "message", "hi \"there\" \xc3\xa9");
    ck_assert_int_eq(rpc_client_unary(T.client, "/test.v1.Echo/Unary", req, 0, result_cb, &r, NULL),
                     0);
    cJSON_Delete(req);
    ck_assert(run_until(&r.done, 30000));
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_str_eq(r.resp, "{\"message\":\"hi \\\"there\\\" \xc3\xa9\"}");
    call_raw(T.client, "/grpc.health.v1.Health/Check", "{}", 0, &r);
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_str_eq(r.resp, "{\"status\":\"SERVING\"}");
    result_reset(&r);
    ck_assert_int_eq(rpc_client_connects(T.client), 1);
}

END_TEST

START_TEST(test_unix_socket)
{
    struct rpc_client *c;
    char listen[700], addr[700];
    struct it_proc other = T.proc;

    /* A second daemon on a unix socket beside the TCP one. */
    snprintf(listen, sizeof(listen), "unix:%s/rpc.sock", T.dir);
    testd_start(listen, NULL);
    snprintf(addr, sizeof(addr), "%s", T.addr);
    ck_assert_str_eq(addr, listen);
    c = client_new(addr);
    assert_echo_works(c);
    rpc_client_free(c);
    ck_assert_int_eq(it_proc_stop(&T.proc), 0);
    T.proc = other;
}

END_TEST

/* ---- streams ---- */

struct stream_result {
    bool done;
    enum rpc_code code;
    char message[512];
    int messages;
    int64_t next_index;
    bool order_ok;
    int to_send; /* bidi: messages still to send */
    int received;
};

static void
ss_message_cb(struct rpc_client_call *s, const cJSON *msg, void *arg)
{
    struct stream_result *r = arg;
    int64_t idx = -1;

    (void)s;
    df_json_get_i64(msg, "index", &idx, NULL);
    if (idx != r->next_index)
        r->order_ok = false;
    r->next_index++;
    r->messages++;
}

static void
stream_close_cb(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    struct stream_result *r = arg;

    (void)s;
    r->done = true;
    r->code = st->code;
    snprintf(r->message, sizeof(r->message), "%s", st->message);
}

static void
server_stream(int count, const char *message, struct stream_result *r)
{
    struct rpc_client_stream_cbs cbs = {.on_message = ss_message_cb, .on_close = stream_close_cb};
    struct rpc_client_call *s = NULL;
    cJSON *req = cJSON_CreateObject();

    memset(r, 0, sizeof(*r));
    r->order_ok = true;
    cJSON_AddNumberToObject(req, "count", count);
    if (message != NULL)
        cJSON_AddStringToObject(req, "message", message);
    ck_assert_int_eq(rpc_client_stream(T.client, "/test.v1.Echo/ServerStream", 20000, &cbs, r, &s),
                     0);
    ck_assert_int_eq(rpc_client_send(s, req), 0);
    rpc_client_close_send(s);
    cJSON_Delete(req);
    ck_assert(run_until(&r->done, 20000));
}

START_TEST(test_server_stream)
{
    struct stream_result r;
    char big[2049];

    server_stream(100, NULL, &r);
    ck_assert_msg(r.code == RPC_OK, "%s: %s", rpc_err_name(r.code), r.message);
    ck_assert_int_eq(r.messages, 100);
    ck_assert(r.order_ok);
    server_stream(0, NULL, &r);
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_int_eq(r.messages, 0);
    /* 40 MB: far past the per-call output cap, so the server must pace itself. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    server_stream(20000, big, &r);
    ck_assert_msg(r.code == RPC_OK, "%s: %s", rpc_err_name(r.code), r.message);
    ck_assert_int_eq(r.messages, 20000);
    ck_assert(r.order_ok);
    /* a request error ends the stream with an error message */
    server_stream(-1, NULL, &r);
    ck_assert_int_eq(r.code, RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(r.message, "count"));
    assert_echo_works(T.client);
}

END_TEST

static void
bidi_send_next(struct rpc_client_call *s, struct stream_result *r)
{
    cJSON *m;

    if (r->to_send == 0) {
        rpc_client_close_send(s);
        return;
    }
    m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "index", (double)r->received);
    ck_assert_int_eq(rpc_client_send(s, m), 0);
    cJSON_Delete(m);
    r->to_send--;
}

static void
bidi_message_cb(struct rpc_client_call *s, const cJSON *msg, void *arg)
{
    struct stream_result *r = arg;
    int64_t idx = -1;

    df_json_get_i64(msg, "index", &idx, NULL);
    if (idx != r->received)
        r->order_ok = false;
    r->received++;
    /* Ping-pong: the next message goes out only after the echo of the last one. */
    bidi_send_next(s, r);
}

START_TEST(test_bidi)
{
    struct rpc_client_stream_cbs cbs = {.on_message = bidi_message_cb, .on_close = stream_close_cb};
    struct rpc_client_call *s = NULL;
    struct stream_result r = {.order_ok = true, .to_send = 50};

    ck_assert_int_eq(rpc_client_stream(T.client, "/test.v1.Echo/Bidi", 30000, &cbs, &r, &s), 0);
    bidi_send_next(s, &r);
    ck_assert(run_until(&r.done, 30000));
    ck_assert_msg(r.code == RPC_OK, "%s: %s", rpc_err_name(r.code), r.message);
    ck_assert_int_eq(r.received, 50);
    ck_assert(r.order_ok);
    /* a bidi stream with no request at all */
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(rpc_client_stream(T.client, "/test.v1.Echo/Bidi", 30000, &cbs, &r, &s), 0);
    rpc_client_close_send(s);
    ck_assert(run_until(&r.done, 30000));
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_int_eq(r.received, 0);
}

END_TEST

/* ---- concurrency ---- */

static void
count_ok_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    int *counts = arg;

    (void)resp;
    counts[st->code == RPC_OK ? 0 : 1]++;
}

static void
concurrent(struct rpc_client **clients, int nclients, int per_client)
{
    int counts[2] = {0, 0};
    bool done = false;
    char req[64];

    for (int i = 0; i < nclients * per_client; i++) {
        snprintf(req, sizeof(req), "{\"message\":\"%d\"}", i);
        ck_assert_int_eq(rpc_client_unary_raw(clients[i % nclients], "/test.v1.Echo/Unary", req,
                                              strlen(req), 20000, count_ok_cb, counts, NULL),
                         0);
    }
    for (int i = 0; i < nclients; i++)
        ck_assert_uint_eq(rpc_client_pending(clients[i]), (size_t)per_client);
    while (counts[0] + counts[1] < nclients * per_client) {
        ck_assert(!run_until(&done, 50) || true);
        if (counts[0] + counts[1] >= nclients * per_client)
            break;
        ck_assert_msg(event_base_get_num_events(T.base, EVENT_BASE_COUNT_ADDED) > 0,
                      "loop idle with calls pending");
    }
    ck_assert_int_eq(counts[1], 0);
    ck_assert_int_eq(counts[0], nclients * per_client);
}

START_TEST(test_concurrent_one_connection)
{
    concurrent(&T.client, 1, 1000);
    /* all of them on one connection */
    ck_assert_int_eq(rpc_client_connects(T.client), 1);
    concurrent(&T.client, 1, 1000);
    ck_assert_int_eq(rpc_client_connects(T.client), 1);
}

END_TEST

START_TEST(test_concurrent_connections)
{
    struct rpc_client *cs[4];

    for (int i = 0; i < 4; i++)
        cs[i] = client_new(T.addr);
    concurrent(cs, 4, 1000);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rpc_client_connects(cs[i]), 1);
        rpc_client_free(cs[i]);
    }
}

END_TEST

START_TEST(test_queue_bound)
{
    struct rpc_client_opts o = {.addr = T.addr, .max_calls = 10};
    struct rpc_client *c = NULL;
    int counts[2] = {0, 0};

    ck_assert_int_eq(rpc_client_new(T.base, NULL, &o, &c, NULL), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(rpc_client_unary_raw(c, "/test.v1.Echo/Unary", "{}", 2, 0, count_ok_cb,
                                              counts, NULL),
                         0);
    ck_assert_int_eq(
            rpc_client_unary_raw(c, "/test.v1.Echo/Unary", "{}", 2, 0, count_ok_cb, counts, NULL),
            DF_ELIMIT);
    while (counts[0] + counts[1] < 10)
        run_for(20);
    ck_assert_int_eq(counts[0], 10);
    /* freeing with calls pending cancels them, each callback once */
    for (int i = 0; i < 5; i++)
        rpc_client_unary_raw(c, "/test.v1.Echo/Slow", "{\"delayMs\":5000}", 16, 0, count_ok_cb,
                             counts, NULL);
    run_for(50);
    rpc_client_free(c);
    ck_assert_int_eq(counts[1], 5);
}

END_TEST

/* ---- deadlines and cancellation ---- */

START_TEST(test_deadline)
{
    struct result r = {0};
    struct timespec t0, t1;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    call_raw(T.client, "/test.v1.Echo/Slow", "{\"delayMs\":3000}", 200, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_eq(r.code, RPC_DEADLINE_EXCEEDED);
    /* a timer never fires early; late on a loaded machine, but before the 3 s answer (the
     * code above already says the deadline, not the answer, ended the call) */
    ck_assert_msg(ms >= 150 && ms < 3000, "deadline took %ld ms", ms);
    /* the server survives and the connection is still good */
    assert_echo_works(T.client);
    call_raw(T.client, "/test.v1.Echo/Slow", "{\"delayMs\":20,\"message\":\"ok\"}", 30000, &r);
    ck_assert_int_eq(r.code, RPC_OK);
    ck_assert_str_eq(r.resp, "{\"delayMs\":20,\"message\":\"ok\"}");
    result_reset(&r);
    ck_assert_int_eq(rpc_client_connects(T.client), 1);
}

END_TEST

START_TEST(test_server_deadline_via_curl)
{
    char cmd[1024], *out = NULL;

    /* The server enforces connect-timeout-ms itself, for clients without their own timer. */
    snprintf(cmd, sizeof(cmd),
             "curl -s -w ' %%{http_code}' --http2-prior-knowledge -H 'content-type: "
             "application/json' -H 'connect-timeout-ms: 100' -d '{\"delayMs\":3000}' "
             "http://%s/test.v1.Echo/Slow",
             T.addr);
    ck_assert_int_eq(it_sh(cmd, &out, 10), 0);
    ck_assert_str_eq(out, "{\"code\":\"deadline_exceeded\",\"message\":\"deadline exceeded\"} 504");
    free(out);
}

END_TEST

static void
must_not_run_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    (void)st;
    (void)resp;
    (void)arg;
    ck_abort_msg("callback of a cancelled call ran");
}

START_TEST(test_cancel)
{
    struct rpc_client_call *call = NULL;

    ck_assert_int_eq(rpc_client_unary_raw(T.client, "/test.v1.Echo/Slow", "{\"delayMs\":300}", 15,
                                          5000, must_not_run_cb, NULL, &call),
                     0);
    run_for(50);
    rpc_client_cancel(call);
    /* cancelled while still queued, before any connection exists */
    ck_assert_int_eq(rpc_client_unary_raw(T.client, "/test.v1.Echo/Slow", "{}", 2, 5000,
                                          must_not_run_cb, NULL, &call),
                     0);
    rpc_client_cancel(call);
    for (int i = 0; i < 500 && rpc_client_pending(T.client) != 0; i++)
        run_for(20);
    ck_assert_uint_eq(rpc_client_pending(T.client), 0);
    assert_echo_works(T.client);
}

END_TEST

/* ---- limits and errors ---- */

START_TEST(test_errors)
{
    struct result r = {0};
    char *big, *deep;
    size_t n = 0;

    /* oversized (server limit 64 KiB) */
    big = malloc(100000);
    n = (size_t)snprintf(big, 100000, "{\"message\":\"");
    memset(big + n, 'x', 80000);
    snprintf(big + n + 80000, 100, "\"}");
    call_raw(T.client, "/test.v1.Echo/Unary", big, 30000, &r);
    ck_assert_int_eq(r.code, RPC_RESOURCE_EXHAUSTED);
    ck_assert_ptr_nonnull(strstr(r.message, "exceeds the limit of 65536"));
    free(big);
    assert_echo_works(T.client);
    /* malformed JSON */
    call_raw(T.client, "/test.v1.Echo/Unary", "{\"message\":", 30000, &r);
    ck_assert_int_eq(r.code, RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(r.message, "malformed"));
    call_raw(T.client, "/test.v1.Echo/Unary", "[1,2]", 30000, &r);
    ck_assert_int_eq(r.code, RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(r.message, "message must be a JSON object");
    /* deep nesting (server limit 16) */
    deep = malloc(1000);
    n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(deep + n, 1000 - n, "[");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(deep + n, 1000 - n, "]");
    call_raw(T.client, "/test.v1.Echo/Unary", deep, 30000, &r);
    free(deep);
    ck_assert_int_eq(r.code, RPC_RESOURCE_EXHAUSTED);
    ck_assert_ptr_nonnull(strstr(r.message, "nesting deeper than 16"));
    /* unknown method */
    call_raw(T.client, "/test.v1.Echo/Nope", "{}", 30000, &r);
    ck_assert_int_eq(r.code, RPC_UNIMPLEMENTED);
    ck_assert_ptr_nonnull(strstr(r.message, "/test.v1.Echo/Nope"));
    /* a handler's own error */
    call_raw(T.client, "/test.v1.Echo/Slow", "{\"delayMs\":\"soon\"}", 30000, &r);
    ck_assert_int_eq(r.code, RPC_INVALID_ARGUMENT);
    result_reset(&r);
    /* all on the connection we started with */
    assert_echo_works(T.client);
    ck_assert_int_eq(rpc_client_connects(T.client), 1);
}

END_TEST

static char *
curl(const char *args)
{
    char cmd[2048], *out = NULL;

    snprintf(cmd, sizeof(cmd), "curl -s -w ' %%{http_code}' --http2-prior-knowledge %s", args);
    ck_assert_int_eq(it_sh(cmd, &out, 10), 0);
    return out;
}

START_TEST(test_curl)
{
    char args[1024], *out;

    snprintf(args, sizeof(args),
             "-H 'content-type: application/json' -d '{\"message\":\"hi\"}' "
             "http://%s/test.v1.Echo/Unary",
             T.addr);
    out = curl(args);
    ck_assert_str_eq(out, "{\"message\":\"hi\"} 200");
    free(out);
    snprintf(args, sizeof(args),
             "-X POST -H 'content-type: application/json' "
             "http://%s/grpc.health.v1.Health/Check",
             T.addr);
    out = curl(args);
    ck_assert_str_eq(out, "{\"status\":\"SERVING\"} 200");
    free(out);
    /* wrong content-type */
    snprintf(args, sizeof(args),
             "-H 'content-type: text/plain' -d '{}' http://%s/test.v1.Echo/Unary", T.addr);
    out = curl(args);
    ck_assert_ptr_nonnull(strstr(out, "unsupported content-type"));
    ck_assert_ptr_nonnull(strstr(out, " 415"));
    free(out);
    /* unknown method, malformed JSON */
    snprintf(args, sizeof(args),
             "-H 'content-type: application/json' -d '{}' http://%s/test.v1.Nope/Nope", T.addr);
    out = curl(args);
    ck_assert_str_eq(
            out,
            "{\"code\":\"unimplemented\",\"message\":\"no such method: /test.v1.Nope/Nope\"} 501");
    free(out);
    snprintf(args, sizeof(args),
             "-H 'content-type: application/json' -d '{\"a\":' http://%s/test.v1.Echo/Unary",
             T.addr);
    out = curl(args);
    ck_assert_ptr_nonnull(strstr(out, "\"code\":\"invalid_argument\""));
    ck_assert_ptr_nonnull(strstr(out, " 400"));
    free(out);
    /* a streaming method as a unary call */
    snprintf(args, sizeof(args),
             "-H 'content-type: application/json' -d '{}' http://%s/test.v1.Echo/Bidi", T.addr);
    out = curl(args);
    ck_assert_ptr_nonnull(strstr(out, " 415"));
    free(out);
}

END_TEST

/* ---- rapid reset ---- */

struct abuse {
    int fd;
    bool goaway;
    uint32_t goaway_code;
};

static ssize_t
abuse_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct abuse *a = ud;
    ssize_t n;

    (void)s;
    (void)flags;
    n = send(a->fd, data, len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

static int
abuse_frame_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct abuse *a = ud;

    (void)s;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        a->goaway = true;
        a->goaway_code = f->goaway.error_code;
    }
    return 0;
}

/* Open streams and reset each at once, as fast as possible; true if GOAWAY came back. */
static bool
rapid_reset(const char *addr, int streams, uint32_t *code)
{
    struct abuse a = {.fd = -1};
    nghttp2_session_callbacks *cb;
    nghttp2_session *s;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    char host[64];
    const char *colon = strrchr(addr, ':');
    struct timeval tv = {5, 0};
    uint8_t buf[16384];
    ssize_t n;
    nghttp2_nv nva[] = {
            {(uint8_t *)(uintptr_t) ":method", (uint8_t *)(uintptr_t) "POST", 7, 4, 0},
            {(uint8_t *)(uintptr_t) ":scheme", (uint8_t *)(uintptr_t) "http", 7, 4, 0},
            {(uint8_t *)(uintptr_t) ":authority", (uint8_t *)(uintptr_t) "x", 10, 1, 0},
            {(uint8_t *)(uintptr_t) ":path", (uint8_t *)(uintptr_t) "/test.v1.Echo/Slow", 5, 18, 0},
            {(uint8_t *)(uintptr_t) "content-type", (uint8_t *)(uintptr_t) "application/json", 12,
             16, 0},
    };

    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    inet_pton(AF_INET, host, &sin.sin_addr);
    sin.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    a.fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(a.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    setsockopt(a.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, abuse_send_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, abuse_frame_cb);
    nghttp2_session_client_new(&s, cb, &a);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    for (int i = 0; i < streams; i++) {
        int32_t id = nghttp2_submit_request(s, NULL, nva, 5, NULL, NULL);
        if (id < 0 || nghttp2_session_send(s) != 0)
            break; /* the server may already be gone */
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        if (nghttp2_session_send(s) != 0)
            break;
    }
    while (!a.goaway && (n = recv(a.fd, buf, sizeof(buf), 0)) > 0) {
        if (nghttp2_session_mem_recv(s, buf, (size_t)n) < 0)
            break;
    }
    nghttp2_session_del(s);
    close(a.fd);
    *code = a.goaway_code;
    return a.goaway;
}

START_TEST(test_rapid_reset)
{
    struct rpc_client *bystander = client_new(T.addr);
    uint32_t code = 0;

    assert_echo_works(bystander);
    ck_assert(rapid_reset(T.addr, 1000, &code));
    ck_assert_uint_eq(code, NGHTTP2_ENHANCE_YOUR_CALM);
    /* others are unaffected: same connection, new connections */
    assert_echo_works(bystander);
    ck_assert_int_eq(rpc_client_connects(bystander), 1);
    assert_echo_works(T.client);
    rpc_client_free(bystander);
    /* a client within the limit is fine */
    ck_assert(!rapid_reset(T.addr, 20, &code) || code == NGHTTP2_NO_ERROR);
}

END_TEST

/* ---- restarts ---- */

START_TEST(test_reconnect)
{
    struct result r = {0};
    char listen[128];

    assert_echo_works(T.client);
    snprintf(listen, sizeof(listen), "%s", T.addr);
    it_proc_kill(&T.proc);
    /* the client notices, then retries with backoff while the server is down */
    for (int i = 0; i < 500 && rpc_client_is_connected(T.client); i++)
        run_for(20);
    ck_assert(!rpc_client_is_connected(T.client));
    ck_assert_int_eq(rpc_client_unary_raw(T.client, "/test.v1.Echo/Unary", "{\"message\":\"q\"}",
                                          15, 30000, result_cb, &r, NULL),
                     0);
    run_for(300);
    ck_assert(!r.done);
    testd_start(listen, NULL);
    ck_assert_str_eq(T.addr, listen);
    ck_assert(run_until(&r.done, 30000));
    ck_assert_msg(r.code == RPC_OK, "%s: %s", rpc_err_name(r.code), r.message);
    ck_assert_str_eq(r.resp, "{\"message\":\"q\"}");
    result_reset(&r);
    ck_assert_int_eq(rpc_client_connects(T.client), 2);
}

END_TEST

static void
sigterm_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kill(*(pid_t *)arg, SIGTERM);
}

START_TEST(test_graceful_shutdown)
{
    struct result r = {0};
    struct timeval tv = {0, 100000};
    pid_t pid = T.proc.pid;
    struct event *ev = evtimer_new(T.base, sigterm_cb, &pid);
    int status;

    assert_echo_works(T.client);
    /* a call in flight when SIGTERM arrives still completes */
    evtimer_add(ev, &tv);
    call_raw(T.client, "/test.v1.Echo/Slow", "{\"delayMs\":400}", 30000, &r);
    event_free(ev);
    ck_assert_msg(r.code == RPC_OK, "%s: %s", rpc_err_name(r.code), r.message);
    result_reset(&r);
    status = it_proc_stop(&T.proc);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

END_TEST

START_TEST(test_stream_limit)
{
    int counts[2] = {0, 0};
    struct timespec t0, t1;
    long ms;

    /* 200 calls of 20 ms, at most 8 at a time on the connection: >= 25 rounds. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(rpc_client_unary_raw(T.client, "/test.v1.Echo/Slow", "{\"delayMs\":20}",
                                              14, 20000, count_ok_cb, counts, NULL),
                         0);
    while (counts[0] + counts[1] < 200)
        run_for(20);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_msg(counts[0] == 200, "%d ok, %d failed", counts[0], counts[1]);
    ck_assert_msg(ms >= 450, "200 calls took only %ld ms: stream limit not applied", ms);
    ck_assert_int_eq(rpc_client_connects(T.client), 1);
}

END_TEST

Suite *it_rpc_suite(void);

Suite *
it_rpc_suite(void)
{
    Suite *s = suite_create("it_rpc");
    TCase *tc = tcase_create("rpc");
    TCase *abuse = tcase_create("abuse");
    TCase *streams = tcase_create("streams");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unary);
    tcase_add_test(tc, test_unix_socket);
    tcase_add_test(tc, test_server_stream);
    tcase_add_test(tc, test_bidi);
    tcase_add_test(tc, test_concurrent_one_connection);
    tcase_add_test(tc, test_concurrent_connections);
    tcase_add_test(tc, test_queue_bound);
    tcase_add_test(tc, test_deadline);
    tcase_add_test(tc, test_server_deadline_via_curl);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_curl);
    tcase_add_test(tc, test_reconnect);
    tcase_add_test(tc, test_graceful_shutdown);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(abuse, setup_abuse, teardown);
    tcase_set_timeout(abuse, 120);
    tcase_add_test(abuse, test_rapid_reset);
    suite_add_tcase(s, abuse);
    tcase_add_checked_fixture(streams, setup_streams, teardown);
    tcase_set_timeout(streams, 120);
    tcase_add_test(streams, test_stream_limit);
    suite_add_tcase(s, streams);
    return s;
}
