/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connect client over net_h2. The client owns at most one connection that takes new calls
 * (h2) plus one that is draining after a GOAWAY (old_h2). Calls wait in `queue` until a
 * connection is READY, then move to `active` with an nghttp2 stream whose user data is the
 * call. Every call completes exactly once through rpc_client_call_complete(), which unlinks it
 * before running the user's callback, so a callback may start, cancel or free anything. A
 * call being delivered to (busy) is only marked dead by a cancel and freed once delivery ends.
 */
#include "df/rpc_client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/net_addr.h"
#include "df/net_connect.h"
#include "df/net_h2.h"
#include "df/net_tls.h"
#include "df/rpc_codec.h"
#include "df/xmalloc.h"

#define RPC_CLIENT_PATH_MAX 256
#define RPC_CLIENT_RETRIES  3

/*
 * Client states; rpc_client_set_state() is the only writer.
 *
 *   IDLE --first call--> CONNECTING --connected, plain--> READY
 *                          |    \--connected, TLS--> HANDSHAKING --handshake done--> READY
 *                          |                             |
 *                          +--failed, timed out----------+--------> BACKOFF
 *   READY --connection lost, GOAWAY--> BACKOFF --timer--> CONNECTING
 *   any --rpc_client_free()--> CLOSED
 *
 * IDLE/BACKOFF/CONNECTING/HANDSHAKING: calls queue. READY: calls are submitted at once.
 * CLOSED: no new calls; the struct is freed now or, from inside a callback, from free_ev.
 */
enum rpc_client_state {
    RPC_CLIENT_IDLE,
    RPC_CLIENT_CONNECTING,
    RPC_CLIENT_HANDSHAKING,
    RPC_CLIENT_READY,
    RPC_CLIENT_BACKOFF,
    RPC_CLIENT_CLOSED,
};

static const char *const rpc_client_state_names[] = {"idle",  "connecting", "handshaking",
                                                     "ready", "backoff",    "closed"};

struct rpc_client_call {
    TAILQ_ENTRY(rpc_client_call) link;
    struct rpc_client *c;
    bool is_stream;
    bool active;   /* on c->active (else on c->queue) */
    bool finished; /* completed or cancelled: unlinked */
    bool dead;     /* cancelled while busy: free when delivery ends */
    int busy;      /* inside a callback of this call */
    char path[RPC_CLIENT_PATH_MAX];
    struct net_h2 *h2; /* the connection the stream lives on */
    int32_t stream_id;
    bool stream_closed; /* nghttp2 closed the stream */
    bool local_closed;  /* our END_STREAM went out */
    bool remote_closed; /* the server's END_STREAM arrived */
    bool sent_any;      /* stream: request bytes left the buffer (no replay possible) */
    size_t sent;        /* unary: bytes of out sent (kept for a replay) */
    bool data_deferred;
    bool send_closed; /* nothing will be added to out */
    int retries;
    uint64_t deadline_ms; /* monotonic */
    struct event *deadline_ev;
    struct rpc_codec_buf out;
    /* response */
    int http_status;
    bool got_headers;
    bool ct_json, ct_connect;
    struct rpc_codec_buf in;
    struct rpc_codec_reader rd;
    bool got_end;
    struct rpc_status end;
    rpc_client_unary_fn *ucb;
    struct rpc_client_stream_cbs scbs;
    void *arg;
};

TAILQ_HEAD(rpc_client_call_list, rpc_client_call);

struct rpc_client {
    struct event_base *base;
    struct evdns_base *dns;
    struct evdns_base *own_dns; /* made here when the caller passed none */
    struct rpc_client_opts opts;
    struct rpc_codec_limits lim;
    struct net_addr addr;
    char target[300]; /* for net_connect: host or unix:/path */
    char authority[300];
    char tls_name[256];
    char expect_host[256];
    enum rpc_client_state state;
    struct net_connect *nc;
    struct bufferevent *hs_bev; /* TLS bufferevent during the handshake */
    struct event *timer_ev;     /* backoff delay or handshake timeout */
    struct event *free_ev;
    struct net_h2 *h2;
    struct net_h2 *old_h2;
    struct rpc_client_call_list queue;
    struct rpc_client_call_list active;
    size_t ncalls;
    int attempt;
    uint64_t rng;
    uint64_t connects;
    int in_cb;
};

static void rpc_client_connect(struct rpc_client *c);
static void rpc_client_submit(struct rpc_client_call *call);

static void
rpc_client_set_state_at(struct rpc_client *c, enum rpc_client_state to, int line)
{
    static const unsigned allowed[] = {
            [RPC_CLIENT_IDLE] = 1u << RPC_CLIENT_CONNECTING,
            [RPC_CLIENT_CONNECTING] = 1u << RPC_CLIENT_HANDSHAKING | 1u << RPC_CLIENT_READY |
                                      1u << RPC_CLIENT_BACKOFF,
            [RPC_CLIENT_HANDSHAKING] = 1u << RPC_CLIENT_READY | 1u << RPC_CLIENT_BACKOFF,
            [RPC_CLIENT_READY] = 1u << RPC_CLIENT_BACKOFF,
            [RPC_CLIENT_BACKOFF] = 1u << RPC_CLIENT_CONNECTING,
            [RPC_CLIENT_CLOSED] = 0,
    };

    DF_ASSERT(to == RPC_CLIENT_CLOSED || (allowed[c->state] & (1u << to)) != 0);
    log_debug("rpc", "rpc: client %s %s -> %s (line %d)", c->authority,
              rpc_client_state_names[c->state], rpc_client_state_names[to], line);
    c->state = to;
}

#define rpc_client_set_state(c, to) rpc_client_set_state_at(c, to, __LINE__)

/* ---- call lifetime ---- */

static void
rpc_client_call_release(struct rpc_client_call *call)
{
    if (call->busy > 0) {
        call->dead = true; /* freed by the rpc_client_call_unbusy() that ends delivery */
        return;
    }
    if (call->deadline_ev != NULL)
        event_free(call->deadline_ev);
    rpc_codec_buf_reset(&call->out, 0);
    rpc_codec_buf_reset(&call->in, 0);
    rpc_codec_reader_reset(&call->rd);
    free(call);
}

/* End a delivery to call; frees it if it was released meanwhile. */
static void
rpc_client_call_unbusy(struct rpc_client_call *call)
{
    if (--call->busy == 0 && call->dead) {
        call->dead = false;
        rpc_client_call_release(call);
    }
}

/* Take the call off its list and its stream (reset if still open). */
static void
rpc_client_call_unlink(struct rpc_client_call *call, uint32_t rst_code)
{
    struct rpc_client *c = call->c;
    nghttp2_session *s;

    DF_ASSERT(!call->finished);
    call->finished = true;
    if (call->active)
        TAILQ_REMOVE(&c->active, call, link);
    else
        TAILQ_REMOVE(&c->queue, call, link);
    c->ncalls--;
    if (call->deadline_ev != NULL)
        evtimer_del(call->deadline_ev);
    if (call->active && !call->stream_closed && call->h2 != NULL) {
        s = net_h2_session(call->h2);
        nghttp2_session_set_stream_user_data(s, call->stream_id, NULL);
        /* A stream both sides ended closes by itself; a reset costs the server's budget. */
        if (!call->local_closed || !call->remote_closed) {
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, call->stream_id,
                                      call->remote_closed ? NGHTTP2_NO_ERROR : rst_code);
            net_h2_flush(call->h2);
        }
    }
}

/* The one way a call ends: unlink, tell the user, free. */
static void
rpc_client_call_complete(struct rpc_client_call *call, const struct rpc_status *st,
                         const cJSON *resp)
{
    struct rpc_client *c = call->c;

    rpc_client_call_unlink(call, st->code == RPC_OK ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
    log_debug("rpc", "rpc: call %s: %s %s", call->path, rpc_err_name(st->code), st->message);
    c->in_cb++;
    call->busy++;
    if (call->is_stream)
        call->scbs.on_close(call, st, call->arg);
    else
        call->ucb(st, resp, call->arg);
    c->in_cb--;
    call->busy--;
    rpc_client_call_release(call);
}

static void rpc_client_call_fail(struct rpc_client_call *call, enum rpc_code code, const char *fmt,
                                 ...) __attribute__((format(printf, 3, 4)));

static void
rpc_client_call_fail(struct rpc_client_call *call, enum rpc_code code, const char *fmt, ...)
{
    struct rpc_status st;
    va_list ap;

    st.code = code;
    va_start(ap, fmt);
    vsnprintf(st.message, sizeof(st.message), fmt, ap);
    va_end(ap);
    rpc_client_call_complete(call, &st, NULL);
}

static void
rpc_client_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_client_call *call = arg;

    (void)fd;
    (void)what;
    rpc_client_call_fail(call, RPC_DEADLINE_EXCEEDED, "deadline exceeded%s",
                         call->active ? "" : " while waiting for a connection");
}

/* ---- request side ---- */

static ssize_t
rpc_client_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                   uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
    struct rpc_client_call *call = src->ptr;
    size_t n;

    (void)s;
    (void)stream_id;
    (void)ud;
    if (!call->is_stream) {
        /* Unary bodies stay whole so that a refused stream can be replayed. */
        n = rpc_codec_buf_len(&call->out) - call->sent;
        if (n > length)
            n = length;
        memcpy(buf, call->out.ptr + call->out.off + call->sent, n);
        call->sent += n;
        if (call->sent == rpc_codec_buf_len(&call->out)) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            call->local_closed = true;
        }
        return (ssize_t)n;
    }
    n = rpc_codec_buf_take(&call->out, buf, length);
    if (n > 0)
        call->sent_any = true;
    if (n == 0 && !call->send_closed) {
        call->data_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (call->send_closed && rpc_codec_buf_len(&call->out) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        call->local_closed = true;
    }
    return (ssize_t)n;
}

/* Put the call on the current connection. */
static void
rpc_client_submit(struct rpc_client_call *call)
{
    struct rpc_client *c = call->c;
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = rpc_client_read_cb};
    uint64_t now = df_time_mono_ms();
    char timeout[24];
    nghttp2_nv nva[8];
    size_t n = 0;
    int32_t id;

#define RPC_NV(k, v)                                                                         \
    nva[n++] = (nghttp2_nv){(uint8_t *)(uintptr_t)(k), (uint8_t *)(uintptr_t)(v), strlen(k), \
                            strlen(v), NGHTTP2_NV_FLAG_NONE}
    snprintf(timeout, sizeof(timeout), "%" PRIu64,
             call->deadline_ms > now ? call->deadline_ms - now : 1);
    RPC_NV(":method", "POST");
    RPC_NV(":scheme", c->opts.tls != NULL ? "https" : "http");
    RPC_NV(":authority", c->authority);
    RPC_NV(":path", call->path);
    RPC_NV("content-type", call->is_stream ? "application/connect+json" : "application/json");
    RPC_NV("connect-protocol-version", "1");
    RPC_NV("connect-timeout-ms", timeout);
    RPC_NV("user-agent", "dragonfly-rpc");
#undef RPC_NV
    TAILQ_REMOVE(&c->queue, call, link);
    TAILQ_INSERT_TAIL(&c->active, call, link);
    call->active = true;
    call->h2 = c->h2;
    call->stream_closed = false;
    call->local_closed = false;
    call->remote_closed = false;
    call->data_deferred = false;
    call->sent = 0;
    id = nghttp2_submit_request(net_h2_session(c->h2), NULL, nva, n, &prd, call);
    if (id < 0) {
        call->stream_closed = true;
        rpc_client_call_fail(call, RPC_UNAVAILABLE, "cannot start a stream: %s",
                             nghttp2_strerror(id));
        return;
    }
    call->stream_id = id;
}

/* Move a call that never reached the server back to the queue (GOAWAY, refused stream). */
static void
rpc_client_requeue(struct rpc_client_call *call)
{
    struct rpc_client *c = call->c;

    TAILQ_REMOVE(&c->active, call, link);
    TAILQ_INSERT_HEAD(&c->queue, call, link);
    call->active = false;
    call->h2 = NULL;
    call->stream_id = 0;
    call->retries++;
    call->got_headers = false;
    call->http_status = 0;
}

static int
rpc_client_call_new(struct rpc_client *c, const char *path, int deadline_ms, bool is_stream,
                    struct rpc_client_call **out)
{
    struct rpc_client_call *call;
    struct timeval tv;
    int ms = deadline_ms > 0 ? deadline_ms : c->opts.default_deadline_ms;

    if (c->state == RPC_CLIENT_CLOSED)
        return DF_ECLOSED;
    if (path == NULL || path[0] != '/' || strlen(path) >= RPC_CLIENT_PATH_MAX)
        return DF_EINVAL;
    if (c->ncalls >= c->opts.max_calls)
        return DF_ELIMIT;
    call = xcalloc(1, sizeof(*call));
    call->c = c;
    call->is_stream = is_stream;
    memcpy(call->path, path, strlen(path) + 1);
    /* Requests are kept whole until sent, so they can be replayed after a refused stream. */
    rpc_codec_buf_init(&call->out, c->lim.max_msg_bytes + RPC_CODEC_HDR_LEN);
    rpc_codec_buf_init(&call->in, c->lim.max_msg_bytes);
    rpc_codec_reader_init(&call->rd, c->lim.max_msg_bytes);
    call->deadline_ms = df_time_mono_ms() + (uint64_t)ms;
    if ((call->deadline_ev = evtimer_new(c->base, rpc_client_deadline_cb, call)) == NULL) {
        free(call);
        return DF_ENOMEM;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(call->deadline_ev, &tv);
    *out = call;
    return 0;
}

/* Queue a new call and submit it when a connection is ready. */
static void
rpc_client_call_start(struct rpc_client_call *call)
{
    struct rpc_client *c = call->c;

    TAILQ_INSERT_TAIL(&c->queue, call, link);
    c->ncalls++;
    if (c->state == RPC_CLIENT_READY) {
        rpc_client_submit(call);
        net_h2_flush(c->h2);
    } else if (c->state == RPC_CLIENT_IDLE)
        rpc_client_connect(c);
}

int
rpc_client_unary_raw(struct rpc_client *c, const char *path, const char *json, size_t len,
                     int deadline_ms, rpc_client_unary_fn *cb, void *arg,
                     struct rpc_client_call **out)
{
    struct rpc_client_call *call = NULL;
    int rv;

    if ((rv = rpc_client_call_new(c, path, deadline_ms, false, &call)) != 0)
        return rv;
    if ((rv = rpc_codec_encode_raw(&call->out, json, len, false, 0)) != 0) {
        rpc_client_call_release(call);
        return rv;
    }
    call->send_closed = true;
    call->ucb = cb;
    call->arg = arg;
    rpc_client_call_start(call);
    if (out != NULL)
        *out = call;
    return 0;
}

int
rpc_client_unary(struct rpc_client *c, const char *path, const cJSON *req, int deadline_ms,
                 rpc_client_unary_fn *cb, void *arg, struct rpc_client_call **out)
{
    struct rpc_client_call *call = NULL;
    int rv;

    if ((rv = rpc_client_call_new(c, path, deadline_ms, false, &call)) != 0)
        return rv;
    if ((rv = rpc_codec_encode(&call->out, req, false, 0)) != 0) {
        rpc_client_call_release(call);
        return rv;
    }
    call->send_closed = true;
    call->ucb = cb;
    call->arg = arg;
    rpc_client_call_start(call);
    if (out != NULL)
        *out = call;
    return 0;
}

int
rpc_client_stream(struct rpc_client *c, const char *path, int deadline_ms,
                  const struct rpc_client_stream_cbs *cbs, void *arg, struct rpc_client_call **out)
{
    struct rpc_client_call *call = NULL;
    int rv;

    if ((rv = rpc_client_call_new(c, path, deadline_ms, true, &call)) != 0)
        return rv;
    call->scbs = *cbs;
    call->arg = arg;
    rpc_client_call_start(call);
    if (out != NULL)
        *out = call;
    return 0;
}

/* More request bytes are queued: wake the data provider. */
static void
rpc_client_call_kick(struct rpc_client_call *call)
{
    if (!call->active || call->stream_closed || call->h2 == NULL)
        return;
    if (call->data_deferred) {
        call->data_deferred = false;
        nghttp2_session_resume_data(net_h2_session(call->h2), call->stream_id);
    }
    net_h2_flush(call->h2);
}

int
rpc_client_send(struct rpc_client_call *s, const cJSON *msg)
{
    int rv;

    if (s->finished || s->send_closed)
        return DF_ECLOSED;
    if ((rv = rpc_codec_encode(&s->out, msg, true, 0)) != 0)
        return rv;
    rpc_client_call_kick(s);
    return 0;
}

void
rpc_client_close_send(struct rpc_client_call *s)
{
    if (s->finished || s->send_closed)
        return;
    s->send_closed = true;
    rpc_client_call_kick(s);
}

void
rpc_client_cancel(struct rpc_client_call *call)
{
    if (call == NULL || call->finished)
        return;
    rpc_client_call_unlink(call, NGHTTP2_CANCEL);
    rpc_client_call_release(call);
}

/* ---- response side (nghttp2 callbacks; user_data = the client) ---- */

static bool
rpc_client_hdr_is(const uint8_t *p, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

static int
rpc_client_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct rpc_client_call *call;
    size_t n = 0;

    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS ||
        (call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    if (rpc_client_hdr_is(name, namelen, ":status")) {
        call->got_headers = true;
        call->http_status = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            call->http_status = call->http_status * 10 + (value[i] - '0');
    } else if (rpc_client_hdr_is(name, namelen, "content-type")) {
        while (n < valuelen && value[n] != ';')
            n++;
        call->ct_json = rpc_client_hdr_is(value, n, "application/json");
        call->ct_connect = rpc_client_hdr_is(value, n, "application/connect+json");
    }
    return 0;
}

/* One response envelope of a stream. */
static int
rpc_client_frame_cb(uint8_t flags, const uint8_t *msg, size_t len, void *arg)
{
    struct rpc_client_call *call = arg;
    struct df_error err;
    cJSON *doc = NULL;
    int rv;

    if (call->got_end) {
        rpc_client_call_fail(call, RPC_INTERNAL, "data after the end-of-stream message");
        return DF_EPROTO;
    }
    if (flags & RPC_CODEC_FLAG_COMPRESSED) {
        rpc_client_call_fail(call, RPC_INTERNAL, "compressed message without negotiation");
        return DF_EPROTO;
    }
    if (flags & RPC_CODEC_FLAG_END) {
        if ((rv = rpc_codec_decode_end(msg, len, &call->c->lim, &call->end, &err)) != 0) {
            rpc_client_call_fail(call, RPC_INTERNAL, "malformed end-of-stream: %s", err.msg);
            return rv;
        }
        call->got_end = true;
        return 0;
    }
    if ((rv = rpc_codec_decode(msg, len, &call->c->lim, &doc, &err)) != 0) {
        rpc_client_call_fail(call, rv == DF_ETOOBIG ? RPC_RESOURCE_EXHAUSTED : RPC_INTERNAL,
                             "malformed response message: %s", err.msg);
        return rv;
    }
    if (call->scbs.on_message != NULL) {
        call->c->in_cb++;
        call->busy++;
        call->scbs.on_message(call, doc, call->arg);
        call->c->in_cb--;
        rpc_client_call_unbusy(call); /* the caller holds busy too: call is still here */
    }
    cJSON_Delete(doc);
    return call->finished ? DF_ECANCELED : 0;
}

static int
rpc_client_data_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *ud)
{
    struct rpc_client_call *call = nghttp2_session_get_stream_user_data(s, stream_id);
    struct df_error err;
    int rv;

    (void)flags;
    (void)ud;
    if (call == NULL)
        return 0;
    call->busy++;
    if (!call->is_stream || call->http_status != 200) {
        /* A unary body, or the error body of a failed stream. */
        if (rpc_codec_buf_add(&call->in, data, len) != 0)
            rpc_client_call_fail(call, RPC_RESOURCE_EXHAUSTED,
                                 "response exceeds the limit of %zu bytes", call->in.max);
    } else {
        rv = rpc_codec_reader_feed(&call->rd, data, len, rpc_client_frame_cb, call, &err);
        if ((rv == DF_ETOOBIG || rv == DF_ENOMEM) && !call->finished)
            rpc_client_call_fail(call, RPC_RESOURCE_EXHAUSTED, "%s", err.msg);
    }
    rpc_client_call_unbusy(call);
    return 0;
}

/* An HTTP-level error response: the Connect error body if there is one, else the status. */
static void
rpc_client_http_error(struct rpc_client_call *call, struct rpc_status *st)
{
    cJSON *doc = NULL;

    st->code = rpc_err_from_http(call->http_status);
    snprintf(st->message, sizeof(st->message), "HTTP status %d", call->http_status);
    if (call->ct_json && rpc_codec_decode(call->in.ptr + call->in.off, rpc_codec_buf_len(&call->in),
                                          &call->c->lim, &doc, NULL) == 0)
        rpc_err_from_json(doc, st);
    if (st->code == RPC_OK)
        st->code = RPC_UNKNOWN;
    cJSON_Delete(doc);
}

/* The server ended its side: the call is complete. */
static void
rpc_client_response_end(struct rpc_client_call *call)
{
    struct rpc_status st = {RPC_OK, ""};
    struct df_error err;
    cJSON *resp = NULL;
    int rv;

    if (call->http_status != 200) {
        rpc_client_http_error(call, &st);
    } else if (!call->is_stream) {
        if (!call->ct_json)
            rpc_err_set(&st, RPC_INTERNAL, "unexpected response content-type");
        else if ((rv = rpc_codec_decode(call->in.ptr + call->in.off, rpc_codec_buf_len(&call->in),
                                        &call->c->lim, &resp, &err)) != 0)
            rpc_err_set(&st, rv == DF_ETOOBIG ? RPC_RESOURCE_EXHAUSTED : RPC_INTERNAL,
                        "malformed response: %s", err.msg);
    } else if (!call->ct_connect) {
        rpc_err_set(&st, RPC_INTERNAL, "unexpected response content-type");
    } else if (!call->got_end || !rpc_codec_reader_is_idle(&call->rd)) {
        rpc_err_set(&st, RPC_INTERNAL, "stream ended without an end-of-stream message");
    } else {
        st = call->end;
    }
    rpc_client_call_complete(call, &st, resp);
    cJSON_Delete(resp);
}

static int
rpc_client_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct rpc_client *c = ud;
    struct rpc_client_call *call;

    if (f->hd.type == NGHTTP2_GOAWAY) {
        /* New calls go to a new connection; this one finishes what it may. */
        if (c->state == RPC_CLIENT_READY && c->h2 != NULL && net_h2_session(c->h2) == s) {
            log_debug("rpc", "rpc: client %s: GOAWAY (error %u)", c->authority,
                      f->goaway.error_code);
            net_h2_close(c->old_h2, "replaced");
            c->old_h2 = c->h2;
            c->h2 = NULL;
            rpc_client_set_state(c, RPC_CLIENT_BACKOFF);
            event_active(c->timer_ev, EV_TIMEOUT, 0);
        }
        return 0;
    }
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    if ((call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    call->remote_closed = true;
    rpc_client_response_end(call);
    return 0;
}

static enum rpc_code
rpc_client_rst_code(uint32_t error_code)
{
    switch (error_code) {
    case NGHTTP2_REFUSED_STREAM:
        return RPC_UNAVAILABLE;
    case NGHTTP2_CANCEL:
        return RPC_CANCELED;
    case NGHTTP2_ENHANCE_YOUR_CALM:
        return RPC_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY:
        return RPC_PERMISSION_DENIED;
    default:
        return RPC_INTERNAL;
    }
}

static int
rpc_client_stream_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct rpc_client_call *call = nghttp2_session_get_stream_user_data(s, stream_id);
    struct rpc_client *c = ud;

    if (call == NULL)
        return 0;
    call->stream_closed = true;
    if (error_code == NGHTTP2_REFUSED_STREAM && !call->got_headers &&
        call->retries < RPC_CLIENT_RETRIES && !call->sent_any) {
        /* Never processed by the server: safe to send again. */
        /* Typically streams sent before the server's SETTINGS lowered the limit: nghttp2
         * now knows it and holds the retry until a slot frees. After a GOAWAY, c->h2 is a
         * new connection or none (then the call waits for one). */
        rpc_client_requeue(call);
        if (c->state == RPC_CLIENT_READY && c->h2 != NULL) {
            rpc_client_submit(call);
            net_h2_flush(c->h2);
        }
        return 0;
    }
    rpc_client_call_fail(call, rpc_client_rst_code(error_code), "stream reset by the server (%s)",
                         nghttp2_http2_strerror(error_code));
    return 0;
}

/* ---- connection ---- */

/* Fail (or requeue, when never sent) every call that lived on h2. */
static void
rpc_client_drop_calls(struct rpc_client *c, struct net_h2 *h2, const char *reason)
{
    struct rpc_client_call *call;

    /* Rescan from the head: a callback may cancel or complete any other call. */
    for (;;) {
        TAILQ_FOREACH (call, &c->active, link) {
            if (call->h2 == h2)
                break;
        }
        if (call == NULL)
            return;
        call->stream_closed = true;
        call->h2 = NULL;
        rpc_client_call_fail(call, RPC_UNAVAILABLE, "connection lost: %s", reason);
    }
}

static void
rpc_client_backoff(struct rpc_client *c)
{
    struct timeval tv;
    uint64_t ms = (uint64_t)c->opts.backoff_min_ms;

    for (int i = 0; i < c->attempt && ms < (uint64_t)c->opts.backoff_max_ms; i++)
        ms *= 2;
    if (ms > (uint64_t)c->opts.backoff_max_ms)
        ms = (uint64_t)c->opts.backoff_max_ms;
    /* +-20% jitter so that many clients do not reconnect in lockstep. */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    ms = ms * (80 + c->rng % 41) / 100;
    c->attempt++;
    rpc_client_set_state(c, RPC_CLIENT_BACKOFF);
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(c->timer_ev, &tv);
}

static void
rpc_client_h2_close_cb(struct net_h2 *h2, const char *reason, void *arg)
{
    struct rpc_client *c = arg;

    if (h2 == c->old_h2) {
        c->old_h2 = NULL;
    } else if (h2 == c->h2) {
        c->h2 = NULL;
        log_info("rpc: connection to %s lost: %s", c->authority, reason);
        /* Before the callbacks below: a call they start must queue, not use h2. */
        if (c->state == RPC_CLIENT_READY)
            rpc_client_backoff(c);
    }
    rpc_client_drop_calls(c, h2, reason);
}

static void
rpc_client_ready(struct rpc_client *c, struct bufferevent *bev)
{
    struct net_h2_opts ho = {
            .server = false, .window_bytes = 1u << 20, .keepalive_ms = c->opts.keepalive_ms};
    struct net_h2_cbs cbs = {
            .on_header = rpc_client_header_cb,
            .on_frame_recv = rpc_client_frame_recv_cb,
            .on_data_chunk_recv = rpc_client_data_cb,
            .on_stream_close = rpc_client_stream_close_cb,
            .on_close = rpc_client_h2_close_cb,
    };
    struct rpc_client_call *call;

    evtimer_del(c->timer_ev);
    if (net_h2_new(bev, &ho, &cbs, c, &c->h2) != 0) {
        log_warnx("rpc: connection to %s dropped: out of memory", c->authority);
        rpc_client_backoff(c);
        return;
    }
    c->connects++;
    c->attempt = 0;
    rpc_client_set_state(c, RPC_CLIENT_READY);
    log_debug("rpc", "rpc: connected to %s", c->authority);
    while ((call = TAILQ_FIRST(&c->queue)) != NULL && c->state == RPC_CLIENT_READY)
        rpc_client_submit(call);
    if (c->h2 != NULL)
        net_h2_flush(c->h2);
}

static void
rpc_client_attempt_failed(struct rpc_client *c, const char *why)
{
    log_debug("rpc", "rpc: connect to %s failed: %s", c->authority, why);
    rpc_client_backoff(c);
}

static void
rpc_client_handshake_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_client *c = arg;
    const char *alpn;

    c->hs_bev = NULL;
    if (what & BEV_EVENT_CONNECTED) {
        alpn = net_tls_alpn(bev);
        if (alpn != NULL && strcmp(alpn, "h2") != 0) {
            bufferevent_free(bev);
            rpc_client_attempt_failed(c, "server did not negotiate h2");
            return;
        }
        rpc_client_ready(c, bev);
        return;
    }
    log_warnx("rpc: TLS handshake with %s failed: %s", c->authority, net_tls_error(bev));
    bufferevent_free(bev);
    rpc_client_attempt_failed(c, "TLS handshake failed");
}

static void
rpc_client_connected_cb(struct bufferevent *bev, int rv, void *arg)
{
    struct rpc_client *c = arg;
    struct bufferevent *tbev;
    struct timeval tv;

    c->nc = NULL;
    if (rv != 0) {
        rpc_client_attempt_failed(c, df_strerror(rv));
        return;
    }
    if (c->opts.on_socket != NULL &&
        (rv = c->opts.on_socket(bufferevent_getfd(bev), c->opts.on_socket_arg)) != 0) {
        bufferevent_free(bev);
        rpc_client_attempt_failed(c, df_strerror(rv));
        return;
    }
    if (c->opts.tls == NULL) {
        rpc_client_ready(c, bev);
        return;
    }
    if (c->opts.expect_roles != 0)
        tbev = net_tls_wrap_expect(c->opts.tls, bev, c->opts.expect_roles,
                                   c->expect_host[0] != '\0' ? c->expect_host : NULL);
    else
        tbev = net_tls_wrap(c->opts.tls, bev, c->tls_name);
    if (tbev == NULL) {
        bufferevent_free(bev);
        rpc_client_attempt_failed(c, "out of memory");
        return;
    }
    c->hs_bev = tbev;
    rpc_client_set_state(c, RPC_CLIENT_HANDSHAKING);
    bufferevent_setcb(tbev, NULL, NULL, rpc_client_handshake_cb, c);
    bufferevent_enable(tbev, EV_READ | EV_WRITE);
    tv.tv_sec = c->opts.connect_timeout_ms / 1000;
    tv.tv_usec = (c->opts.connect_timeout_ms % 1000) * 1000;
    evtimer_add(c->timer_ev, &tv);
}

static void
rpc_client_connect(struct rpc_client *c)
{
    int rv;

    rpc_client_set_state(c, RPC_CLIENT_CONNECTING);
    rv = net_connect_start(c->base, c->dns, c->target, c->addr.port, c->opts.connect_timeout_ms,
                           rpc_client_connected_cb, c, &c->nc);
    if (rv != 0) {
        c->nc = NULL;
        rpc_client_attempt_failed(c, df_strerror(rv));
    }
}

static void
rpc_client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_client *c = arg;

    (void)fd;
    (void)what;
    if (c->state == RPC_CLIENT_HANDSHAKING) {
        bufferevent_free(c->hs_bev);
        c->hs_bev = NULL;
        rpc_client_attempt_failed(c, "TLS handshake timed out");
        return;
    }
    if (c->state == RPC_CLIENT_BACKOFF)
        rpc_client_connect(c);
}

int
rpc_client_new(struct event_base *base, struct evdns_base *dns, const struct rpc_client_opts *opts,
               struct rpc_client **out, struct df_error *err)
{
    struct rpc_client *c;
    int rv;

    c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->dns = dns;
    c->opts = *opts;
    c->opts.addr = NULL;
    c->opts.tls_name = NULL;
    c->opts.expect_host = NULL;
    if (opts->addr == NULL || (rv = net_addr_parse(opts->addr, 0, &c->addr, err)) != 0) {
        rv = df_error_set(err, DF_EINVAL, "rpc client: bad address %s",
                          opts->addr != NULL ? opts->addr : "(null)");
        goto out;
    }
    if (c->addr.is_unix) {
        snprintf(c->target, sizeof(c->target), "unix:%s", c->addr.host);
        snprintf(c->authority, sizeof(c->authority), "localhost");
    } else {
        snprintf(c->target, sizeof(c->target), "%s", c->addr.host);
        snprintf(c->authority, sizeof(c->authority),
                 strchr(c->addr.host, ':') != NULL ? "[%s]:%u" : "%s:%u", c->addr.host,
                 (unsigned)c->addr.port);
    }
    snprintf(c->tls_name, sizeof(c->tls_name), "%s",
             opts->tls_name != NULL ? opts->tls_name : c->addr.host);
    if (opts->expect_host != NULL)
        snprintf(c->expect_host, sizeof(c->expect_host), "%s", opts->expect_host);
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = 5000;
    if (c->opts.backoff_min_ms <= 0)
        c->opts.backoff_min_ms = 100;
    if (c->opts.backoff_max_ms < c->opts.backoff_min_ms)
        c->opts.backoff_max_ms = c->opts.backoff_min_ms > 10000 ? c->opts.backoff_min_ms : 10000;
    if (c->opts.default_deadline_ms <= 0)
        c->opts.default_deadline_ms = 30000;
    if (c->opts.max_calls == 0)
        c->opts.max_calls = 10000;
    if (c->opts.keepalive_ms <= 0)
        c->opts.keepalive_ms = 30 * 1000;
    c->lim.max_msg_bytes =
            c->opts.max_msg_bytes > 0 ? c->opts.max_msg_bytes : RPC_CODEC_DEFAULT_MAX_MSG;
    c->lim.max_depth = c->opts.max_json_depth;
    c->rng =
            (uint64_t)df_time_mono_ms() * 2654435761u ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)c;
    if (c->rng == 0)
        c->rng = 1;
    if (dns == NULL && !c->addr.is_unix) {
        if ((c->own_dns = net_dns_new(base)) == NULL) {
            rv = DF_ENOMEM;
            goto out;
        }
        c->dns = c->own_dns;
    }
    TAILQ_INIT(&c->queue);
    TAILQ_INIT(&c->active);
    c->timer_ev = evtimer_new(base, rpc_client_timer_cb, c);
    if (c->timer_ev == NULL) {
        rv = DF_ENOMEM;
        goto out;
    }
    *out = c;
    c = NULL;
    rv = 0;
out:
    if (c != NULL) {
        net_dns_free(c->own_dns);
        free(c);
    }
    return rv;
}

static void
rpc_client_destroy(struct rpc_client *c)
{
    net_connect_cancel(c->nc);
    if (c->hs_bev != NULL)
        bufferevent_free(c->hs_bev);
    net_h2_free(c->h2);
    net_h2_free(c->old_h2);
    event_free(c->timer_ev);
    net_dns_free(c->own_dns);
    if (c->free_ev != NULL)
        event_free(c->free_ev);
    free(c);
}

static void
rpc_client_free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rpc_client_destroy(arg);
}

void
rpc_client_free(struct rpc_client *c)
{
    struct rpc_client_call *call;

    if (c == NULL || c->state == RPC_CLIENT_CLOSED)
        return;
    rpc_client_set_state(c, RPC_CLIENT_CLOSED);
    evtimer_del(c->timer_ev);
    while ((call = TAILQ_FIRST(&c->active)) != NULL || (call = TAILQ_FIRST(&c->queue)) != NULL)
        rpc_client_call_fail(call, RPC_CANCELED, "client closed");
    if (c->in_cb == 0) {
        rpc_client_destroy(c);
        return;
    }
    /* Inside one of our callbacks, maybe inside nghttp2: finish from the loop. */
    c->free_ev = event_new(c->base, -1, 0, rpc_client_free_cb, c);
    if (c->free_ev == NULL)
        fatalx("rpc: out of memory");
    event_active(c->free_ev, EV_TIMEOUT, 0);
}

bool
rpc_client_is_connected(const struct rpc_client *c)
{
    return c->state == RPC_CLIENT_READY;
}

size_t
rpc_client_pending(const struct rpc_client *c)
{
    return c->ncalls;
}

uint64_t
rpc_client_connects(const struct rpc_client *c)
{
    return c->connects;
}
