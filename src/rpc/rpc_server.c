/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connect server over net_h2. One rpc_server_conn per connection, one rpc_call per stream:
 * the call is nghttp2 stream user data, created in on_begin_headers and freed (recycled into
 * the connection's small free list) in on_stream_close, or by the connection's teardown for
 * streams still open then. A call's handler is told on_cancel whenever the call disappears
 * before the handler finished it, so asynchronous handlers never hold a dangling call.
 * Responses are queued in the call's bounded out buffer and pulled by nghttp2 through a data
 * provider that defers while the buffer is empty.
 *
 * Bounded under abuse: request bytes buffered by a call (its unary body, or a streaming
 * call's partial envelope) count against a per-connection and a server-wide budget; one
 * timer per connection enforces the preface deadline, the per-message body deadline and the
 * idle timeout (progress only moves timestamps; the timer re-arms itself lazily); and a
 * listener refuses connections past a per-source-IP cap before allocating anything.
 */
#include "df/rpc_server.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/net_h2.h"
#include "df/net_addr.h"
#include "df/net_listener.h"
#include "df/net_ratelim.h"
#include "df/net_tls.h"
#include "df/rpc_codec.h"
#include "df/xmalloc.h"

#define RPC_SERVER_MAX_LISTENERS 8
#define RPC_SERVER_MAX_HEADERS   (16 * 1024)
#define RPC_SERVER_FREE_CALLS    64
#define RPC_SERVER_KEEP_BUF      4096
#define RPC_SERVER_HEALTH_PATH   "/grpc.health.v1.Health/Check"

enum rpc_ctype {
    RPC_CTYPE_NONE,
    RPC_CTYPE_JSON,         /* application/json */
    RPC_CTYPE_CONNECT_JSON, /* application/connect+json */
    RPC_CTYPE_OTHER,
};

/*
 * Call states; rpc_call_set_state() is the only writer.
 *
 *   HEADERS --valid request headers--> BODY --request complete--> ACTIVE --reply/finish--> DONE
 *      |                                 |   (bidi: at headers)     |                      ^
 *      +------- invalid: error response -+---- bad body, deadline --+----------------------+
 *
 * HEADERS: reading headers (rpc_server_frame_recv_cb); BODY: reading the request
 * (rpc_server_body_end); ACTIVE: the handler owns the call (rpc_call_dispatch); DONE: the
 * response is fully queued, waiting for the stream to close (rpc_call_respond_*). The struct
 * itself is freed in on_stream_close from any state.
 */
enum rpc_call_state {
    RPC_CALL_HEADERS,
    RPC_CALL_BODY,
    RPC_CALL_ACTIVE,
    RPC_CALL_DONE,
};

struct rpc_server_conn;

struct rpc_call {
    TAILQ_ENTRY(rpc_call) link;
    struct rpc_server_conn *conn;
    int32_t stream_id;
    enum rpc_call_state state;
    const struct rpc_method *method;
    enum rpc_ctype ctype;
    bool is_post;
    bool bad_encoding;
    bool bad_timeout;
    bool resp_started;  /* response HEADERS submitted */
    bool out_eof;       /* nothing follows what is in out */
    bool data_deferred; /* our data provider returned NGHTTP2_ERR_DEFERRED */
    bool want_writable; /* rpc_call_send() returned DF_EAGAIN */
    bool remote_closed; /* the client ended its side */
    size_t header_bytes;
    char unknown_path[96]; /* for the error message when no method matches */
    uint64_t msg_start_ms; /* a request message is due (body deadline); 0 = none */
    size_t held;           /* input storage counted in the budgets */
    int64_t timeout_ms;    /* from connect-timeout-ms, -1 = none */
    uint64_t deadline_ms;  /* monotonic */
    struct event *deadline_ev;
    struct rpc_codec_buf in;    /* unary request body */
    struct rpc_codec_reader rd; /* streaming request envelopes */
    cJSON *req;                 /* server-stream: the request, until the body ends */
    struct rpc_codec_buf out;   /* response bytes not yet taken by nghttp2 */
    struct rpc_call_cbs cbs;
    void *cbs_arg;
};

TAILQ_HEAD(rpc_call_list, rpc_call);

struct rpc_server_conn {
    TAILQ_ENTRY(rpc_server_conn) link;
    struct rpc_server *srv;
    struct net_h2 *h2;
    struct rpc_call_list calls;
    size_t ncalls;
    struct rpc_call_list free_calls;
    size_t nfree;
    struct event *timer_ev; /* preface, body and idle deadlines; see rpc_server_conn_arm() */
    struct event *writable_ev;
    bool is_local;            /* came through a local listener: caller is set */
    struct net_caller caller; /* caller.fd: a passed descriptor until a handler takes it */
    uint64_t timer_at;        /* deadline timer_ev is armed for; 0 = not armed */
    uint64_t accepted_ms;     /* for the preface deadline */
    uint64_t last_active_ms;  /* a call started or ended, or a frame came while calls exist */
    uint64_t drain_ms;        /* draining with no call left since; 0 = not yet */
    bool preface_done;        /* the client's SETTINGS arrived */
    bool has_ip;              /* ip counts against max_conns_per_ip */
    struct net_addr_ip ip;
    size_t body_bytes;       /* sum of the calls' held */
    struct bufferevent *bev; /* owned by h2; for the TLS identity */
};

struct rpc_server {
    struct event_base *base;
    struct rpc_server_opts opts;
    struct rpc_codec_limits lim;
    struct rpc_method *methods;
    size_t *method_max; /* per method: rpc_server_limit_method(), 0 = opts.max_msg_bytes */
    size_t nmethods;

    struct rpc_server_listener {
        struct rpc_server *srv;
        struct net_listener *l;
        struct net_tls_ctx *tls;
    } listeners[RPC_SERVER_MAX_LISTENERS];

    size_t nlisteners;
    TAILQ_HEAD(, rpc_server_conn) conns;
    size_t nconns;
    size_t body_bytes; /* sum over connections */
    struct net_ratelim_log refuse_log;
    bool shutting_down;
};

static const char *const rpc_call_state_names[] = {"headers", "body", "active", "done"};

static void rpc_server_conn_arm_at(struct rpc_server_conn *conn, uint64_t at);

static void
rpc_call_set_state_at(struct rpc_call *call, enum rpc_call_state to, int line)
{
    DF_ASSERT(to > call->state);
    if (log_debug_enabled("rpc"))
        log_debug("rpc", "rpc: stream %d %s -> %s (line %d)", call->stream_id,
                  rpc_call_state_names[call->state], rpc_call_state_names[to], line);
    call->state = to;
    /* Answered while the client still sends (an early error): it gets body_timeout to end
     * its side before the stream is reset (rpc_server_conn_timer_cb). */
    if (to == RPC_CALL_DONE && !call->remote_closed) {
        call->msg_start_ms = df_time_mono_ms();
        rpc_server_conn_arm_at(call->conn, call->msg_start_ms +
                                                   (uint64_t)call->conn->srv->opts.body_timeout_ms);
    }
}

#define rpc_call_set_state(call, to) rpc_call_set_state_at(call, to, __LINE__)

static nghttp2_session *
rpc_call_session(const struct rpc_call *call)
{
    return net_h2_session(call->conn->h2);
}

/* ---- response path ---- */

static ssize_t
rpc_call_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                 uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
    struct rpc_call *call = src->ptr;
    size_t n;

    (void)s;
    (void)stream_id;
    (void)ud;
    n = rpc_codec_buf_take(&call->out, buf, length);
    if (n == 0 && !call->out_eof) {
        call->data_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (call->out_eof && rpc_codec_buf_len(&call->out) == 0)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (call->want_writable &&
        rpc_codec_buf_len(&call->out) < call->conn->srv->opts.max_stream_out / 2)
        event_active(call->conn->writable_ev, EV_TIMEOUT, 0);
    return (ssize_t)n;
}

/* Submit response headers with our data provider; the body comes from call->out. */
static int
rpc_call_submit_headers(struct rpc_call *call, int status, const char *ctype)
{
    char st[8];
    nghttp2_nv nva[2];
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = rpc_call_read_cb};

    snprintf(st, sizeof(st), "%d", status);
    nva[0] = (nghttp2_nv){(uint8_t *)(uintptr_t) ":status", (uint8_t *)st, 7, strlen(st),
                          NGHTTP2_NV_FLAG_NONE};
    nva[1] = (nghttp2_nv){(uint8_t *)(uintptr_t) "content-type", (uint8_t *)(uintptr_t)ctype, 12,
                          strlen(ctype), NGHTTP2_NV_FLAG_NONE};
    call->resp_started = true;
    if (nghttp2_submit_response(rpc_call_session(call), call->stream_id, nva, 2, &prd) != 0)
        return DF_ENOMEM;
    return 0;
}

/* New output is queued: wake the data provider and write at the end of this iteration. */
static void
rpc_call_kick(struct rpc_call *call)
{
    if (call->data_deferred) {
        call->data_deferred = false;
        nghttp2_session_resume_data(rpc_call_session(call), call->stream_id);
    }
    net_h2_flush(call->conn->h2);
}

/* Tell the handler its call is gone, once, if it still owns it. */
static void
rpc_call_cancel_handler(struct rpc_call *call, enum rpc_code why)
{
    if (call->state == RPC_CALL_ACTIVE && call->cbs.on_cancel != NULL) {
        struct rpc_call_cbs cbs = call->cbs;
        memset(&call->cbs, 0, sizeof(call->cbs));
        cbs.on_cancel(call, why, call->cbs_arg);
    }
    memset(&call->cbs, 0, sizeof(call->cbs));
}

/*
 * End the call with an error from any state but DONE: a unary call (or a stream whose
 * headers are not sent) answers with an HTTP error status, a stream with an end message.
 */
static void
rpc_call_respond_error(struct rpc_call *call, int http_status, enum rpc_code code, const char *msg)
{
    struct rpc_status st;
    cJSON *e = NULL;

    if (call->state == RPC_CALL_DONE)
        return;
    rpc_call_cancel_handler(call, code);
    rpc_call_set_state(call, RPC_CALL_DONE);
    rpc_codec_buf_reset(&call->out, RPC_SERVER_KEEP_BUF);
    call->out_eof = true;
    if (call->resp_started) {
        st.code = code;
        snprintf(st.message, sizeof(st.message), "%s", msg != NULL ? msg : "");
        if (rpc_codec_encode_end(&call->out, &st) != 0)
            nghttp2_submit_rst_stream(rpc_call_session(call), NGHTTP2_FLAG_NONE, call->stream_id,
                                      NGHTTP2_INTERNAL_ERROR);
        rpc_call_kick(call);
        return;
    }
    if ((e = rpc_err_to_json(code, msg)) == NULL ||
        rpc_codec_encode(&call->out, e, false, 0) != 0 ||
        rpc_call_submit_headers(call, http_status != 0 ? http_status : rpc_err_http_status(code),
                                "application/json") != 0)
        nghttp2_submit_rst_stream(rpc_call_session(call), NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    cJSON_Delete(e);
    net_h2_flush(call->conn->h2);
}

static void
rpc_call_fail(struct rpc_call *call, enum rpc_code code, const char *msg)
{
    log_debug("rpc", "rpc: %s stream %d: %s: %s", net_h2_peer(call->conn->h2), call->stream_id,
              rpc_err_name(code), msg);
    rpc_call_respond_error(call, 0, code, msg);
}

int
rpc_call_reply_raw(struct rpc_call *call, const char *json, size_t len)
{
    int rv;

    DF_ASSERT(call->state == RPC_CALL_ACTIVE && call->method->kind == RPC_KIND_UNARY);
    if ((rv = rpc_codec_encode_raw(&call->out, json, len, false, 0)) != 0) {
        rpc_call_fail(call, rpc_err_from_df(rv), "response too large");
        return rv;
    }
    memset(&call->cbs, 0, sizeof(call->cbs));
    rpc_call_set_state(call, RPC_CALL_DONE);
    call->out_eof = true;
    if ((rv = rpc_call_submit_headers(call, 200, "application/json")) != 0)
        nghttp2_submit_rst_stream(rpc_call_session(call), NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    net_h2_flush(call->conn->h2);
    return rv;
}

int
rpc_call_reply(struct rpc_call *call, const cJSON *msg)
{
    int rv;

    DF_ASSERT(call->state == RPC_CALL_ACTIVE && call->method->kind == RPC_KIND_UNARY);
    if ((rv = rpc_codec_encode(&call->out, msg, false, 0)) != 0) {
        rpc_call_fail(call, rpc_err_from_df(rv), "response too large");
        return rv;
    }
    memset(&call->cbs, 0, sizeof(call->cbs));
    rpc_call_set_state(call, RPC_CALL_DONE);
    call->out_eof = true;
    if ((rv = rpc_call_submit_headers(call, 200, "application/json")) != 0)
        nghttp2_submit_rst_stream(rpc_call_session(call), NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    net_h2_flush(call->conn->h2);
    return rv;
}

int
rpc_call_send(struct rpc_call *call, const cJSON *msg)
{
    struct rpc_server *srv = call->conn->srv;
    int rv;

    if (call->method->kind == RPC_KIND_UNARY)
        return DF_EINVAL;
    DF_ASSERT(call->state == RPC_CALL_ACTIVE);
    if (rpc_codec_buf_len(&call->out) >= srv->opts.max_stream_out) {
        call->want_writable = true;
        return DF_EAGAIN;
    }
    if ((rv = rpc_codec_encode(&call->out, msg, true, 0)) != 0)
        return rv;
    rpc_call_kick(call);
    return 0;
}

void
rpc_call_finish(struct rpc_call *call, enum rpc_code code, const char *message)
{
    struct rpc_status st;

    DF_ASSERT(call->state == RPC_CALL_ACTIVE);
    memset(&call->cbs, 0, sizeof(call->cbs));
    if (call->method->kind == RPC_KIND_UNARY) {
        if (code == RPC_OK) {
            rpc_call_reply_raw(call, "{}", 2);
            return;
        }
        rpc_call_respond_error(call, 0, code, message);
        return;
    }
    rpc_call_set_state(call, RPC_CALL_DONE);
    st.code = code;
    snprintf(st.message, sizeof(st.message), "%s", message != NULL ? message : "");
    /* The end message must go out even past max_stream_out. */
    call->out.max = SIZE_MAX;
    if (rpc_codec_encode_end(&call->out, &st) != 0)
        nghttp2_submit_rst_stream(rpc_call_session(call), NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    call->out_eof = true;
    rpc_call_kick(call);
}

void
rpc_call_set_cbs(struct rpc_call *call, const struct rpc_call_cbs *cbs, void *arg)
{
    call->cbs = *cbs;
    call->cbs_arg = arg;
}

int64_t
rpc_call_remaining_ms(const struct rpc_call *call)
{
    uint64_t now;

    if (call->timeout_ms < 0)
        return -1;
    now = df_time_mono_ms();
    return now >= call->deadline_ms ? 0 : (int64_t)(call->deadline_ms - now);
}

bool
rpc_call_peer_ip(const struct rpc_call *call, char *buf, size_t len)
{
    if (len > 0)
        buf[0] = '\0';
    if (!call->conn->has_ip)
        return false;
    net_addr_ip_format(&call->conn->ip, buf, len);
    return buf[0] != '\0';
}

const char *
rpc_call_path(const struct rpc_call *call)
{
    return call->method != NULL ? call->method->path : "";
}

struct event_base *
rpc_call_base(const struct rpc_call *call)
{
    return call->conn->srv->base;
}

const struct net_caller *
rpc_call_caller(const struct rpc_call *call)
{
    return call->conn->is_local ? &call->conn->caller : NULL;
}

int
rpc_call_peer_identity(const struct rpc_call *call, struct net_tls_identity *out)
{
    struct bufferevent *bev = call->conn->bev;

    /* A call arrives after the handshake, so DF_EAGAIN cannot happen here; none either way. */
    if (call->conn->is_local || bev == NULL || !net_tls_is_tls(bev) ||
        net_tls_peer_identity(bev, out) != 0) {
        out->role = NET_TLS_ROLE_NONE;
        out->host[0] = '\0';
    }
    return 0;
}

int
rpc_call_take_fd(struct rpc_call *call)
{
    int fd = call->conn->caller.fd;

    call->conn->caller.fd = -1;
    return fd;
}

/* ---- request path ---- */

/* Bring the budgets up to date with the input storage the call holds now. */
static void
rpc_call_account(struct rpc_call *call)
{
    struct rpc_server_conn *conn = call->conn;
    size_t now = call->in.cap + call->rd.msg.cap;

    conn->body_bytes = conn->body_bytes - call->held + now;
    conn->srv->body_bytes = conn->srv->body_bytes - call->held + now;
    call->held = now;
}

/* Stop counting the call's input storage (it is being released or recycled). */
static void
rpc_call_unaccount(struct rpc_call *call)
{
    call->conn->body_bytes -= call->held;
    call->conn->srv->body_bytes -= call->held;
    call->held = 0;
}

/* The call is finished: its request input is of no further use. Not from inside feed. */
static void
rpc_call_drop_input(struct rpc_call *call)
{
    rpc_codec_buf_reset(&call->in, 0);
    rpc_codec_reader_reset(&call->rd);
    rpc_call_account(call);
}

static void
rpc_server_conn_timer_set(struct rpc_server_conn *conn, uint64_t at)
{
    uint64_t now = df_time_mono_ms(), left = at > now ? at - now : 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};

    conn->timer_at = at;
    evtimer_add(conn->timer_ev, &tv);
}

/* Make sure the timer fires by at (a new, earlier deadline). */
static void
rpc_server_conn_arm_at(struct rpc_server_conn *conn, uint64_t at)
{
    if (conn->timer_at == 0 || at < conn->timer_at)
        rpc_server_conn_timer_set(conn, at);
}

/* Arm the timer for the earliest deadline: preface, then the idle and body deadlines. */
static void
rpc_server_conn_arm(struct rpc_server_conn *conn)
{
    const struct rpc_server_opts *o = &conn->srv->opts;
    struct rpc_call *call;
    uint64_t at;

    if (!conn->preface_done) {
        rpc_server_conn_timer_set(conn, conn->accepted_ms + (uint64_t)o->preface_timeout_ms);
        return;
    }
    at = conn->last_active_ms + (uint64_t)o->idle_timeout_ms;
    TAILQ_FOREACH (call, &conn->calls, link) {
        if (call->msg_start_ms != 0 && call->msg_start_ms + (uint64_t)o->body_timeout_ms < at)
            at = call->msg_start_ms + (uint64_t)o->body_timeout_ms;
    }
    rpc_server_conn_timer_set(conn, at);
}

static void
rpc_server_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_server_conn *conn = arg;
    const struct rpc_server_opts *o = &conn->srv->opts;
    uint64_t now = df_time_mono_ms();
    struct rpc_call *call;
    char msg[96];

    (void)fd;
    (void)what;
    conn->timer_at = 0;
    if (!net_h2_is_open(conn->h2) && conn->ncalls == 0) {
        /* GOAWAY sent and nothing left: net_h2 closes once its output is written, which a
         * client that does not read never lets happen. */
        if (conn->drain_ms == 0)
            conn->drain_ms = now;
        if (now >= conn->drain_ms + (uint64_t)o->body_timeout_ms) {
            net_h2_close(conn->h2, "GOAWAY not taken");
            return;
        }
        rpc_server_conn_timer_set(conn, conn->drain_ms + (uint64_t)o->body_timeout_ms);
        return;
    }
    if (!conn->preface_done) {
        if (now >= conn->accepted_ms + (uint64_t)o->preface_timeout_ms) {
            log_debug("rpc", "rpc: connection %s: no HTTP/2 preface in %d ms, closing",
                      net_h2_peer(conn->h2), o->preface_timeout_ms);
            net_h2_close(conn->h2, "no HTTP/2 preface in time");
            return;
        }
        rpc_server_conn_arm(conn);
        return;
    }
    /* Neither answering nor resetting frees a call here (that is on_stream_close). */
    TAILQ_FOREACH (call, &conn->calls, link) {
        if (call->msg_start_ms == 0 || now < call->msg_start_ms + (uint64_t)o->body_timeout_ms)
            continue;
        if (call->state == RPC_CALL_DONE) {
            /* Answered long ago and the client still holds its side open. */
            call->msg_start_ms = 0;
            nghttp2_submit_rst_stream(rpc_call_session(call), NGHTTP2_FLAG_NONE, call->stream_id,
                                      NGHTTP2_CANCEL);
            net_h2_flush(conn->h2);
            continue;
        }
        snprintf(msg, sizeof(msg), "request message not complete within %d ms", o->body_timeout_ms);
        rpc_call_fail(call, RPC_DEADLINE_EXCEEDED, msg);
        rpc_call_drop_input(call);
    }
    if (now >= conn->last_active_ms + (uint64_t)o->idle_timeout_ms) {
        log_debug("rpc", "rpc: connection %s idle (%zu calls), closing", net_h2_peer(conn->h2),
                  conn->ncalls);
        if (conn->ncalls == 0) {
            net_h2_goaway(conn->h2, NGHTTP2_NO_ERROR);
            conn->drain_ms = now;
            rpc_server_conn_timer_set(conn, now + (uint64_t)o->body_timeout_ms);
            return;
        }
        /* Calls exist but the client sent nothing at all, not even a PING: it is gone. */
        net_h2_close(conn->h2, "idle with open streams");
        return;
    }
    rpc_server_conn_arm(conn);
}

static void
rpc_call_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_call *call = arg;

    (void)fd;
    (void)what;
    rpc_call_fail(call, RPC_DEADLINE_EXCEEDED, "deadline exceeded");
    rpc_call_drop_input(call);
}

static struct rpc_call *
rpc_call_new(struct rpc_server_conn *conn, int32_t stream_id)
{
    struct rpc_server *srv = conn->srv;
    struct rpc_call *call = TAILQ_FIRST(&conn->free_calls);

    if (call != NULL) {
        TAILQ_REMOVE(&conn->free_calls, call, link);
        conn->nfree--;
    } else {
        call = xcalloc(1, sizeof(*call));
        rpc_codec_buf_init(&call->in, srv->lim.max_msg_bytes);
        rpc_codec_reader_init(&call->rd, srv->lim.max_msg_bytes);
        call->conn = conn;
    }
    /* max_stream_out is a soft cap checked before each message: one more always fits. A
     * recycled call keeps its storage. */
    call->out.max = srv->opts.max_stream_out + srv->lim.max_msg_bytes + RPC_CODEC_HDR_LEN;
    call->stream_id = stream_id;
    call->timeout_ms = -1;
    TAILQ_INSERT_TAIL(&conn->calls, call, link);
    conn->ncalls++;
    conn->last_active_ms = df_time_mono_ms();
    return call;
}

/* Release what a call holds for good (it is unlinked). */
static void
rpc_call_destroy(struct rpc_call *call)
{
    rpc_call_unaccount(call);
    if (call->deadline_ev != NULL)
        event_free(call->deadline_ev);
    DF_FREE(call->req, cJSON_Delete);
    rpc_codec_reader_reset(&call->rd);
    rpc_codec_buf_reset(&call->in, 0);
    rpc_codec_buf_reset(&call->out, 0);
    free(call);
}

/* Unlink a call, release or recycle it, and re-arm the idle timer when none is left. */
static void
rpc_call_free(struct rpc_call *call)
{
    struct rpc_server_conn *conn = call->conn;

    TAILQ_REMOVE(&conn->calls, call, link);
    conn->ncalls--;
    conn->last_active_ms = df_time_mono_ms();
    /* What a recycled call keeps is small (RPC_SERVER_KEEP_BUF) and not counted. */
    rpc_call_unaccount(call);
    if (call->deadline_ev != NULL)
        evtimer_del(call->deadline_ev);
    DF_FREE(call->req, cJSON_Delete);
    rpc_codec_reader_reset(&call->rd);
    rpc_codec_buf_reset(&call->in, RPC_SERVER_KEEP_BUF);
    rpc_codec_buf_reset(&call->out, RPC_SERVER_KEEP_BUF);
    if (conn->nfree < RPC_SERVER_FREE_CALLS) {
        /* Keep buffers, timer and reader; clear the rest. */
        struct rpc_codec_buf in = call->in, out = call->out;
        struct rpc_codec_reader rd = call->rd;
        struct event *dl = call->deadline_ev;
        memset(call, 0, sizeof(*call));
        call->conn = conn;
        call->in = in;
        call->out = out;
        call->rd = rd;
        call->deadline_ev = dl;
        TAILQ_INSERT_HEAD(&conn->free_calls, call, link);
        conn->nfree++;
        return;
    }
    rpc_call_destroy(call);
}

/* Hand the call to its handler. */
static void
rpc_call_dispatch(struct rpc_call *call, const cJSON *req)
{
    rpc_call_set_state(call, RPC_CALL_ACTIVE);
    if (call->method->kind != RPC_KIND_UNARY && !call->resp_started &&
        rpc_call_submit_headers(call, 200, "application/connect+json") != 0) {
        rpc_call_fail(call, RPC_INTERNAL, "out of memory");
        return;
    }
    call->method->handler(call, req, call->method->arg);
}

static const struct rpc_method *
rpc_server_route(const struct rpc_server *srv, const uint8_t *path, size_t len)
{
    for (size_t i = 0; i < srv->nmethods; i++) {
        const char *p = srv->methods[i].path;
        if (strncmp(p, (const char *)path, len) == 0 && p[len] == '\0')
            return &srv->methods[i];
    }
    return NULL;
}

static bool
rpc_header_is(const uint8_t *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

static enum rpc_ctype
rpc_server_ctype(const uint8_t *v, size_t len)
{
    size_t n = 0;

    /* Parameters (";charset=utf-8") do not change the codec. */
    while (n < len && v[n] != ';' && v[n] != ' ')
        n++;
    if (rpc_header_is(v, n, "application/json"))
        return RPC_CTYPE_JSON;
    if (rpc_header_is(v, n, "application/connect+json"))
        return RPC_CTYPE_CONNECT_JSON;
    return RPC_CTYPE_OTHER;
}

static size_t
rpc_method_max_msg(const struct rpc_method *m, const struct rpc_server *srv)
{
    size_t max = srv->method_max[m - srv->methods];

    return max != 0 && max < srv->opts.max_msg_bytes ? max : srv->opts.max_msg_bytes;
}

/* Request headers are in: check method, route, content type and deadline. */
static void
rpc_server_headers_done(struct rpc_call *call)
{
    struct rpc_server *srv = call->conn->srv;
    enum rpc_ctype want;
    char msg[160];
    struct timeval tv;

    if (!call->is_post) {
        rpc_call_respond_error(call, 405, RPC_UNIMPLEMENTED, "only POST is supported");
        return;
    }
    if (call->method == NULL) {
        snprintf(msg, sizeof(msg), "no such method: %s", call->unknown_path);
        rpc_call_fail(call, RPC_UNIMPLEMENTED, msg);
        return;
    }
    want = call->method->kind == RPC_KIND_UNARY ? RPC_CTYPE_JSON : RPC_CTYPE_CONNECT_JSON;
    if (call->ctype != want) {
        snprintf(msg, sizeof(msg), "unsupported content-type: %s expects %s", call->method->path,
                 want == RPC_CTYPE_JSON ? "application/json" : "application/connect+json");
        rpc_call_respond_error(call, 415, RPC_UNKNOWN, msg);
        return;
    }
    if (call->bad_encoding) {
        rpc_call_fail(call, RPC_UNIMPLEMENTED, "compressed requests are not supported");
        return;
    }
    if (call->bad_timeout) {
        rpc_call_fail(call, RPC_INVALID_ARGUMENT, "malformed connect-timeout-ms");
        return;
    }
    rpc_call_set_state(call, RPC_CALL_BODY);
    /* Set on every call: a recycled one keeps the limits of its last method. */
    call->in.max = call->rd.msg.max = rpc_method_max_msg(call->method, srv);
    /* The request (unary, server-stream) or the first message (bidi) is due. */
    call->msg_start_ms = df_time_mono_ms();
    rpc_server_conn_arm_at(call->conn, call->msg_start_ms + (uint64_t)srv->opts.body_timeout_ms);
    if (call->timeout_ms >= 0) {
        if (call->timeout_ms > srv->opts.max_deadline_ms)
            call->timeout_ms = srv->opts.max_deadline_ms;
        call->deadline_ms = df_time_mono_ms() + (uint64_t)call->timeout_ms;
        if (call->deadline_ev == NULL)
            call->deadline_ev = evtimer_new(srv->base, rpc_call_deadline_cb, call);
        tv.tv_sec = call->timeout_ms / 1000;
        tv.tv_usec = (call->timeout_ms % 1000) * 1000;
        if (call->deadline_ev != NULL)
            evtimer_add(call->deadline_ev, &tv);
    }
    if (call->method->kind == RPC_KIND_BIDI)
        rpc_call_dispatch(call, NULL);
}

/* The client ended its side of the stream. */
static void
rpc_server_body_end(struct rpc_call *call)
{
    struct df_error err;
    cJSON *req = NULL;
    int rv;

    call->remote_closed = true;
    call->msg_start_ms = 0;
    if (call->state == RPC_CALL_DONE)
        return;
    if (call->method->kind != RPC_KIND_UNARY && !rpc_codec_reader_is_idle(&call->rd)) {
        rpc_call_fail(call, RPC_INVALID_ARGUMENT, "request ends inside an envelope");
        return;
    }
    switch (call->method->kind) {
    case RPC_KIND_UNARY:
        /* An empty body has no storage yet: no arithmetic on a NULL pointer. */
        rv = rpc_codec_decode(call->in.ptr != NULL ? call->in.ptr + call->in.off : NULL,
                              rpc_codec_buf_len(&call->in), &call->conn->srv->lim, &req, &err);
        /* The body is parsed: a handler that holds the call must not hold its bytes. */
        rpc_codec_buf_reset(&call->in, RPC_SERVER_KEEP_BUF);
        rpc_call_account(call);
        if (rv != 0) {
            rpc_call_fail(call, rpc_err_from_df(rv), err.msg);
            return;
        }
        rpc_call_dispatch(call, req);
        cJSON_Delete(req);
        break;
    case RPC_KIND_SERVER_STREAM:
        if (call->req == NULL) {
            rpc_call_fail(call, RPC_INVALID_ARGUMENT, "missing request message");
            return;
        }
        req = call->req;
        call->req = NULL;
        rpc_call_dispatch(call, req);
        cJSON_Delete(req);
        break;
    case RPC_KIND_BIDI:
        if (call->state == RPC_CALL_ACTIVE && call->cbs.on_end != NULL)
            call->cbs.on_end(call, call->cbs_arg);
        break;
    }
}

/* One request envelope of a streaming call. */
static int
rpc_server_frame_cb(uint8_t flags, const uint8_t *msg, size_t len, void *arg)
{
    struct rpc_call *call = arg;
    struct df_error err;
    cJSON *doc = NULL;
    int rv;

    if (flags & RPC_CODEC_FLAG_END) {
        rpc_call_fail(call, RPC_INVALID_ARGUMENT, "end-of-stream flag in a request");
        return DF_EPROTO;
    }
    if (flags & RPC_CODEC_FLAG_COMPRESSED) {
        rpc_call_fail(call, RPC_UNIMPLEMENTED, "compressed messages are not supported");
        return DF_EPROTO;
    }
    if ((rv = rpc_codec_decode(msg, len, &call->conn->srv->lim, &doc, &err)) != 0) {
        rpc_call_fail(call, rpc_err_from_df(rv), err.msg);
        return rv;
    }
    if (call->method->kind == RPC_KIND_SERVER_STREAM) {
        if (call->req != NULL) {
            cJSON_Delete(doc);
            rpc_call_fail(call, RPC_INVALID_ARGUMENT, "more than one request message");
            return DF_EPROTO;
        }
        call->req = doc;
        return 0;
    }
    call->msg_start_ms = 0; /* bidi: the next message is due once its first byte arrives */
    if (call->cbs.on_message != NULL)
        call->cbs.on_message(call, doc, call->cbs_arg);
    cJSON_Delete(doc);
    /* The handler may have finished the call: stop delivering. */
    return call->state == RPC_CALL_ACTIVE ? 0 : DF_ECLOSED;
}

/* ---- nghttp2 callbacks (user_data = the connection) ---- */

static int
rpc_server_begin_headers_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct rpc_server_conn *conn = ud;
    struct rpc_call *call;

    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    call = rpc_call_new(conn, f->hd.stream_id);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, call);
    return 0;
}

static int
rpc_server_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct rpc_call *call;
    int64_t ms = 0;

    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if ((call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    call->header_bytes += namelen + valuelen + 32;
    if (call->header_bytes > RPC_SERVER_MAX_HEADERS)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (rpc_header_is(name, namelen, ":method"))
        call->is_post = rpc_header_is(value, valuelen, "POST");
    else if (rpc_header_is(name, namelen, ":path")) {
        call->method = rpc_server_route(call->conn->srv, value, valuelen);
        if (call->method == NULL)
            snprintf(call->unknown_path, sizeof(call->unknown_path), "%.*s",
                     valuelen > 80 ? 80 : (int)valuelen, (const char *)value);
    } else if (rpc_header_is(name, namelen, "content-type"))
        call->ctype = rpc_server_ctype(value, valuelen);
    else if (rpc_header_is(name, namelen, "content-encoding") ||
             rpc_header_is(name, namelen, "connect-content-encoding"))
        call->bad_encoding = !rpc_header_is(value, valuelen, "identity");
    else if (rpc_header_is(name, namelen, "connect-timeout-ms")) {
        /* At most 10 digits, per the Connect protocol. */
        if (valuelen == 0 || valuelen > 10)
            call->bad_timeout = true;
        for (size_t i = 0; i < valuelen && !call->bad_timeout; i++) {
            if (value[i] < '0' || value[i] > '9')
                call->bad_timeout = true;
            else
                ms = ms * 10 + (value[i] - '0');
        }
        call->timeout_ms = ms;
    }
    return 0;
}

static int
rpc_server_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct rpc_server_conn *conn = ud;
    struct rpc_call *call;

    /* Any frame is a sign of life while calls exist (an idle connection needs a call). */
    if (conn->ncalls > 0)
        conn->last_active_ms = df_time_mono_ms();
    if (f->hd.type == NGHTTP2_SETTINGS && !conn->preface_done) {
        conn->preface_done = true;
        conn->last_active_ms = df_time_mono_ms();
        rpc_server_conn_arm(conn); /* the idle timeout may be shorter than the preface's */
    }
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    if ((call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        rpc_server_headers_done(call);
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
        rpc_server_body_end(call);
    return 0;
}

/*
 * Account what the call now buffers; past a budget the call ends with resource_exhausted.
 * A chunk of the frame that ends the request is let through: its bytes are parsed and freed
 * at once, so small honest calls (one DATA frame) are served while floods hold the budget.
 */
static void
rpc_call_check_budget(struct rpc_call *call, bool last)
{
    const struct rpc_server_conn *conn = call->conn;
    const struct rpc_server *srv = conn->srv;
    char msg[128];

    rpc_call_account(call);
    if (last)
        return;
    if (conn->body_bytes > srv->opts.conn_body_budget)
        snprintf(msg, sizeof(msg), "request bodies on this connection exceed %zu bytes",
                 srv->opts.conn_body_budget);
    else if (srv->body_bytes > srv->opts.body_budget)
        snprintf(msg, sizeof(msg), "request bodies on this server exceed %zu bytes",
                 srv->opts.body_budget);
    else
        return;
    rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, msg);
}

static int
rpc_server_data_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *ud)
{
    struct rpc_call *call = nghttp2_session_get_stream_user_data(s, stream_id);
    struct df_error err;
    char msg[128];
    int rv;

    (void)ud;
    if (call == NULL || call->state == RPC_CALL_DONE || call->state == RPC_CALL_HEADERS)
        return 0;
    if (call->method->kind == RPC_KIND_UNARY) {
        if ((rv = rpc_codec_buf_add(&call->in, data, len)) != 0) {
            snprintf(msg, sizeof(msg), "request body exceeds the limit of %zu bytes", call->in.max);
            rpc_call_fail(call, rpc_err_from_df(rv), msg);
        }
    } else {
        rv = rpc_codec_reader_feed(&call->rd, data, len, rpc_server_frame_cb, call, &err);
        if ((rv == DF_ETOOBIG || rv == DF_ENOMEM) && call->state != RPC_CALL_DONE)
            rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, err.msg);
        if (call->method->kind == RPC_KIND_BIDI && call->state != RPC_CALL_DONE &&
            call->msg_start_ms == 0 && !rpc_codec_reader_is_idle(&call->rd)) {
            call->msg_start_ms = df_time_mono_ms();
            rpc_server_conn_arm_at(call->conn,
                                   call->msg_start_ms +
                                           (uint64_t)call->conn->srv->opts.body_timeout_ms);
        }
    }
    if (call->state != RPC_CALL_DONE)
        rpc_call_check_budget(call, (flags & NGHTTP2_FLAG_END_STREAM) != 0);
    if (call->state == RPC_CALL_DONE)
        rpc_call_drop_input(call);
    return 0;
}

static int
rpc_server_stream_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct rpc_call *call = nghttp2_session_get_stream_user_data(s, stream_id);

    (void)ud;
    if (call == NULL)
        return 0;
    if (error_code != NGHTTP2_NO_ERROR || call->state != RPC_CALL_DONE)
        rpc_call_cancel_handler(call, RPC_CANCELED);
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    rpc_call_free(call);
    return 0;
}

/* ---- connections ---- */

static void
rpc_server_conn_free(struct rpc_server_conn *conn)
{
    struct rpc_call *call;

    while ((call = TAILQ_FIRST(&conn->calls)) != NULL) {
        rpc_call_cancel_handler(call, RPC_UNAVAILABLE);
        TAILQ_REMOVE(&conn->calls, call, link);
        rpc_call_destroy(call);
    }
    while ((call = TAILQ_FIRST(&conn->free_calls)) != NULL) {
        TAILQ_REMOVE(&conn->free_calls, call, link);
        rpc_call_destroy(call);
    }
    TAILQ_REMOVE(&conn->srv->conns, conn, link);
    conn->srv->nconns--;
    if (conn->is_local && conn->caller.fd != -1)
        close(conn->caller.fd);
    event_free(conn->timer_ev);
    event_free(conn->writable_ev);
    free(conn);
}

static void
rpc_server_conn_close_cb(struct net_h2 *h2, const char *reason, void *arg)
{
    struct rpc_server_conn *conn = arg;

    (void)h2;
    log_debug("rpc", "rpc: connection %s closed: %s", net_h2_peer(conn->h2), reason);
    rpc_server_conn_free(conn);
}

static void
rpc_server_writable_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_server_conn *conn = arg;
    struct rpc_call *call, *next;
    size_t low = conn->srv->opts.max_stream_out / 2;

    (void)fd;
    (void)what;
    for (call = TAILQ_FIRST(&conn->calls); call != NULL; call = next) {
        next = TAILQ_NEXT(call, link);
        if (!call->want_writable || rpc_codec_buf_len(&call->out) >= low)
            continue;
        call->want_writable = false;
        /* on_writable may finish the call, but it is freed only in on_stream_close. */
        if (call->state == RPC_CALL_ACTIVE && call->cbs.on_writable != NULL)
            call->cbs.on_writable(call, call->cbs_arg);
    }
}

/* Log a refused connection, at most once per second. */
static void
rpc_server_refused(struct rpc_server *srv, const char *why)
{
    uint64_t suppressed = 0;

    if (net_ratelim_log_allow(&srv->refuse_log, df_time_mono_ms(), 1000, &suppressed))
        log_warnx("rpc: connection refused: %s (%" PRIu64 " more refused)", why, suppressed);
}

/* TCP connections from ip now open. */
static uint32_t
rpc_server_ip_count(const struct rpc_server *srv, const struct net_addr_ip *ip)
{
    const struct rpc_server_conn *conn;
    uint32_t n = 0;

    TAILQ_FOREACH (conn, &srv->conns, link) {
        if (conn->has_ip && net_addr_ip_is_equal(&conn->ip, ip))
            n++;
    }
    return n;
}

/*
 * Serve bev: caller is a local caller (its fd taken over) or NULL for TCP; ip is the TCP
 * client's address, counted against max_conns_per_ip, or NULL.
 */
static int
rpc_server_accept_from(struct rpc_server *srv, struct bufferevent *bev, struct net_caller *caller,
                       const struct net_addr_ip *ip)
{
    struct net_h2_opts ho = {
            .server = true,
            .max_streams = srv->opts.max_streams,
            .window_bytes = 1u << 20,
            .reset_burst = srv->opts.reset_burst,
            .reset_rate = srv->opts.reset_rate,
    };
    struct net_h2_cbs cbs = {
            .on_begin_headers = rpc_server_begin_headers_cb,
            .on_header = rpc_server_header_cb,
            .on_frame_recv = rpc_server_frame_recv_cb,
            .on_data_chunk_recv = rpc_server_data_cb,
            .on_stream_close = rpc_server_stream_close_cb,
            .on_close = rpc_server_conn_close_cb,
    };
    struct rpc_server_conn *conn;
    int rv;

    if (srv->nconns >= srv->opts.max_conns || srv->shutting_down) {
        rpc_server_refused(srv, srv->shutting_down ? "shutting down" : "max_conns reached");
        bufferevent_free(bev);
        if (caller != NULL && caller->fd != -1)
            close(caller->fd);
        return DF_ELIMIT;
    }
    conn = xcalloc(1, sizeof(*conn));
    conn->srv = srv;
    conn->bev = bev;
    conn->caller.fd = -1;
    if (caller != NULL) {
        conn->is_local = true;
        conn->caller = *caller;
        caller->fd = -1;
    }
    if (ip != NULL) {
        conn->has_ip = true;
        conn->ip = *ip;
    }
    TAILQ_INIT(&conn->calls);
    TAILQ_INIT(&conn->free_calls);
    conn->timer_ev = evtimer_new(srv->base, rpc_server_conn_timer_cb, conn);
    conn->writable_ev = event_new(srv->base, -1, 0, rpc_server_writable_cb, conn);
    if (conn->timer_ev == NULL || conn->writable_ev == NULL) {
        rv = DF_ENOMEM;
        bufferevent_free(bev);
        goto out;
    }
    if ((rv = net_h2_new(bev, &ho, &cbs, conn, &conn->h2)) != 0)
        goto out;
    TAILQ_INSERT_TAIL(&srv->conns, conn, link);
    srv->nconns++;
    conn->accepted_ms = df_time_mono_ms();
    conn->last_active_ms = conn->accepted_ms;
    rpc_server_conn_arm(conn);
    log_debug("rpc", "rpc: connection from %s", net_h2_peer(conn->h2));
    conn = NULL;
    rv = 0;
out:
    if (conn != NULL) {
        if (conn->caller.fd != -1)
            close(conn->caller.fd);
        if (conn->timer_ev != NULL)
            event_free(conn->timer_ev);
        if (conn->writable_ev != NULL)
            event_free(conn->writable_ev);
        free(conn);
    }
    return rv;
}

int
rpc_server_accept(struct rpc_server *srv, struct bufferevent *bev)
{
    return rpc_server_accept_from(srv, bev, NULL, NULL);
}

/* A client of a local listener: its first byte, when it is a protocol byte, goes back in
 * front of the input (prepend: a bufferevent freezes the end of its input buffer). */
static void
rpc_server_local_accept_cb(int fd, struct net_caller *caller, void *arg)
{
    struct rpc_server_listener *sl = arg;
    struct bufferevent *bev;

    if ((bev = bufferevent_socket_new(sl->srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL ||
        (caller->nfirst > 0 &&
         evbuffer_prepend(bufferevent_get_input(bev), &caller->first, caller->nfirst) != 0)) {
        log_warnx("rpc: connection dropped: out of memory");
        if (bev != NULL)
            bufferevent_free(bev);
        else
            close(fd);
        if (caller->fd != -1)
            close(caller->fd);
        return;
    }
    rpc_server_accept_from(sl->srv, bev, caller, NULL);
}

static void
rpc_server_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct rpc_server_listener *sl = arg;
    struct rpc_server *srv = sl->srv;
    struct net_tls_ctx *tls = sl->tls;
    struct bufferevent *bev, *tbev;
    struct net_addr_ip ip;
    bool has_ip = net_addr_ip_from(peer, peerlen, &ip);

    /* Before any allocation (TLS state is large): a flood costs an accept and a close. */
    if (has_ip && rpc_server_ip_count(srv, &ip) >= srv->opts.max_conns_per_ip) {
        rpc_server_refused(srv, "max_conns_per_ip reached");
        close(fd);
        return;
    }
    if ((bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
        log_warnx("rpc: connection dropped: out of memory");
        close(fd);
        return;
    }
    if (tls != NULL) {
        if ((tbev = net_tls_wrap(tls, bev, NULL)) == NULL) {
            log_warnx("rpc: connection dropped: out of memory");
            bufferevent_free(bev);
            return;
        }
        bev = tbev;
    }
    rpc_server_accept_from(srv, bev, NULL, has_ip ? &ip : NULL);
}

/* ---- server ---- */

static void
rpc_server_health_cb(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const char serving[] = "{\"status\":\"SERVING\"}";

    (void)req;
    (void)arg;
    rpc_call_reply_raw(call, serving, sizeof(serving) - 1);
}

void
rpc_server_conf_apply(const struct rpc_server_conf *conf, struct rpc_server_opts *opts)
{
    /* The config table bounds every value well inside these types. */
    opts->max_conns = (uint32_t)conf->max_conns;
    opts->max_conns_per_ip = (uint32_t)conf->max_conns_per_ip;
    opts->max_streams = (uint32_t)conf->max_streams;
    opts->max_msg_bytes = (size_t)conf->max_msg_bytes;
    opts->conn_body_budget = (size_t)conf->conn_body_budget;
    opts->body_budget = (size_t)conf->body_budget;
    opts->preface_timeout_ms = (int)conf->preface_timeout;
    opts->body_timeout_ms = (int)conf->body_timeout;
    opts->idle_timeout_ms = (int)conf->idle_timeout;
}

struct rpc_server *
rpc_server_new(struct event_base *base, const struct rpc_server_opts *opts)
{
    static const struct rpc_method health = {RPC_SERVER_HEALTH_PATH, RPC_KIND_UNARY,
                                             rpc_server_health_cb, NULL};
    struct rpc_server *srv = xcalloc(1, sizeof(*srv));

    srv->base = base;
    if (opts != NULL)
        srv->opts = *opts;
    if (srv->opts.max_msg_bytes == 0)
        srv->opts.max_msg_bytes = RPC_CODEC_DEFAULT_MAX_MSG;
    if (srv->opts.max_json_depth <= 0)
        srv->opts.max_json_depth = RPC_CODEC_DEFAULT_MAX_DEPTH;
    if (srv->opts.max_streams == 0)
        srv->opts.max_streams = 256;
    if (srv->opts.max_conns == 0)
        srv->opts.max_conns = 4096;
    if (srv->opts.max_conns_per_ip == 0)
        srv->opts.max_conns_per_ip = 64;
    if (srv->opts.conn_body_budget == 0)
        srv->opts.conn_body_budget = 8u << 20;
    /* One largest message (and the buffer growth around it) always fits. */
    if (srv->opts.conn_body_budget < 2 * srv->opts.max_msg_bytes)
        srv->opts.conn_body_budget = 2 * srv->opts.max_msg_bytes;
    if (srv->opts.body_budget == 0)
        srv->opts.body_budget = 64u << 20;
    if (srv->opts.body_budget < srv->opts.conn_body_budget)
        srv->opts.body_budget = srv->opts.conn_body_budget;
    if (srv->opts.preface_timeout_ms <= 0)
        srv->opts.preface_timeout_ms = 10 * 1000;
    if (srv->opts.body_timeout_ms <= 0)
        srv->opts.body_timeout_ms = 30 * 1000;
    if (srv->opts.reset_burst == 0)
        srv->opts.reset_burst = 1000;
    if (srv->opts.reset_rate == 0)
        srv->opts.reset_rate = 100;
    if (srv->opts.max_stream_out == 0)
        srv->opts.max_stream_out = 1u << 20;
    if (srv->opts.idle_timeout_ms <= 0)
        srv->opts.idle_timeout_ms = 300 * 1000;
    if (srv->opts.max_deadline_ms <= 0)
        srv->opts.max_deadline_ms = 600 * 1000;
    srv->lim.max_msg_bytes = srv->opts.max_msg_bytes;
    srv->lim.max_depth = srv->opts.max_json_depth;
    TAILQ_INIT(&srv->conns);
    rpc_server_register(srv, &health, 1);
    return srv;
}

int
rpc_server_register(struct rpc_server *srv, const struct rpc_method *methods, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = methods[i].path;
        if (p == NULL || p[0] != '/' || strchr(p + 1, '/') == NULL || methods[i].handler == NULL)
            return DF_EINVAL;
        if (rpc_server_route(srv, (const uint8_t *)p, strlen(p)) != NULL)
            return DF_EEXIST;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(methods[j].path, p) == 0)
                return DF_EEXIST;
        }
    }
    srv->methods = xrealloc(srv->methods, (srv->nmethods + n) * sizeof(*srv->methods));
    srv->method_max = xrealloc(srv->method_max, (srv->nmethods + n) * sizeof(*srv->method_max));
    memcpy(srv->methods + srv->nmethods, methods, n * sizeof(*methods));
    memset(srv->method_max + srv->nmethods, 0, n * sizeof(*srv->method_max));
    srv->nmethods += n;
    return 0;
}

int
rpc_server_limit_method(struct rpc_server *srv, const char *path, size_t max_msg_bytes)
{
    const struct rpc_method *m = rpc_server_route(srv, (const uint8_t *)path, strlen(path));

    if (m == NULL)
        return DF_ENOTFOUND;
    srv->method_max[m - srv->methods] = max_msg_bytes;
    return 0;
}

/* Listen on addr: a local listener with perm when local, else TCP (or unix) with tls. */
static int
rpc_server_listen_on(struct rpc_server *srv, const char *addr, struct net_tls_ctx *tls, bool local,
                     const struct net_listener_perm *perm, struct df_error *err)
{
    struct rpc_server_listener *sl;
    int rv;

    if (srv->nlisteners == RPC_SERVER_MAX_LISTENERS)
        return df_error_set(err, DF_ELIMIT, "listen %s: too many listeners", addr);
    sl = &srv->listeners[srv->nlisteners];
    sl->srv = srv;
    sl->tls = tls;
    if (local)
        rv = net_listener_new_local(srv->base, addr, perm, rpc_server_local_accept_cb, sl, &sl->l,
                                    err);
    else
        rv = net_listener_new(srv->base, addr, 0, rpc_server_accept_cb, sl, &sl->l, err);
    if (rv != 0)
        return rv;
    srv->nlisteners++;
    log_info("rpc: listening on %s%s", net_listener_addr(sl->l), tls != NULL ? " (tls)" : "");
    return 0;
}

int
rpc_server_listen(struct rpc_server *srv, const char *addr, struct net_tls_ctx *tls,
                  struct df_error *err)
{
    return rpc_server_listen_on(srv, addr, tls, tls == NULL && strncmp(addr, "unix:", 5) == 0, NULL,
                                err);
}

int
rpc_server_listen_local(struct rpc_server *srv, const char *addr,
                        const struct net_listener_perm *perm, struct df_error *err)
{
    if (strncmp(addr, "unix:", 5) != 0)
        return df_error_set(err, DF_EINVAL, "listen %s: a local listener needs unix:PATH", addr);
    return rpc_server_listen_on(srv, addr, NULL, true, perm, err);
}

const char *
rpc_server_addr(const struct rpc_server *srv, size_t i)
{
    return i < srv->nlisteners ? net_listener_addr(srv->listeners[i].l) : NULL;
}

void
rpc_server_shutdown(struct rpc_server *srv)
{
    struct rpc_server_conn *conn;

    srv->shutting_down = true;
    for (size_t i = 0; i < srv->nlisteners; i++)
        net_listener_disable(srv->listeners[i].l);
    TAILQ_FOREACH (conn, &srv->conns, link)
        net_h2_goaway(conn->h2, NGHTTP2_NO_ERROR);
}

size_t
rpc_server_conn_count(const struct rpc_server *srv)
{
    return srv->nconns;
}

size_t
rpc_server_body_bytes(const struct rpc_server *srv)
{
    return srv->body_bytes;
}

void
rpc_server_free(struct rpc_server *srv)
{
    struct rpc_server_conn *conn;
    struct net_h2 *h2;

    if (srv == NULL)
        return;
    while ((conn = TAILQ_FIRST(&srv->conns)) != NULL) {
        h2 = conn->h2;
        rpc_server_conn_free(conn);
        net_h2_free(h2);
    }
    for (size_t i = 0; i < srv->nlisteners; i++)
        net_listener_free(srv->listeners[i].l);
    free(srv->methods);
    free(srv->method_max);
    free(srv);
}
