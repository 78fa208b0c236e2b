/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rpc_testd: a real RPC daemon built from our library, for integration tests and benchmarks.
 * It serves test.v1.Echo (Unary, Slow, ServerStream, Bidi) plus the built-in health check,
 * writes {"rpc":"ip:port"} to --ready-file atomically once listening, and exits cleanly on
 * SIGTERM/SIGINT after draining its connections.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "df/df_json.h"
#include "df/log.h"
#include "df/net_tls.h"
#include "df/rpc_server.h"
#include "df/xmalloc.h"

#define TESTD_MAX_COUNT 1000000

struct testd {
    struct event_base *base;
    struct rpc_server *srv;
    struct event *sig_term, *sig_int, *drain_ev;
    int drain_ticks;
};

/* ---- test.v1.Echo ---- */

static void
echo_unary(struct rpc_call *call, const cJSON *req, void *arg)
{
    (void)arg;
    rpc_call_reply(call, req);
}

struct slow {
    struct rpc_call *call;
    struct event *ev;
    cJSON *resp;
};

static void
slow_free(struct slow *s)
{
    event_free(s->ev);
    cJSON_Delete(s->resp);
    free(s);
}

static void
slow_fire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct slow *s = arg;

    (void)fd;
    (void)what;
    rpc_call_reply(s->call, s->resp);
    slow_free(s);
}

static void
slow_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    (void)call;
    (void)why;
    slow_free(arg);
}

static void
echo_slow(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_cancel = slow_cancel_cb};
    struct df_error err;
    struct slow *s;
    struct timeval tv;
    int64_t ms = 0;

    (void)arg;
    if (df_json_get_i64(req, "delayMs", &ms, &err) == DF_EINVAL || ms < 0 || ms > 600000) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, "delayMs: expected 0..600000");
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->call = call;
    s->resp = cJSON_Duplicate(req, true);
    s->ev = evtimer_new(rpc_call_base(call), slow_fire_cb, s);
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(s->ev, &tv);
    rpc_call_set_cbs(call, &cbs, s);
}

struct sstream {
    int64_t next, count;
    char *message;
};

static void sstream_pump(struct rpc_call *call, void *arg);

static void
sstream_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    struct sstream *st = arg;

    (void)call;
    (void)why;
    free(st->message);
    free(st);
}

/* Send until the call's output is full; on_writable resumes. */
static void
sstream_pump(struct rpc_call *call, void *arg)
{
    struct sstream *st = arg;
    cJSON *m = cJSON_CreateObject();
    cJSON *idx = cJSON_AddNumberToObject(m, "index", 0);
    int rv = 0;

    if (st->message != NULL)
        cJSON_AddStringToObject(m, "message", st->message);
    while (st->next < st->count) {
        cJSON_SetNumberValue(idx, (double)st->next);
        if ((rv = rpc_call_send(call, m)) != 0)
            break;
        st->next++;
    }
    cJSON_Delete(m);
    if (rv == DF_EAGAIN)
        return;
    if (rv != 0)
        rpc_call_finish(call, rpc_err_from_df(rv), "send failed");
    else
        rpc_call_finish(call, RPC_OK, NULL);
    free(st->message);
    free(st);
}

static void
echo_server_stream(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_writable = sstream_pump, .on_cancel = sstream_cancel_cb};
    struct df_error err;
    struct sstream *st;
    const char *msg = NULL;
    int64_t count = 0;

    (void)arg;
    if (df_json_get_i64(req, "count", &count, &err) != 0 || count < 0 || count > TESTD_MAX_COUNT) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, "count: expected 0..1000000");
        return;
    }
    df_json_get_str(req, "message", &msg, NULL);
    st = xcalloc(1, sizeof(*st));
    st->count = count;
    st->message = msg != NULL ? xstrdup(msg) : NULL;
    rpc_call_set_cbs(call, &cbs, st);
    sstream_pump(call, st);
}

static void
bidi_message_cb(struct rpc_call *call, const cJSON *msg, void *arg)
{
    (void)arg;
    if (rpc_call_send(call, msg) != 0)
        rpc_call_finish(call, RPC_RESOURCE_EXHAUSTED, "client is not reading");
}

static void
bidi_end_cb(struct rpc_call *call, void *arg)
{
    (void)arg;
    rpc_call_finish(call, RPC_OK, NULL);
}

static void
echo_bidi(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct rpc_call_cbs cbs = {.on_message = bidi_message_cb, .on_end = bidi_end_cb};

    (void)req;
    (void)arg;
    rpc_call_set_cbs(call, &cbs, NULL);
}

static const struct rpc_method testd_methods[] = {
        {"/test.v1.Echo/Unary", RPC_KIND_UNARY, echo_unary, NULL},
        {"/test.v1.Echo/Slow", RPC_KIND_UNARY, echo_slow, NULL},
        {"/test.v1.Echo/ServerStream", RPC_KIND_SERVER_STREAM, echo_server_stream, NULL},
        {"/test.v1.Echo/Bidi", RPC_KIND_BIDI, echo_bidi, NULL},
};

/* ---- process ---- */

static void
testd_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct testd *t = arg;
    struct timeval tv = {0, 20000};

    (void)fd;
    (void)what;
    /* Up to 3 s for in-flight calls, then leave anyway. */
    if (rpc_server_conn_count(t->srv) == 0 || ++t->drain_ticks > 150) {
        event_base_loopexit(t->base, NULL);
        return;
    }
    evtimer_add(t->drain_ev, &tv);
}

static void
testd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct testd *t = arg;

    (void)what;
    log_info("rpc_testd: signal %d, shutting down", (int)sig);
    rpc_server_shutdown(t->srv);
    if (!evtimer_pending(t->drain_ev, NULL))
        testd_drain_cb(-1, 0, t);
}

static int
testd_write_ready(const char *path, const char *addr)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL)
        return -1;
    fprintf(f, "{\"rpc\":\"%s\"}\n", addr);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return rename(tmp, path);
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: rpc_testd [--listen ADDR] [--ready-file PATH] [--tls-cert F --tls-key F]\n"
            "                 [--tls-ca F [--tls-verify-client [--tls-client-roles R,R]]]\n"
            "                 [--max-msg BYTES] [--max-depth N] [--max-streams N]\n"
            "                 [--reset-burst N] [--reset-rate N] [--idle-timeout-ms N]\n"
            "                 [--debug MODULES]\n");
    exit(2);
}

/* "peer,seed" -> a NET_TLS_ROLE_BIT set. */
static unsigned
roles_arg(const char *s)
{
    char name[32];
    enum net_tls_role r;
    unsigned roles = 0;
    size_t len;

    for (;;) {
        len = strcspn(s, ",");
        if (len == 0 || len >= sizeof(name))
            usage();
        memcpy(name, s, len);
        name[len] = '\0';
        if (net_tls_role_parse(name, &r) != 0)
            usage();
        roles |= NET_TLS_ROLE_BIT(r);
        if (s[len] == '\0')
            return roles;
        s += len + 1;
    }
}

static long
num_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*end != '\0' || v < 0)
        usage();
    return v;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
            {"listen", required_argument, NULL, 'l'},
            {"ready-file", required_argument, NULL, 'r'},
            {"tls-cert", required_argument, NULL, 'c'},
            {"tls-key", required_argument, NULL, 'k'},
            {"tls-ca", required_argument, NULL, 'a'},
            {"tls-verify-client", no_argument, NULL, 'v'},
            {"tls-client-roles", required_argument, NULL, 'o'},
            {"max-msg", required_argument, NULL, 'm'},
            {"max-depth", required_argument, NULL, 'd'},
            {"max-streams", required_argument, NULL, 's'},
            {"reset-burst", required_argument, NULL, 'b'},
            {"reset-rate", required_argument, NULL, 'R'},
            {"idle-timeout-ms", required_argument, NULL, 'i'},
            {"debug", required_argument, NULL, 'D'},
            {NULL, 0, NULL, 0},
    };
    const char *listen = "127.0.0.1:0", *ready = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    bool verify_client = false;
    unsigned client_roles = 0;
    const char *const alpn[] = {"h2", NULL};
    struct rpc_server_opts opts = {0};
    struct net_tls_ctx *tls = NULL;
    struct df_error err;
    struct testd t = {0};
    int c;

    log_init("rpc_testd", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'r':
            ready = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'a':
            ca = optarg;
            break;
        case 'v':
            verify_client = true;
            break;
        case 'o':
            client_roles = roles_arg(optarg);
            break;
        case 'm':
            opts.max_msg_bytes = (size_t)num_arg(optarg);
            break;
        case 'd':
            opts.max_json_depth = (int)num_arg(optarg);
            break;
        case 's':
            opts.max_streams = (uint32_t)num_arg(optarg);
            break;
        case 'b':
            opts.reset_burst = (uint32_t)num_arg(optarg);
            break;
        case 'R':
            opts.reset_rate = (uint32_t)num_arg(optarg);
            break;
        case 'i':
            opts.idle_timeout_ms = (int)num_arg(optarg);
            break;
        case 'D':
            log_init("rpc_testd", LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
            log_debug_modules(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || (cert == NULL) != (key == NULL) || (ca != NULL && cert == NULL))
        usage();
    signal(SIGPIPE, SIG_IGN);
    if ((t.base = event_base_new()) == NULL)
        fatalx("rpc_testd: event_base_new failed");
    if (cert != NULL) {
        struct net_tls_opts to = {.cert_file = cert,
                                  .key_file = key,
                                  .ca_file = ca,
                                  .alpn = alpn,
                                  .verify_client = verify_client,
                                  .peer_roles = client_roles};
        if (net_tls_ctx_new(true, &to, &tls, &err) != 0)
            fatalx("rpc_testd: %s", err.msg);
    }
    t.srv = rpc_server_new(t.base, &opts);
    if (rpc_server_register(t.srv, testd_methods, DF_NELEM(testd_methods)) != 0)
        fatalx("rpc_testd: register failed");
    if (rpc_server_listen(t.srv, listen, tls, &err) != 0)
        fatalx("rpc_testd: %s", err.msg);
    t.sig_term = evsignal_new(t.base, SIGTERM, testd_signal_cb, &t);
    t.sig_int = evsignal_new(t.base, SIGINT, testd_signal_cb, &t);
    t.drain_ev = evtimer_new(t.base, testd_drain_cb, &t);
    evsignal_add(t.sig_term, NULL);
    evsignal_add(t.sig_int, NULL);
    if (ready != NULL && testd_write_ready(ready, rpc_server_addr(t.srv, 0)) != 0)
        fatal("rpc_testd: write %s", ready);
    event_base_dispatch(t.base);
    rpc_server_free(t.srv);
    event_free(t.sig_term);
    event_free(t.sig_int);
    event_free(t.drain_ev);
    if (tls != NULL)
        net_tls_ctx_free(tls);
    event_base_free(t.base);
    log_info("rpc_testd: exiting");
    return 0;
}
