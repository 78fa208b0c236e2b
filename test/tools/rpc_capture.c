/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rpc_capture DIR: record what rpc_client really sends to rpc_server, as seeds for
 * fuzz_rpc_server_h2. Each scenario runs one client connection over a unix socket in DIR to
 * a server with the fuzz target's four methods; a bufferevent filter copies every byte the
 * server reads, and DIR/<scenario> gets the target's flag byte followed by those bytes.
 * Regenerate the corpus with: rpc_capture test/fuzz/corpus/rpc_server_h2
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_json.h"
#include "df/log.h"
#include "df/net_listener.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"

/* Keep in step with test/fuzz/fuzz_rpc_server_h2.c. */
#define CAP_PATH_ECHO  "/fz.v1.Fuzz/Echo"
#define CAP_PATH_LATER "/fz.v1.Fuzz/Later"
#define CAP_PATH_COUNT "/fz.v1.Fuzz/Count"
#define CAP_PATH_CHAT  "/fz.v1.Fuzz/Chat"
#define CAP_HEALTH     "/grpc.health.v1.Health/Check"

/* One call of a scenario: unary when msgs is NULL, else a stream sending msgs. */
struct cap_call {
    const char *path;
    const char *req;         /* unary request */
    const char *const *msgs; /* stream requests, NULL-terminated */
    int deadline_ms;
};

struct cap_scenario {
    const char *name;
    unsigned char flags; /* the fuzz target's first byte */
    struct cap_call calls[3];
};

struct cap {
    struct event_base *base;
    struct rpc_server *srv;
    struct rpc_client *client;
    struct evbuffer *rec;
    int pending;
    bool failed;
};

static const char *const cap_count3[] = {"{\"n\":3}", NULL};
static const char *const cap_count_hold[] = {"{\"n\":2,\"hold\":true}", NULL};
static const char *const cap_count_many[] = {"{\"n\":40}", NULL};
static const char *const cap_chat_msgs[] = {"{\"a\":1}", "{\"b\":[1,2,{\"c\":null}]}", NULL};
static const char *const cap_chat_bye[] = {"{\"x\":\"y\"}", "{\"bye\":true,\"code\":0}", NULL};
static const char *const cap_chat_err[] = {"{\"code\":9}", NULL};

static const struct cap_scenario cap_scenarios[] = {
        {"unary_echo", 0, {{CAP_PATH_ECHO, "{\"hello\":\"world\",\"n\":2}", NULL, 3000}}},
        {"unary_error", 0, {{CAP_PATH_ECHO, "{\"code\":5}", NULL, 0}}},
        {"unary_later", 0, {{CAP_PATH_LATER, "{}", NULL, 1000}}},
        {"unary_later_deadline", 1, {{CAP_PATH_LATER, "{\"hold\":true}", NULL, 200}}},
        {"health", 0, {{CAP_HEALTH, "{}", NULL, 0}}},
        {"stream_count", 0, {{CAP_PATH_COUNT, NULL, cap_count3, 0}}},
        {"stream_count_budget", 2, {{CAP_PATH_COUNT, NULL, cap_count_many, 0}}},
        {"stream_count_deadline", 1, {{CAP_PATH_COUNT, NULL, cap_count_hold, 100}}},
        {"bidi_chat", 0, {{CAP_PATH_CHAT, NULL, cap_chat_msgs, 0}}},
        {"bidi_bye", 4, {{CAP_PATH_CHAT, NULL, cap_chat_bye, 0}}},
        {"bidi_error", 0, {{CAP_PATH_CHAT, NULL, cap_chat_err, 0}}},
        {"mixed",
         0,
         {{CAP_PATH_ECHO, "{\"k\":\"v\"}", NULL, 0},
          {CAP_PATH_COUNT, NULL, cap_count3, 0},
          {CAP_PATH_CHAT, NULL, cap_chat_msgs, 0}}},
};

/* ---- the server: simple versions of the fuzz target's methods ---- */

static void
cap_echo(struct rpc_call *call, const cJSON *req, void *arg)
{
    uint64_t code = 0;

    (void)arg;
    if (df_json_get_u64(req, "code", &code, NULL) == 0 && code > 0 && code <= RPC_UNAUTHENTICATED)
        rpc_call_finish(call, (enum rpc_code)code, "as asked");
    else
        rpc_call_reply(call, req);
}

static void
cap_hold_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    (void)call;
    (void)why;
    (void)arg;
}

static void
cap_later(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_cancel = cap_hold_cancel_cb};
    bool hold = false;

    (void)arg;
    df_json_get_bool(req, "hold", &hold, NULL);
    if (hold)
        rpc_call_set_cbs(call, &cbs, NULL); /* until the deadline */
    else
        rpc_call_reply_raw(call, "{\"later\":true}", 14);
}

static void
cap_count(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_cancel = cap_hold_cancel_cb};
    uint64_t n = 0;
    bool hold = false;

    (void)arg;
    df_json_get_u64(req, "n", &n, NULL);
    df_json_get_bool(req, "hold", &hold, NULL);
    for (uint64_t i = 0; i < n && i < 40; i++) {
        cJSON *m = cJSON_CreateObject();
        df_json_add_u64(m, "left", n - i);
        rpc_call_send(call, m);
        cJSON_Delete(m);
    }
    if (hold)
        rpc_call_set_cbs(call, &cbs, NULL);
    else
        rpc_call_finish(call, RPC_OK, NULL);
}

static void
cap_chat_message_cb(struct rpc_call *call, const cJSON *msg, void *arg)
{
    uint64_t code = 0;
    bool bye = false;

    (void)arg;
    df_json_get_bool(msg, "bye", &bye, NULL);
    if (df_json_get_u64(msg, "code", &code, NULL) == 0 && code <= RPC_UNAUTHENTICATED &&
        (code > 0 || bye)) {
        rpc_call_finish(call, (enum rpc_code)code, code > 0 ? "as asked" : NULL);
        return;
    }
    rpc_call_send(call, msg);
}

static void
cap_chat_end_cb(struct rpc_call *call, void *arg)
{
    (void)arg;
    rpc_call_finish(call, RPC_OK, NULL);
}

static void
cap_chat(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_message = cap_chat_message_cb,
                                            .on_end = cap_chat_end_cb,
                                            .on_cancel = cap_hold_cancel_cb};

    (void)req;
    (void)arg;
    rpc_call_set_cbs(call, &cbs, NULL);
}

/* Every byte the server reads is copied to the recording. */
static enum bufferevent_filter_result
cap_filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
              enum bufferevent_flush_mode mode, void *arg)
{
    struct cap *c = arg;
    size_t n = evbuffer_get_length(src);

    (void)limit;
    (void)mode;
    if (n > 0 && evbuffer_add(c->rec, evbuffer_pullup(src, -1), n) != 0)
        return BEV_ERROR;
    return evbuffer_add_buffer(dst, src) == 0 ? BEV_OK : BEV_ERROR;
}

static void
cap_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct cap *c = arg;
    struct bufferevent *bev, *fbev;

    (void)peer;
    (void)peerlen;
    bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
    fbev = bev != NULL ? bufferevent_filter_new(bev, cap_filter_in, NULL, BEV_OPT_CLOSE_ON_FREE,
                                                NULL, c)
                       : NULL;
    if (fbev == NULL) {
        fprintf(stderr, "rpc_capture: out of memory\n");
        exit(1);
    }
    rpc_server_accept(c->srv, fbev);
}

/* ---- the client ---- */

static void
cap_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cap *c = arg;

    (void)fd;
    (void)what;
    event_base_loopexit(c->base, NULL);
}

static void
cap_done(struct cap *c)
{
    struct timeval tv = {0, 100 * 1000};

    if (--c->pending > 0)
        return;
    /* Let the server read the end of the connection before we stop. */
    event_base_once(c->base, -1, EV_TIMEOUT, cap_stop_cb, c, &tv);
}

static void
cap_unary_cb(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    (void)st;
    (void)resp;
    cap_done(arg);
}

static void
cap_stream_close_cb(struct rpc_client_call *s, const struct rpc_status *st, void *arg)
{
    (void)s;
    (void)st;
    cap_done(arg);
}

static int
cap_start(struct cap *c, const struct cap_call *k)
{
    static const struct rpc_client_stream_cbs cbs = {.on_close = cap_stream_close_cb};
    struct rpc_client_call *s = NULL;
    cJSON *m = NULL;
    int rv;

    if (k->msgs == NULL)
        return rpc_client_unary_raw(c->client, k->path, k->req, strlen(k->req), k->deadline_ms,
                                    cap_unary_cb, c, NULL);
    if ((rv = rpc_client_stream(c->client, k->path, k->deadline_ms, &cbs, c, &s)) != 0)
        return rv;
    for (size_t i = 0; k->msgs[i] != NULL && rv == 0; i++) {
        if (df_json_parse(k->msgs[i], strlen(k->msgs[i]), NULL, &m, NULL) != 0)
            return DF_EINVAL;
        rv = rpc_client_send(s, m);
        cJSON_Delete(m);
    }
    rpc_client_close_send(s);
    return rv;
}

static int
cap_run(const char *dir, const struct cap_scenario *sc)
{
    static const struct rpc_method methods[] = {
            {CAP_PATH_ECHO, RPC_KIND_UNARY, cap_echo, NULL},
            {CAP_PATH_LATER, RPC_KIND_UNARY, cap_later, NULL},
            {CAP_PATH_COUNT, RPC_KIND_SERVER_STREAM, cap_count, NULL},
            {CAP_PATH_CHAT, RPC_KIND_BIDI, cap_chat, NULL},
    };
    struct rpc_client_opts copts;
    struct net_listener *l = NULL;
    struct df_error err = {"setup"};
    struct cap c;
    char sock[512], addr[520], out[512];
    FILE *f = NULL;
    int rv = -1;

    memset(&c, 0, sizeof(c));
    snprintf(sock, sizeof(sock), "%s/.capture.sock", dir);
    snprintf(addr, sizeof(addr), "unix:%s", sock);
    snprintf(out, sizeof(out), "%s/%s", dir, sc->name);
    c.base = event_base_new();
    c.rec = evbuffer_new();
    if (c.base == NULL || c.rec == NULL)
        goto out;
    c.srv = rpc_server_new(c.base, NULL);
    if (rpc_server_register(c.srv, methods, sizeof(methods) / sizeof(methods[0])) != 0 ||
        net_listener_new(c.base, addr, 0, cap_accept_cb, &c, &l, &err) != 0)
        goto out;
    memset(&copts, 0, sizeof(copts));
    copts.addr = addr;
    if (rpc_client_new(c.base, NULL, &copts, &c.client, &err) != 0)
        goto out;
    for (size_t i = 0; i < sizeof(sc->calls) / sizeof(sc->calls[0]); i++) {
        if (sc->calls[i].path == NULL)
            continue;
        if (cap_start(&c, &sc->calls[i]) != 0) {
            snprintf(err.msg, sizeof(err.msg), "cannot start call %zu", i);
            goto out;
        }
        c.pending++;
    }
    event_base_dispatch(c.base);
    rpc_client_free(c.client);
    c.client = NULL;
    if ((f = fopen(out, "wb")) == NULL || fputc(sc->flags, f) == EOF ||
        fwrite(evbuffer_pullup(c.rec, -1), 1, evbuffer_get_length(c.rec), f) !=
                evbuffer_get_length(c.rec))
        goto out;
    printf("%s: %zu bytes\n", out, evbuffer_get_length(c.rec) + 1);
    rv = 0;
out:
    if (f != NULL && fclose(f) != 0)
        rv = -1;
    if (rv != 0)
        fprintf(stderr, "rpc_capture: %s failed: %s\n", sc->name, err.msg);
    rpc_client_free(c.client);
    rpc_server_free(c.srv);
    net_listener_free(l);
    unlink(sock);
    if (c.rec != NULL)
        evbuffer_free(c.rec);
    if (c.base != NULL)
        event_base_free(c.base);
    return rv;
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rpc_capture DIR\n");
        return 2;
    }
    log_init("rpc_capture", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    for (size_t i = 0; i < sizeof(cap_scenarios) / sizeof(cap_scenarios[0]); i++) {
        if (cap_run(argv[1], &cap_scenarios[i]) != 0)
            return 1;
    }
    return 0;
}
