/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 server connections. One struct net_http_conn per connection, with one request
 * (embedded) at a time: pipelined bytes stay in the input buffer, bounded by the read
 * watermark, until the current response has been flushed. One timer per connection serves
 * every deadline; progress (bytes read, bytes drained from the output) only moves
 * timestamps, and the timer re-arms itself lazily. Connections are freed from a reaper
 * event, never inside a libevent callback that still holds them.
 */
#include "df/net_http_server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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
#include "df/net_addr.h"
#include "df/net_bev.h"
#include "df/net_ratelim.h"
#include "df/net_tls.h"
#include "df/xmalloc.h"

#define NET_HTTP_LINGER_MS    2000
#define NET_HTTP_LINGER_BYTES (1u << 20)
#define NET_HTTP_FILE_SLICE   (1u << 20)

/*
 * Connection states:
 *
 *   HEAD --head ok, buffered body--> BODY --body done--> HANDLER
 *   HEAD --head ok, no body or stream_body--> HANDLER
 *   HANDLER --response started--> SEND --flushed, keep-alive--> IDLE --byte--> HEAD
 *   SEND --flushed, close--> LINGER --EOF or 2 s--> CLOSING
 *   HEAD/BODY --bad request or limit--> SEND (error response, close)
 *   any --error, timeout, EOF--> CLOSING
 *
 * net_http_conn_set_state() is the only writer. In stream_body mode the request body is
 * read while in HANDLER or SEND (req.body_state says so).
 */
enum net_http_conn_state {
    NET_HTTP_CONN_HEAD = 0,
    NET_HTTP_CONN_BODY,
    NET_HTTP_CONN_HANDLER,
    NET_HTTP_CONN_SEND,
    NET_HTTP_CONN_IDLE,
    NET_HTTP_CONN_LINGER,
    NET_HTTP_CONN_CLOSING,
};

static const char *const net_http_conn_state_names[] = {"head", "body",   "handler", "send",
                                                        "idle", "linger", "closing"};

enum net_http_body_state {
    NET_HTTP_RBODY_NONE = 0, /* no request body */
    NET_HTTP_RBODY_PENDING,  /* body not read yet */
    NET_HTTP_RBODY_READING,
    NET_HTTP_RBODY_DONE,
};

enum net_http_resp_state {
    NET_HTTP_RESP_NONE = 0, /* not started */
    NET_HTTP_RESP_STREAM,   /* started, handler writes */
    NET_HTTP_RESP_FILE,     /* started, file slices queued as output drains */
    NET_HTTP_RESP_ENDED,    /* everything queued; waiting for the flush */
};

struct net_http_conn;

struct net_http_req {
    struct net_http_conn *conn;
    struct net_http_head head;
    bool active; /* handler owns it: between the handler call and the end of the response */
    /* request body */
    enum net_http_body_state body_state;
    uint64_t body_left; /* Content-Length bodies */
    uint64_t body_bytes;
    struct net_http_chunked chunked;
    struct evbuffer *body; /* buffered body, or the chunk offered to body_cb */
    net_http_body_fn *body_cb;
    void *body_arg;
    net_http_close_fn *close_cb;
    void *close_arg;
    net_http_respond_fn *respond_cb;
    void *respond_arg;
    /* response */
    enum net_http_resp_state resp_state;
    int status;
    struct evbuffer *resp_headers;
    bool no_body;       /* HEAD, 1xx, 204, 304 */
    bool chunked_out;   /* chunked coding */
    bool has_length;    /* Content-Length was sent */
    uint64_t resp_left; /* bytes still due when has_length */
    bool keep_alive;
    net_http_more_fn *more;
    void *more_arg;
    struct evbuffer_file_segment *seg;
    uint64_t seg_off, seg_left;
};

struct net_http_conn {
    TAILQ_ENTRY(net_http_conn) entry;
    struct net_http_server *srv;
    struct bufferevent *bev;
    struct event *timer;
    struct event *kick; /* deferred processing: pipelined input, finished responses */
    enum net_http_conn_state state;
    struct net_http_parser parser;
    struct net_http_req req;
    unsigned nrequests;
    int64_t state_since; /* ms, monotonic */
    int64_t head_deadline;
    int64_t req_deadline;
    int64_t last_read;
    int64_t last_write;
    size_t linger_bytes;
    bool has_ip; /* ip is set: counted against max_conns_per_ip */
    struct net_addr_ip ip;
    char peer[64];
};

TAILQ_HEAD(net_http_conn_list, net_http_conn);

struct net_http_server {
    struct event_base *base;
    struct net_http_server_opts opts;
    char name[32];
    net_http_handler_fn *handler;
    void *arg;
    struct net_http_conn_list conns;
    struct net_http_conn_list dead;
    struct event *reaper;
    unsigned nconns;
    struct net_ratelim_log refuse_log;
    struct net_ratelim_log warn_log; /* per-connection warnings: a flood is one line a second */
    struct evbuffer *stage;          /* a whole answer composed before net_bev_write_now */
};

static void net_http_conn_process(struct net_http_conn *c);

/* Warn about connection c (bad request, timeout), at most once a second per server. */
static void
net_http_conn_warn(struct net_http_conn *c, const char *what, const char *why)
{
    uint64_t suppressed = 0;

    if (!net_ratelim_log_allow(&c->srv->warn_log, df_time_mono_ms(), 1000, &suppressed))
        return;
    log_warnx("http: %s conn %s%s: %s (%" PRIu64 " similar not logged)", c->srv->name, c->peer,
              what, why, suppressed);
}

static void net_http_conn_arm(struct net_http_conn *c);

#define net_http_conn_set_state(c, s) net_http_conn_set_state_at((c), (s), __LINE__)

/* The only writer of c->state: checks the transition against the diagram above. */
static void
net_http_conn_set_state_at(struct net_http_conn *c, enum net_http_conn_state to, int line)
{
    enum net_http_conn_state from = c->state;
    bool ok;

    switch (to) {
    case NET_HTTP_CONN_HEAD:
        ok = from == NET_HTTP_CONN_IDLE;
        break;
    case NET_HTTP_CONN_BODY:
        ok = from == NET_HTTP_CONN_HEAD;
        break;
    case NET_HTTP_CONN_HANDLER:
        ok = from == NET_HTTP_CONN_HEAD || from == NET_HTTP_CONN_BODY;
        break;
    case NET_HTTP_CONN_SEND:
        ok = from == NET_HTTP_CONN_HANDLER || from == NET_HTTP_CONN_HEAD ||
             from == NET_HTTP_CONN_BODY;
        break;
    case NET_HTTP_CONN_IDLE:
        ok = from == NET_HTTP_CONN_SEND;
        break;
    case NET_HTTP_CONN_LINGER:
        ok = from == NET_HTTP_CONN_SEND;
        break;
    case NET_HTTP_CONN_CLOSING:
        ok = from != NET_HTTP_CONN_CLOSING;
        break;
    default:
        ok = false;
        break;
    }
    DF_ASSERT(ok);
    log_debug("http", "http: %s conn %s: %s -> %s (line %d)", c->srv->name, c->peer,
              net_http_conn_state_names[from], net_http_conn_state_names[to], line);
    c->state = to;
    c->state_since = df_time_mono_ms();
}

static void
net_http_req_reset(struct net_http_req *req)
{
    struct net_http_conn *c = req->conn;
    struct evbuffer *body = req->body, *hdrs = req->resp_headers;

    net_http_head_reset(&req->head);
    if (req->seg != NULL)
        evbuffer_file_segment_free(req->seg);
    evbuffer_drain(body, evbuffer_get_length(body));
    evbuffer_drain(hdrs, evbuffer_get_length(hdrs));
    memset(req, 0, sizeof(*req));
    req->conn = c;
    req->body = body;
    req->resp_headers = hdrs;
}

static void
net_http_conn_free(struct net_http_conn *c)
{
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    net_http_req_reset(&c->req);
    evbuffer_free(c->req.body);
    evbuffer_free(c->req.resp_headers);
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->kick != NULL)
        event_free(c->kick);
    free(c);
}

/*
 * The one teardown: tell a handler that still owns the request, stop all events and hand
 * the connection to the reaper. Safe from any callback; c stays readable until the reaper
 * runs, and callers check for CLOSING.
 */
static void
net_http_conn_close(struct net_http_conn *c, int reason, const char *why)
{
    struct net_http_server *srv = c->srv;
    struct net_http_req *req = &c->req;
    net_http_close_fn *cb = req->close_cb;
    struct timeval zero = {0, 0};

    if (c->state == NET_HTTP_CONN_CLOSING)
        return;
    if (reason == DF_ECLOSED || reason == 0 || reason == DF_ECANCELED)
        log_debug("http", "http: %s conn %s closed: %s", srv->name, c->peer, why);
    else
        net_http_conn_warn(c, " closed", why);
    net_http_conn_set_state(c, NET_HTTP_CONN_CLOSING);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    event_del(c->timer);
    event_del(c->kick);
    TAILQ_REMOVE(&srv->conns, c, entry);
    TAILQ_INSERT_TAIL(&srv->dead, c, entry);
    srv->nconns--;
    if (req->active) {
        req->active = false;
        req->close_cb = NULL;
        if (cb != NULL)
            cb(req, reason, req->close_arg);
    }
    evtimer_add(srv->reaper, &zero);
}

static void
net_http_server_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_http_server *srv = arg;
    struct net_http_conn *c;

    (void)fd;
    (void)what;
    while ((c = TAILQ_FIRST(&srv->dead)) != NULL) {
        TAILQ_REMOVE(&srv->dead, c, entry);
        net_http_conn_free(c);
    }
}

/* Schedule net_http_conn_process from the loop (never re-entrantly). */
static void
net_http_conn_kick(struct net_http_conn *c)
{
    if (c->state != NET_HTTP_CONN_CLOSING)
        event_active(c->kick, EV_TIMEOUT, 0);
}

static size_t
net_http_out_len(const struct net_http_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/*
 * Put the status line and headers in out (the output, or the server's stage for a whole
 * answer). length < 0: unknown (chunked or close-delimited).
 */
static void
net_http_resp_head(struct net_http_req *req, struct evbuffer *out, int status, const char *ctype,
                   int64_t length)
{
    struct net_http_conn *c = req->conn;
    struct net_http_server *srv = c->srv;
    bool is_head = req->head.method != NULL && strcmp(req->head.method, "HEAD") == 0;
    net_http_respond_fn *cb = req->respond_cb;
    char date[40];

    if (cb != NULL) {
        req->respond_cb = NULL;
        cb(req, status, req->respond_arg);
    }
    req->status = status;
    req->no_body = is_head || status < 200 || status == 204 || status == 304;
    /* Persist only if the request body was consumed and the client allows it. */
    req->keep_alive =
            req->head.method != NULL && req->head.keep_alive &&
            (req->body_state == NET_HTTP_RBODY_NONE || req->body_state == NET_HTTP_RBODY_DONE) &&
            (srv->opts.max_requests == 0 || c->nrequests < srv->opts.max_requests);
    if (length >= 0) {
        req->has_length = true;
        req->resp_left = (uint64_t)length;
    } else if (!req->no_body) {
        if (req->head.version_minor >= 1)
            req->chunked_out = true;
        else
            req->keep_alive = false; /* close-delimited */
    }
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, net_http_reason(status),
                        df_time_format_http((int64_t)time(NULL), date, sizeof(date)));
    if (ctype != NULL)
        evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
    if (status != 204 && status != 304 && status >= 200) {
        if (req->has_length)
            evbuffer_add_printf(out, "Content-Length: %" PRId64 "\r\n", length);
        else if (req->chunked_out || (is_head && req->head.version_minor >= 1))
            evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
    }
    if (!req->keep_alive)
        evbuffer_add_printf(out, "Connection: close\r\n");
    evbuffer_add_buffer(out, req->resp_headers);
    evbuffer_add(out, "\r\n", 2);
    if (req->no_body) {
        req->chunked_out = false;
        req->resp_left = 0;
    }
    if (c->state == NET_HTTP_CONN_HANDLER || c->state == NET_HTTP_CONN_HEAD ||
        c->state == NET_HTTP_CONN_BODY)
        net_http_conn_set_state(c, NET_HTTP_CONN_SEND);
    c->last_write = df_time_mono_ms();
    net_http_conn_arm(c);
}

/* Everything is queued: wait for the flush (write callback at low watermark 0). */
static void
net_http_resp_ended(struct net_http_req *req)
{
    struct net_http_conn *c = req->conn;

    req->resp_state = NET_HTTP_RESP_ENDED;
    req->active = false;
    req->close_cb = NULL;
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    if (net_http_out_len(c) == 0)
        net_http_conn_kick(c);
}

/* A short plain-text error, then close. Only before a response has started. */
static void
net_http_conn_error(struct net_http_conn *c, int status, const char *why)
{
    struct net_http_req *req = &c->req;
    char body[96];
    int n;

    if (c->state == NET_HTTP_CONN_CLOSING)
        return;
    if (req->resp_state != NET_HTTP_RESP_NONE) {
        net_http_conn_close(c, DF_EPROTO, why);
        return;
    }
    snprintf(body, sizeof(body), ": %d", status);
    net_http_conn_warn(c, body, why);
    if (req->active) {
        net_http_close_fn *cb = req->close_cb;

        req->active = false;
        req->close_cb = NULL;
        if (cb != NULL)
            cb(req, status == 503 ? DF_ETIMEDOUT : DF_EPROTO, req->close_arg);
    }
    n = snprintf(body, sizeof(body), "%d %s\n", status, net_http_reason(status));
    evbuffer_drain(req->resp_headers, evbuffer_get_length(req->resp_headers));
    req->head.keep_alive = false;
    net_http_resp_head(req, bufferevent_get_output(c->bev), status, "text/plain", n);
    req->keep_alive = false;
    if (!req->no_body)
        evbuffer_add(bufferevent_get_output(c->bev), body, (size_t)n);
    net_http_resp_ended(req);
}

/* Deadline for the current state; 0 when the state has none (CLOSING). */
static int64_t
net_http_conn_deadline(const struct net_http_conn *c)
{
    const struct net_http_server_opts *o = &c->srv->opts;
    int64_t d = 0, r = c->req_deadline;

    switch (c->state) {
    case NET_HTTP_CONN_HEAD:
        d = c->head_deadline;
        break;
    case NET_HTTP_CONN_BODY:
        d = c->last_read + o->body_timeout_ms;
        break;
    case NET_HTTP_CONN_HANDLER:
        d = c->req.body_state == NET_HTTP_RBODY_READING ? c->last_read + o->body_timeout_ms : r;
        break;
    case NET_HTTP_CONN_SEND:
        /* Waiting on the handler to write is bounded by the request deadline alone. */
        d = net_http_out_len(c) > 0 ? c->last_write + o->send_timeout_ms : r;
        break;
    case NET_HTTP_CONN_IDLE:
        return c->state_since + o->idle_timeout_ms;
    case NET_HTTP_CONN_LINGER:
        return c->state_since + NET_HTTP_LINGER_MS;
    default:
        return 0;
    }
    return r != 0 && r < d ? r : d;
}

static void
net_http_conn_arm(struct net_http_conn *c)
{
    int64_t d = net_http_conn_deadline(c), left;
    struct timeval tv;

    if (d == 0)
        return;
    left = d - (int64_t)df_time_mono_ms();
    if (left < 0)
        left = 0;
    tv.tv_sec = (time_t)(left / 1000);
    tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
    evtimer_add(c->timer, &tv);
}

static void
net_http_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_http_conn *c = arg;
    int64_t d = net_http_conn_deadline(c);

    (void)fd;
    (void)what;
    if (d == 0)
        return;
    if ((int64_t)df_time_mono_ms() < d) {
        net_http_conn_arm(c); /* progress moved the deadline */
        return;
    }
    switch (c->state) {
    case NET_HTTP_CONN_IDLE:
        net_http_conn_close(c, 0, "keep-alive idle timeout");
        break;
    case NET_HTTP_CONN_LINGER:
        net_http_conn_close(c, 0, "linger done");
        break;
    case NET_HTTP_CONN_HEAD:
        net_http_conn_close(c, DF_ETIMEDOUT, "request head timeout");
        break;
    case NET_HTTP_CONN_HANDLER:
        if (c->req.body_state == NET_HTTP_RBODY_READING) {
            net_http_conn_close(c, DF_ETIMEDOUT, "request body timeout");
            break;
        }
        net_http_conn_error(c, 503, "request timeout waiting for the handler");
        break;
    case NET_HTTP_CONN_BODY:
        net_http_conn_close(c, DF_ETIMEDOUT, "request body timeout");
        break;
    default:
        net_http_conn_close(c, DF_ETIMEDOUT,
                            net_http_out_len(c) > 0 ? "send timeout" : "request timeout");
        break;
    }
}

/* Pull the request body out of the input: into req->body, or offered to body_cb. */
static void
net_http_conn_read_body(struct net_http_conn *c)
{
    struct net_http_req *req = &c->req;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    uint64_t max = c->srv->opts.max_body;
    bool done = false;
    int rv = 0;

    while (!done && evbuffer_get_length(in) > 0) {
        size_t n = evbuffer_get_length(in);

        if (req->head.body == NET_HTTP_BODY_LENGTH) {
            if (n > req->body_left)
                n = (size_t)req->body_left;
            evbuffer_remove_buffer(in, req->body, n);
            req->body_left -= n;
            req->body_bytes += n;
            done = req->body_left == 0;
        } else {
            struct evbuffer_iovec v;
            size_t used, doff, dlen;

            if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
                break;
            rv = net_http_chunked_next(&req->chunked, v.iov_base, v.iov_len, &used, &doff, &dlen);
            if (rv < 0)
                break;
            /* framing before the data, the data, framing when there was no data */
            evbuffer_drain(in, doff);
            evbuffer_remove_buffer(in, req->body, dlen);
            evbuffer_drain(in, used - doff - dlen);
            req->body_bytes += dlen;
            done = rv == 1;
            rv = 0;
        }
        if (req->body_bytes > max) {
            rv = DF_ETOOBIG;
            break;
        }
        /* A streaming consumer that keeps data back gets no more until it drains. */
        if (req->body_cb != NULL && evbuffer_get_length(req->body) >= c->srv->opts.out_high_water)
            break;
    }
    if (rv != 0) {
        req->body_state = NET_HTTP_RBODY_DONE; /* nothing more will be read */
        if (req->body_cb != NULL)
            req->body_cb(req, NULL, rv, req->body_arg);
        if (c->state == NET_HTTP_CONN_CLOSING)
            return;
        net_http_conn_error(c, rv == DF_ETOOBIG ? 413 : 400,
                            rv == DF_ETOOBIG ? "request body too large" : "bad chunked body");
        return;
    }
    if (done)
        req->body_state = NET_HTTP_RBODY_DONE;
    if (req->body_cb != NULL) {
        if (evbuffer_get_length(req->body) > 0)
            req->body_cb(req, req->body, 0, req->body_arg);
        if (c->state == NET_HTTP_CONN_CLOSING || req->body_cb == NULL)
            return;
        if (done)
            req->body_cb(req, NULL, 0, req->body_arg);
        return;
    }
    if (done && c->state == NET_HTTP_CONN_BODY) {
        net_http_conn_set_state(c, NET_HTTP_CONN_HANDLER);
        net_http_conn_arm(c);
        req->active = true;
        c->srv->handler(req, c->srv->arg);
    }
}

/* A head arrived: check the body framing against the limits, then hand over. */
static void
net_http_conn_begin(struct net_http_conn *c)
{
    struct net_http_server *srv = c->srv;
    struct net_http_req *req = &c->req;
    struct net_http_head *h = &req->head;

    c->nrequests++;
    c->req_deadline = c->state_since + srv->opts.request_timeout_ms;
    if (h->body == NET_HTTP_BODY_LENGTH && h->content_length > srv->opts.max_body) {
        net_http_conn_error(c, 413, "request body too large");
        return;
    }
    if (h->body == NET_HTTP_BODY_CHUNKED)
        net_http_chunked_init(&req->chunked, 0);
    req->body_left = h->content_length;
    req->body_state = h->body == NET_HTTP_BODY_NONE ? NET_HTTP_RBODY_NONE : NET_HTTP_RBODY_PENDING;
    if (req->body_state == NET_HTTP_RBODY_NONE || srv->opts.stream_body) {
        net_http_conn_set_state(c, NET_HTTP_CONN_HANDLER);
        net_http_conn_arm(c);
        req->active = true;
        srv->handler(req, srv->arg);
        return;
    }
    if (h->expect_continue)
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    req->body_state = NET_HTTP_RBODY_READING;
    net_http_conn_set_state(c, NET_HTTP_CONN_BODY);
    c->last_read = df_time_mono_ms();
    net_http_conn_arm(c);
    net_http_conn_read_body(c);
}

/* Act on the input according to the state. */
static void
net_http_conn_process(struct net_http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct net_http_req *req = &c->req;
    size_t len, used;
    char *p;
    int rv;

    switch (c->state) {
    case NET_HTTP_CONN_IDLE:
        if (evbuffer_get_length(in) == 0)
            return;
        net_http_conn_set_state(c, NET_HTTP_CONN_HEAD);
        c->head_deadline = c->state_since + c->srv->opts.header_timeout_ms;
        net_http_parser_init(&c->parser, NET_HTTP_REQUEST, &c->srv->opts.limits);
        net_http_conn_arm(c);
        /* FALLTHROUGH */
    case NET_HTTP_CONN_HEAD:
        len = evbuffer_get_length(in);
        if (len == 0)
            return;
        if (len > c->srv->opts.limits.max_head_bytes + 64)
            len = c->srv->opts.limits.max_head_bytes + 64;
        p = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
        if (c->nrequests == 0 && p[0] == 0x16) {
            /* A TLS handshake record: a client trying https first (skopeo and containerd
             * do against a mirror) gets a closed connection, not a text reply, and no
             * warning. */
            net_http_conn_close(c, DF_ECLOSED, "a TLS handshake on a plaintext port");
            return;
        }
        rv = net_http_parse_head(&c->parser, p, len, &req->head, &used);
        if (rv == DF_EAGAIN)
            return;
        if (rv != 0) {
            net_http_conn_error(c, c->parser.status_hint != 0 ? c->parser.status_hint : 400,
                                rv == DF_ETOOBIG ? "request head too large"
                                                 : "malformed request head");
            return;
        }
        evbuffer_drain(in, used);
        net_http_conn_begin(c);
        return;
    case NET_HTTP_CONN_BODY:
        net_http_conn_read_body(c);
        return;
    case NET_HTTP_CONN_HANDLER:
    case NET_HTTP_CONN_SEND:
        if (req->body_state == NET_HTTP_RBODY_READING)
            net_http_conn_read_body(c);
        return;
    case NET_HTTP_CONN_LINGER:
        len = evbuffer_get_length(in);
        c->linger_bytes += len;
        evbuffer_drain(in, len);
        if (c->linger_bytes > NET_HTTP_LINGER_BYTES)
            net_http_conn_close(c, 0, "linger limit");
        return;
    default:
        return;
    }
}

/* The response has been flushed: next request, or close. */
static void
net_http_conn_finish(struct net_http_conn *c)
{
    struct net_http_req *req = &c->req;
    int fd;

    if (req->keep_alive) {
        net_http_req_reset(req);
        net_http_conn_set_state(c, NET_HTTP_CONN_IDLE);
        net_http_conn_arm(c);
        net_http_conn_process(c);
        return;
    }
    net_http_conn_set_state(c, NET_HTTP_CONN_LINGER);
    /*
     * Read and discard what the client still sends, so that closing with unread input
     * does not reset the connection and destroy the response before it is read. On a
     * plain socket our side is shut down at once, so the client sees EOF; over TLS we send
     * close_notify, which ends a close-delimited body without waiting out the linger.
     */
    fd = (int)bufferevent_getfd(c->bev);
    if (bufferevent_get_underlying(c->bev) == NULL && fd >= 0)
        shutdown(fd, SHUT_WR);
    else if (net_tls_is_tls(c->bev))
        bufferevent_flush(c->bev, EV_WRITE, BEV_FINISHED);
    bufferevent_enable(c->bev, EV_READ);
    net_http_conn_arm(c);
    net_http_conn_process(c);
}

/* Queue file slices while the output is below the high watermark. */
static void
net_http_resp_feed_file(struct net_http_req *req)
{
    struct net_http_conn *c = req->conn;
    struct evbuffer *out = bufferevent_get_output(c->bev);

    while (req->seg_left > 0 && evbuffer_get_length(out) < c->srv->opts.out_high_water) {
        uint64_t n = c->srv->opts.out_high_water;

        if (n > NET_HTTP_FILE_SLICE)
            n = NET_HTTP_FILE_SLICE;
        if (n > req->seg_left)
            n = req->seg_left;

        if (evbuffer_add_file_segment(out, req->seg, (ev_off_t)req->seg_off, (ev_off_t)n) != 0) {
            net_http_conn_close(c, DF_EIO, "file response failed");
            return;
        }
        req->seg_off += n;
        req->seg_left -= n;
    }
    if (req->seg_left == 0)
        net_http_resp_ended(req);
}

static void
net_http_conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_http_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == NET_HTTP_CONN_SEND && c->req.resp_state == NET_HTTP_RESP_ENDED &&
        net_http_out_len(c) == 0) {
        net_http_conn_finish(c);
        return;
    }
    net_http_conn_process(c);
}

static void
net_http_conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct net_http_conn *c = arg;

    (void)bev;
    c->last_read = df_time_mono_ms();
    net_http_conn_process(c);
}

static void
net_http_conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct net_http_conn *c = arg;
    struct net_http_req *req = &c->req;

    (void)bev;
    if (c->state != NET_HTTP_CONN_SEND)
        return;
    switch (req->resp_state) {
    case NET_HTTP_RESP_ENDED:
        if (net_http_out_len(c) == 0)
            net_http_conn_finish(c);
        return;
    case NET_HTTP_RESP_FILE:
        net_http_resp_feed_file(req);
        return;
    case NET_HTTP_RESP_STREAM:
        if (req->more != NULL && net_http_out_len(c) < c->srv->opts.out_high_water / 2)
            req->more(req, req->more_arg);
        return;
    default:
        return;
    }
}

static void
net_http_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct net_http_conn *c = arg;
    bool quiet;

    (void)bev;
    /* EOF between requests or while lingering is how connections normally end. */
    quiet = c->state == NET_HTTP_CONN_IDLE || c->state == NET_HTTP_CONN_LINGER ||
            (c->state == NET_HTTP_CONN_HEAD &&
             evbuffer_get_length(bufferevent_get_input(bev)) == 0);
    if ((what & BEV_EVENT_EOF) && c->state == NET_HTTP_CONN_SEND &&
        (c->req.body_state == NET_HTTP_RBODY_NONE || c->req.body_state == NET_HTTP_RBODY_DONE)) {
        /* Maybe only a half-close: finish the response (a write error ends it otherwise). */
        c->req.keep_alive = false;
        return;
    }
    if (what & BEV_EVENT_EOF)
        net_http_conn_close(c, quiet ? 0 : DF_ECLOSED, "closed by the client");
    else if (what & BEV_EVENT_ERROR)
        net_http_conn_close(c, quiet ? 0 : DF_ECLOSED,
                            errno == ECONNRESET ? "reset by the client" : "connection error");
    else if (what & BEV_EVENT_TIMEOUT)
        net_http_conn_close(c, DF_ETIMEDOUT, "bufferevent timeout");
}

/* Track output progress for the send timeout (the buffer only tells how much drained). */
static void
net_http_conn_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct net_http_conn *c = arg;

    (void)buf;
    /* Drained bytes are progress; the send clock also starts when an empty buffer fills. */
    if (info->n_deleted > 0 || (info->orig_size == 0 && info->n_added > 0))
        c->last_write = df_time_mono_ms();
}

int
net_http_server_new(struct event_base *base, const struct net_http_server_opts *opts,
                    net_http_handler_fn *handler, void *arg, struct net_http_server **out)
{
    struct net_http_server *srv;
    struct net_http_server_opts *o;
    struct net_http_parser p;

    if (handler == NULL)
        return DF_EINVAL;
    srv = xcalloc(1, sizeof(*srv));
    srv->base = base;
    if (opts != NULL)
        srv->opts = *opts;
    o = &srv->opts;
    net_http_parser_init(&p, NET_HTTP_REQUEST, &o->limits);
    o->limits = p.lim;
    if (o->max_body == 0)
        o->max_body = 1u << 20;
    if (o->header_timeout_ms <= 0)
        o->header_timeout_ms = 10000;
    if (o->body_timeout_ms <= 0)
        o->body_timeout_ms = 30000;
    if (o->send_timeout_ms <= 0)
        o->send_timeout_ms = 30000;
    if (o->request_timeout_ms <= 0)
        o->request_timeout_ms = 300000;
    if (o->idle_timeout_ms <= 0)
        o->idle_timeout_ms = 60000;
    if (o->max_conns == 0)
        o->max_conns = 1024;
    if (o->max_conns_per_ip == 0)
        o->max_conns_per_ip = 64;
    if (o->out_high_water == 0)
        o->out_high_water = 256u << 10;
    snprintf(srv->name, sizeof(srv->name), "%s", o->name != NULL ? o->name : "http");
    o->name = NULL;
    srv->handler = handler;
    srv->arg = arg;
    TAILQ_INIT(&srv->conns);
    TAILQ_INIT(&srv->dead);
    srv->reaper = evtimer_new(base, net_http_server_reap_cb, srv);
    srv->stage = evbuffer_new();
    if (srv->reaper == NULL || srv->stage == NULL) {
        if (srv->reaper != NULL)
            event_free(srv->reaper);
        if (srv->stage != NULL)
            evbuffer_free(srv->stage);
        free(srv);
        return DF_ENOMEM;
    }
    *out = srv;
    return 0;
}

/* Log a refused connection, at most once per second. */
static void
net_http_server_refused(struct net_http_server *srv, const char *peer, const char *why)
{
    uint64_t suppressed = 0;

    if (net_ratelim_log_allow(&srv->refuse_log, df_time_mono_ms(), 1000, &suppressed))
        log_warnx("http: %s: connection from %s refused: %s (%" PRIu64 " more refused)", srv->name,
                  peer != NULL ? peer : "?", why, suppressed);
}

/* Connections from ip now open. */
static unsigned
net_http_server_ip_count(const struct net_http_server *srv, const struct net_addr_ip *ip)
{
    const struct net_http_conn *c;
    unsigned n = 0;

    TAILQ_FOREACH (c, &srv->conns, entry) {
        if (c->has_ip && net_addr_ip_is_equal(&c->ip, ip))
            n++;
    }
    return n;
}

/* net_http_server_adopt() with the client IP to count against the per-IP cap (or NULL). */
static int
net_http_server_adopt_ip(struct net_http_server *srv, struct bufferevent *bev, const char *peer,
                         const struct net_addr_ip *ip)
{
    struct net_http_conn *c;
    char why[64];

    if (srv->nconns >= srv->opts.max_conns) {
        snprintf(why, sizeof(why), "%u connections", srv->nconns);
        net_http_server_refused(srv, peer, why);
        bufferevent_free(bev);
        return DF_ELIMIT;
    }
    if (ip != NULL && net_http_server_ip_count(srv, ip) >= srv->opts.max_conns_per_ip) {
        snprintf(why, sizeof(why), "%u connections from that address", srv->opts.max_conns_per_ip);
        net_http_server_refused(srv, peer, why);
        bufferevent_free(bev);
        return DF_ELIMIT;
    }
    c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->bev = bev;
    if (ip != NULL) {
        c->has_ip = true;
        c->ip = *ip;
    }
    snprintf(c->peer, sizeof(c->peer), "%s", peer != NULL ? peer : "?");
    c->req.conn = c;
    c->req.body = evbuffer_new();
    c->req.resp_headers = evbuffer_new();
    c->timer = evtimer_new(srv->base, net_http_conn_timer_cb, c);
    c->kick = evtimer_new(srv->base, net_http_conn_kick_cb, c);
    if (c->req.body == NULL || c->req.resp_headers == NULL || c->timer == NULL || c->kick == NULL) {
        net_http_conn_free(c);
        return DF_ENOMEM;
    }
    TAILQ_INSERT_TAIL(&srv->conns, c, entry);
    srv->nconns++;
    /* A new connection owes its first head within the header timeout. */
    c->state = NET_HTTP_CONN_HEAD;
    c->state_since = df_time_mono_ms();
    c->head_deadline = c->state_since + srv->opts.header_timeout_ms;
    net_http_parser_init(&c->parser, NET_HTTP_REQUEST, &srv->opts.limits);
    evbuffer_add_cb(bufferevent_get_output(bev), net_http_conn_out_cb, c);
    bufferevent_setcb(bev, net_http_conn_read_cb, net_http_conn_write_cb, net_http_conn_event_cb,
                      c);
    /* Bound the input: a head plus slack; bodies are moved out as they arrive. */
    bufferevent_setwatermark(bev, EV_READ, 0, srv->opts.limits.max_head_bytes + 16384);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    net_http_conn_arm(c);
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        net_http_conn_kick(c);
    return 0;
}

void
net_http_server_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct net_http_server *srv = arg;
    struct bufferevent *bev;
    struct net_addr_ip ip;
    bool has_ip = net_addr_ip_from(peer, peerlen, &ip);
    char addr[64];

    net_addr_format(peer, peerlen, addr, sizeof(addr));
    bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        log_warnx("http: %s: connection from %s dropped: out of memory", srv->name, addr);
        close(fd);
        return;
    }
    net_http_server_adopt_ip(srv, bev, addr, has_ip ? &ip : NULL);
}

int
net_http_server_adopt(struct net_http_server *srv, struct bufferevent *bev, const char *peer)
{
    return net_http_server_adopt_ip(srv, bev, peer, NULL);
}

unsigned
net_http_server_conn_count(const struct net_http_server *srv)
{
    return srv->nconns;
}

void
net_http_server_free(struct net_http_server *srv)
{
    struct net_http_conn *c;

    if (srv == NULL)
        return;
    while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
        net_http_conn_close(c, DF_ECANCELED, "server shutting down");
    net_http_server_reap_cb(-1, 0, srv);
    event_free(srv->reaper);
    evbuffer_free(srv->stage);
    free(srv);
}

const struct net_http_head *
net_http_req_head(const struct net_http_req *req)
{
    return &req->head;
}

const char *
net_http_req_method(const struct net_http_req *req)
{
    return req->head.method;
}

const char *
net_http_req_path(const struct net_http_req *req)
{
    return req->head.path;
}

const char *
net_http_req_query(const struct net_http_req *req)
{
    return req->head.query;
}

const char *
net_http_req_header(const struct net_http_req *req, const char *name)
{
    return net_http_head_get(&req->head, name);
}

const char *
net_http_req_peer(const struct net_http_req *req)
{
    return req->conn->peer;
}

struct evbuffer *
net_http_req_body(struct net_http_req *req)
{
    return req->body;
}

int
net_http_req_read_body(struct net_http_req *req, net_http_body_fn *cb, void *arg)
{
    struct net_http_conn *c = req->conn;

    if (req->body_state == NET_HTTP_RBODY_NONE) {
        cb(req, NULL, 0, arg);
        return 0;
    }
    if (req->body_state != NET_HTTP_RBODY_PENDING || cb == NULL)
        return DF_EINVAL;
    req->body_cb = cb;
    req->body_arg = arg;
    req->body_state = NET_HTTP_RBODY_READING;
    if (req->head.expect_continue && req->resp_state == NET_HTTP_RESP_NONE)
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    c->last_read = df_time_mono_ms();
    net_http_conn_arm(c);
    net_http_conn_kick(c);
    return 0;
}

void
net_http_req_on_close(struct net_http_req *req, net_http_close_fn *cb, void *arg)
{
    req->close_cb = cb;
    req->close_arg = arg;
}

void
net_http_req_on_respond(struct net_http_req *req, net_http_respond_fn *cb, void *arg)
{
    req->respond_cb = cb;
    req->respond_arg = arg;
}

int
net_http_req_add_header(struct net_http_req *req, const char *name, const char *value)
{
    if (req->resp_state != NET_HTTP_RESP_NONE || !net_http_is_token(name, strlen(name)) ||
        !net_http_is_field_value(value))
        return DF_EINVAL;
    evbuffer_add_printf(req->resp_headers, "%s: %s\r\n", name, value);
    return 0;
}

/* A response may start once, from the handler's side of the request. */
static bool
net_http_req_can_start(const struct net_http_req *req)
{
    return req->active && req->resp_state == NET_HTTP_RESP_NONE &&
           req->conn->state != NET_HTTP_CONN_CLOSING;
}

int
net_http_req_respond(struct net_http_req *req, int status, const char *ctype, const void *body,
                     size_t len)
{
    struct evbuffer *stage = req->conn->srv->stage;

    if (!net_http_req_can_start(req) || len > INT64_MAX)
        return DF_EINVAL;
    net_http_resp_head(req, stage, status, ctype, (int64_t)len);
    if (!req->no_body && len > 0)
        evbuffer_add(stage, body, len);
    net_bev_write_now(req->conn->bev, stage);
    net_http_resp_ended(req);
    return 0;
}

int
net_http_req_respond_buffer(struct net_http_req *req, int status, const char *ctype,
                            struct evbuffer *body)
{
    struct evbuffer *stage = req->conn->srv->stage;
    size_t len = evbuffer_get_length(body);

    if (!net_http_req_can_start(req) || len > INT64_MAX)
        return DF_EINVAL;
    net_http_resp_head(req, stage, status, ctype, (int64_t)len);
    if (!req->no_body)
        evbuffer_add_buffer(stage, body);
    else
        evbuffer_drain(body, len);
    net_bev_write_now(req->conn->bev, stage);
    net_http_resp_ended(req);
    return 0;
}

int
net_http_req_respond_file(struct net_http_req *req, int status, const char *ctype, int fd,
                          uint64_t offset, uint64_t len)
{
    struct evbuffer_file_segment *seg = NULL;

    if (!net_http_req_can_start(req) || len > INT64_MAX || offset > INT64_MAX - len) {
        close(fd);
        return DF_EINVAL;
    }
    if (len > 0) {
        /* The segment owns fd from here; slices of it go out as the output drains. */
        seg = evbuffer_file_segment_new(fd, (ev_off_t)offset, (ev_off_t)len,
                                        EVBUF_FS_CLOSE_ON_FREE);
        if (seg == NULL) {
            close(fd);
            req->active = false; /* the handler learns from the return value */
            net_http_conn_error(req->conn, 500, "cannot map the response file");
            return DF_EIO;
        }
    } else
        close(fd);
    net_http_resp_head(req, bufferevent_get_output(req->conn->bev), status, ctype, (int64_t)len);
    if (req->no_body || seg == NULL) {
        if (seg != NULL)
            evbuffer_file_segment_free(seg);
        net_http_resp_ended(req);
        return 0;
    }
    req->seg = seg;
    req->seg_off = 0;
    req->seg_left = len;
    req->resp_state = NET_HTTP_RESP_FILE;
    bufferevent_setwatermark(req->conn->bev, EV_WRITE, req->conn->srv->opts.out_high_water / 2, 0);
    net_http_resp_feed_file(req);
    return 0;
}

int
net_http_req_start(struct net_http_req *req, int status, const char *ctype, int64_t length,
                   net_http_more_fn *more, void *arg)
{
    if (!net_http_req_can_start(req))
        return DF_EINVAL;
    net_http_resp_head(req, bufferevent_get_output(req->conn->bev), status, ctype,
                       length < 0 ? -1 : length);
    req->resp_state = NET_HTTP_RESP_STREAM;
    req->more = more;
    req->more_arg = arg;
    bufferevent_setwatermark(req->conn->bev, EV_WRITE, req->conn->srv->opts.out_high_water / 2, 0);
    return 0;
}

/*
 * Account for len body bytes about to be queued. Returns 1 to queue them, 0 to drop them
 * (HEAD, 204, 304), or a negative code (the connection is closed on overrun).
 */
static int
net_http_req_write_check(struct net_http_req *req, size_t len)
{
    struct net_http_conn *c = req->conn;

    if (req->resp_state != NET_HTTP_RESP_STREAM || c->state == NET_HTTP_CONN_CLOSING)
        return DF_EINVAL;
    if (len == 0 || req->no_body)
        return 0;
    if (req->has_length) {
        if (len > req->resp_left) {
            net_http_conn_close(c, DF_ETOOBIG, "handler wrote past Content-Length");
            return DF_ETOOBIG;
        }
        req->resp_left -= len;
    }
    if (req->chunked_out)
        evbuffer_add_printf(bufferevent_get_output(c->bev), "%zx\r\n", len);
    return 1;
}

int
net_http_req_write_buffer(struct net_http_req *req, struct evbuffer *buf)
{
    struct evbuffer *out = bufferevent_get_output(req->conn->bev);
    size_t len = evbuffer_get_length(buf);
    int rv = net_http_req_write_check(req, len);

    if (rv <= 0) {
        if (rv == 0)
            evbuffer_drain(buf, len);
        return rv;
    }
    evbuffer_add_buffer(out, buf);
    if (req->chunked_out)
        evbuffer_add(out, "\r\n", 2);
    return 0;
}

int
net_http_req_write_file(struct net_http_req *req, struct evbuffer_file_segment *seg, uint64_t off,
                        uint64_t len)
{
    struct evbuffer *out = bufferevent_get_output(req->conn->bev);
    int rv;

    if (len > INT64_MAX || off > INT64_MAX - len)
        return DF_EINVAL;
    if ((rv = net_http_req_write_check(req, (size_t)len)) <= 0)
        return rv;
    if (evbuffer_add_file_segment(out, seg, (ev_off_t)off, (ev_off_t)len) != 0)
        return DF_EIO; /* nothing queued; the caller aborts with net_http_req_end */
    if (req->chunked_out)
        evbuffer_add(out, "\r\n", 2);
    return 0;
}

int
net_http_req_write(struct net_http_req *req, const void *data, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(req->conn->bev);
    int rv = net_http_req_write_check(req, len);

    if (rv <= 0)
        return rv;
    evbuffer_add(out, data, len);
    if (req->chunked_out)
        evbuffer_add(out, "\r\n", 2);
    return 0;
}

int
net_http_req_end(struct net_http_req *req, int rv)
{
    struct net_http_conn *c = req->conn;

    if (req->resp_state != NET_HTTP_RESP_STREAM || c->state == NET_HTTP_CONN_CLOSING)
        return DF_EINVAL;
    if (rv == 0 && req->has_length && req->resp_left > 0 && !req->no_body)
        rv = DF_EPROTO;
    if (rv != 0) {
        /*
         * Flush what is queued, without a final chunk, then close: the client sees a
         * truncated body, never a complete one.
         */
        log_warnx("http: %s conn %s: response aborted: %s", c->srv->name, c->peer, df_strerror(rv));
        req->keep_alive = false;
        net_http_resp_ended(req);
        return 0;
    }
    if (req->chunked_out)
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    net_http_resp_ended(req);
    return 0;
}

bool
net_http_req_is_congested(const struct net_http_req *req)
{
    return req->conn->state == NET_HTTP_CONN_CLOSING ||
           net_http_out_len(req->conn) >= req->conn->srv->opts.out_high_water;
}

int
net_http_req_target(const struct net_http_req *req, struct net_http_target *out)
{
    return net_http_target_parse(req->head.target, strcmp(req->head.method, "CONNECT") == 0, out);
}

int
net_http_req_take_over(struct net_http_req *req, struct bufferevent **out)
{
    struct net_http_conn *c = req->conn;
    struct bufferevent *bev = c->bev;

    if (!req->active || c->state != NET_HTTP_CONN_HANDLER ||
        req->resp_state != NET_HTTP_RESP_NONE ||
        (req->body_state != NET_HTTP_RBODY_NONE && req->body_state != NET_HTTP_RBODY_DONE))
        return DF_EINVAL;
    /* The handler owns req: no close callback for a connection it takes. */
    req->active = false;
    req->close_cb = NULL;
    evbuffer_remove_cb(bufferevent_get_output(bev), net_http_conn_out_cb, c);
    net_http_conn_close(c, 0, "taken over by the handler");
    bufferevent_setwatermark(bev, EV_READ | EV_WRITE, 0, 0);
    c->bev = NULL; /* the reaper frees the rest */
    *out = bev;
    return 0;
}
