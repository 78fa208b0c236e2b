/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the RPC server with what a client sends on the wire: the input after its first byte
 * is an HTTP/2 client byte stream (preface, SETTINGS, HEADERS, DATA with Connect envelopes,
 * RST_STREAM, ...) fed to the real rpc_server over fz_h2's in-memory pair. The first byte is
 * flags: bit 0 fires every pending timer once at the end (deadlines, idle timeout), bit 1 sets
 * a small output budget per stream (so senders see DF_EAGAIN and on_writable), bit 2 feeds
 * the stream in two halves with the loop run in between. Four methods are registered: a unary
 * echo, a unary one answered from a later loop iteration, a server stream and a bidi chat;
 * requests steer them ("code": finish with that status, "n": messages to send, "hold": wait
 * for the client or the deadline). Handlers check that the server keeps its contract: a call
 * is cancelled at most once, never after it was finished, and all are gone at teardown.
 * Seeds: test/tools/rpc_capture records real rpc_client conversations in this format.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "df/df_json.h"
#include "df/log.h"
#include "df/rpc_server.h"
#include "fz_h2.h"

#define FZ_PATH_ECHO       "/fz.v1.Fuzz/Echo"
#define FZ_PATH_LATER      "/fz.v1.Fuzz/Later"
#define FZ_PATH_COUNT      "/fz.v1.Fuzz/Count"
#define FZ_PATH_CHAT       "/fz.v1.Fuzz/Chat"
#define FZ_MAX_COUNT       40
#define FZ_MAX_DEADLINE_MS 5000

#define FZ_FLAG_EXPIRE     0x01
#define FZ_FLAG_SMALL_OUT  0x02
#define FZ_FLAG_TWO_HALVES 0x04

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A call a handler still owns. */
struct fz_call {
    TAILQ_ENTRY(fz_call) link;
    struct rpc_call *call;
    struct event *ev; /* Later: the answer */
    uint64_t left;    /* Count: messages still to send */
    uint64_t code;    /* status to finish with */
    bool hold;
};

static TAILQ_HEAD(, fz_call) fz_calls = TAILQ_HEAD_INITIALIZER(fz_calls);

static _Noreturn void
fz_fail(const char *what)
{
    fprintf(stderr, "fuzz_rpc_server_h2: %s\n", what);
    abort();
}

static struct fz_call *
fz_call_new(struct rpc_call *call, const cJSON *req)
{
    struct fz_call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        fz_fail("out of memory");
    c->call = call;
    if (req != NULL) {
        if (df_json_get_u64(req, "n", &c->left, NULL) != 0)
            c->left = 0;
        if (c->left > FZ_MAX_COUNT)
            c->left = FZ_MAX_COUNT;
        if (df_json_get_u64(req, "code", &c->code, NULL) != 0 || c->code > RPC_UNAUTHENTICATED)
            c->code = RPC_OK;
        df_json_get_bool(req, "hold", &c->hold, NULL);
    }
    TAILQ_INSERT_TAIL(&fz_calls, c, link);
    return c;
}

static void
fz_call_free(struct fz_call *c)
{
    TAILQ_REMOVE(&fz_calls, c, link);
    if (c->ev != NULL)
        event_free(c->ev);
    free(c);
}

static void
fz_call_finish(struct fz_call *c, enum rpc_code code)
{
    rpc_call_finish(c->call, code, code == RPC_OK ? NULL : "fuzz says so");
    fz_call_free(c);
}

static void
fz_call_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    struct fz_call *c = arg;

    if (c->call != call || why == RPC_OK)
        fz_fail("on_cancel for another call or with OK");
    fz_call_free(c);
}

/* The deadline the server took from connect-timeout-ms is capped. */
static void
fz_check_call(struct rpc_call *call, const char *path)
{
    int64_t left = rpc_call_remaining_ms(call);

    if (strcmp(rpc_call_path(call), path) != 0 || left < -1 || left > FZ_MAX_DEADLINE_MS ||
        rpc_call_base(call) == NULL)
        fz_fail("call metadata");
}

static void
fz_echo(struct rpc_call *call, const cJSON *req, void *arg)
{
    uint64_t code = 0;

    (void)arg;
    fz_check_call(call, FZ_PATH_ECHO);
    if (req == NULL || !cJSON_IsObject(req))
        fz_fail("unary request is not an object");
    if (df_json_get_u64(req, "code", &code, NULL) == 0 && code > 0 && code <= RPC_UNAUTHENTICATED)
        rpc_call_finish(call, (enum rpc_code)code, "fuzz says so");
    else
        rpc_call_reply(call, req);
}

static void
fz_later_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fz_call *c = arg;

    (void)fd;
    (void)what;
    if (c->code != RPC_OK) {
        fz_call_finish(c, (enum rpc_code)c->code);
        return;
    }
    rpc_call_reply_raw(c->call, "{\"later\":true}", 14);
    fz_call_free(c);
}

static void
fz_later(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_cancel = fz_call_cancel_cb};
    struct fz_call *c = fz_call_new(call, req);
    struct timeval tv = {0, 0};

    (void)arg;
    fz_check_call(call, FZ_PATH_LATER);
    rpc_call_set_cbs(call, &cbs, c);
    if (c->hold)
        return;
    c->ev = evtimer_new(rpc_call_base(call), fz_later_cb, c);
    if (c->ev == NULL)
        fz_fail("evtimer_new");
    evtimer_add(c->ev, &tv);
}

/* Count: send what is left until the budget says wait; finish unless held. */
static void
fz_count_more(struct fz_call *c)
{
    cJSON *m;
    int rv = 0;

    while (c->left > 0) {
        if ((m = cJSON_CreateObject()) == NULL)
            fz_fail("out of memory");
        df_json_add_u64(m, "left", c->left);
        cJSON_AddStringToObject(m, "pad", "0123456789abcdef0123456789abcdef0123456789abcdef");
        rv = rpc_call_send(c->call, m);
        cJSON_Delete(m);
        if (rv == DF_EAGAIN)
            return;
        if (rv != 0)
            fz_fail("rpc_call_send on a stream");
        c->left--;
    }
    if (!c->hold)
        fz_call_finish(c, (enum rpc_code)c->code);
}

static void
fz_count_writable_cb(struct rpc_call *call, void *arg)
{
    (void)call;
    fz_count_more(arg);
}

static void
fz_count(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_writable = fz_count_writable_cb,
                                            .on_cancel = fz_call_cancel_cb};
    struct fz_call *c = fz_call_new(call, req);

    (void)arg;
    fz_check_call(call, FZ_PATH_COUNT);
    if (req == NULL)
        fz_fail("server-stream request missing");
    rpc_call_set_cbs(call, &cbs, c);
    fz_count_more(c);
}

static void
fz_chat_message_cb(struct rpc_call *call, const cJSON *msg, void *arg)
{
    struct fz_call *c = arg;
    uint64_t code = 0;
    bool bye = false;

    (void)call;
    if (!cJSON_IsObject(msg))
        fz_fail("bidi message is not an object");
    df_json_get_bool(msg, "bye", &bye, NULL);
    if (df_json_get_u64(msg, "code", &code, NULL) == 0 && code <= RPC_UNAUTHENTICATED &&
        (code > 0 || bye)) {
        fz_call_finish(c, (enum rpc_code)code);
        return;
    }
    /* An echo over the budget is dropped: the chat does not wait. */
    if (rpc_call_send(c->call, msg) == DF_EINVAL)
        fz_fail("rpc_call_send on a bidi call");
}

static void
fz_chat_end_cb(struct rpc_call *call, void *arg)
{
    struct fz_call *c = arg;

    (void)call;
    if (!c->hold)
        fz_call_finish(c, RPC_OK);
}

static void
fz_chat(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_message = fz_chat_message_cb,
                                            .on_end = fz_chat_end_cb,
                                            .on_cancel = fz_call_cancel_cb};
    struct fz_call *c = fz_call_new(call, NULL);

    (void)arg;
    fz_check_call(call, FZ_PATH_CHAT);
    if (req != NULL)
        fz_fail("bidi handler got a request");
    rpc_call_set_cbs(call, &cbs, c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct rpc_method methods[] = {
            {FZ_PATH_ECHO, RPC_KIND_UNARY, fz_echo, NULL},
            {FZ_PATH_LATER, RPC_KIND_UNARY, fz_later, NULL},
            {FZ_PATH_COUNT, RPC_KIND_SERVER_STREAM, fz_count, NULL},
            {FZ_PATH_CHAT, RPC_KIND_BIDI, fz_chat, NULL},
    };
    static bool quiet;
    struct rpc_server_opts opts;
    struct event_base *base;
    struct rpc_server *srv;
    struct fz_h2 f;
    uint8_t flags;
    size_t half;

    if (size == 0)
        return 0;
    if (!quiet) {
        /* Per-input warnings (protocol errors) would drown the fuzzer's own output. */
        log_init("fuzz", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
        quiet = true;
    }
    flags = data[0];
    data++;
    size--;
    memset(&opts, 0, sizeof(opts));
    opts.max_msg_bytes = 2048;
    opts.max_json_depth = 8;
    opts.max_streams = 8;
    opts.reset_burst = 8;
    opts.reset_rate = 1;
    opts.max_stream_out = flags & FZ_FLAG_SMALL_OUT ? 256 : 0;
    opts.idle_timeout_ms = 1000;
    opts.max_deadline_ms = FZ_MAX_DEADLINE_MS;
    if ((base = event_base_new()) == NULL)
        fz_fail("event_base_new");
    srv = rpc_server_new(base, &opts);
    if (rpc_server_register(srv, methods, sizeof(methods) / sizeof(methods[0])) != 0)
        fz_fail("register");
    fz_h2_init(&f, base, srv, false);
    half = flags & FZ_FLAG_TWO_HALVES ? size / 2 : size;
    fz_h2_write(&f, data, half);
    fz_h2_run(&f);
    fz_h2_write(&f, data + half, size - half);
    fz_h2_run(&f);
    if (flags & FZ_FLAG_EXPIRE)
        fz_h2_expire(&f);
    rpc_server_free(srv);
    if (!TAILQ_EMPTY(&fz_calls))
        fz_fail("a handler still owns a call after rpc_server_free");
    fz_h2_free(&f);
    event_base_free(base);
    return 0;
}
