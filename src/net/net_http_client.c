/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 client connection. The response is parsed from the bufferevent's input: the
 * head with net_http_parse_head, the body by its framing (length, chunked, until EOF) into
 * a delivery buffer that the caller drains. Reading stops while the caller is paused or
 * leaves more than the high watermark undelivered. One timer enforces the head, idle and
 * total deadlines. Callers may free the client from any callback: entry points count their
 * depth and the last one out frees.
 */
#include "df/net_http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/net_bev.h"
#include "df/xmalloc.h"

/*
 * Client states:
 *
 *   IDLE --request--> HEAD --final head--> BODY --body complete--> IDLE (reusable)
 *   HEAD --head without body--> IDLE
 *   HEAD/BODY --error, timeout, EOF, not persistent--> DEAD
 *   IDLE --EOF or unexpected bytes--> DEAD
 *
 * net_http_client_set_state() is the only writer; DEAD is final.
 */
enum net_http_client_state {
    NET_HTTP_CLIENT_IDLE = 0,
    NET_HTTP_CLIENT_HEAD,
    NET_HTTP_CLIENT_BODY,
    NET_HTTP_CLIENT_DEAD,
};

static const char *const net_http_client_state_names[] = {"idle", "head", "body", "dead"};

struct net_http_client {
    struct bufferevent *bev;
    struct event *timer;
    struct event *kick;
    struct net_http_client_opts opts;
    enum net_http_client_state state;
    struct net_http_parser parser;
    struct net_http_head head;
    struct net_http_chunked chunked;
    struct evbuffer *body; /* decoded bytes not yet taken by the caller */
    uint64_t body_left;    /* Content-Length bodies */
    uint64_t body_bytes;
    bool no_body; /* HEAD request */
    bool paused;
    bool got_bytes; /* any response byte for this request */
    bool eof;       /* the server closed; what is buffered is all there is */
    struct net_http_client_cbs cbs;
    void *arg;
    int64_t sent_at, last_byte, total_deadline;
    int depth;  /* entry points on the stack */
    bool freed; /* net_http_client_free called while depth > 0 */
};

#define net_http_client_set_state(c, s) net_http_client_set_state_at((c), (s), __LINE__)

static void
net_http_client_set_state_at(struct net_http_client *c, enum net_http_client_state to, int line)
{
    enum net_http_client_state from = c->state;
    bool ok;

    switch (to) {
    case NET_HTTP_CLIENT_IDLE:
        ok = from == NET_HTTP_CLIENT_HEAD || from == NET_HTTP_CLIENT_BODY;
        break;
    case NET_HTTP_CLIENT_HEAD:
        ok = from == NET_HTTP_CLIENT_IDLE;
        break;
    case NET_HTTP_CLIENT_BODY:
        ok = from == NET_HTTP_CLIENT_HEAD;
        break;
    case NET_HTTP_CLIENT_DEAD:
        ok = from != NET_HTTP_CLIENT_DEAD;
        break;
    default:
        ok = false;
        break;
    }
    DF_ASSERT(ok);
    log_debug("http", "http: client %p: %s -> %s (line %d)", (void *)c,
              net_http_client_state_names[from], net_http_client_state_names[to], line);
    c->state = to;
}

static void
net_http_client_destroy(struct net_http_client *c)
{
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->kick != NULL)
        event_free(c->kick);
    if (c->body != NULL)
        evbuffer_free(c->body);
    net_http_head_reset(&c->head);
    free(c);
}

static void
net_http_client_enter(struct net_http_client *c)
{
    c->depth++;
}

/* Leave an entry point; returns true if the client is gone. */
static bool
net_http_client_leave(struct net_http_client *c)
{
    if (--c->depth == 0 && c->freed) {
        net_http_client_destroy(c);
        return true;
    }
    return false;
}

static void
net_http_client_arm(struct net_http_client *c)
{
    int64_t d = 0, left;
    struct timeval tv;

    if (c->state == NET_HTTP_CLIENT_HEAD || c->state == NET_HTTP_CLIENT_BODY) {
        if (!c->paused)
            d = c->last_byte + c->opts.idle_timeout_ms;
        if (c->state == NET_HTTP_CLIENT_HEAD && c->sent_at + c->opts.head_timeout_ms < d)
            d = c->sent_at + c->opts.head_timeout_ms;
        if (c->total_deadline != 0 && (d == 0 || c->total_deadline < d))
            d = c->total_deadline;
    }
    if (d == 0) {
        event_del(c->timer);
        return;
    }
    left = d - (int64_t)df_time_mono_ms();
    if (left < 0)
        left = 0;
    tv.tv_sec = (time_t)(left / 1000);
    tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
    evtimer_add(c->timer, &tv);
}

/*
 * End the current request: the state goes to IDLE (rv == 0, persistent, nothing extra in
 * the input) or DEAD, then the end callback runs.
 */
static void
net_http_client_finish(struct net_http_client *c, int rv)
{
    net_http_client_end_fn *end = c->cbs.on_end;
    void *arg = c->arg;

    if (c->state != NET_HTTP_CLIENT_HEAD && c->state != NET_HTTP_CLIENT_BODY)
        return;
    if (rv == 0 && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        rv = DF_EPROTO; /* bytes after the message: a lying or smuggling server */
    if (rv == 0 && c->head.keep_alive && !c->eof) {
        net_http_client_set_state(c, NET_HTTP_CLIENT_IDLE);
        c->paused = false;
        bufferevent_enable(c->bev, EV_READ); /* notice the server closing while idle */
    } else {
        net_http_client_set_state(c, NET_HTTP_CLIENT_DEAD);
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    }
    if (rv != 0)
        log_debug("http", "http: client %p: request failed: %s", (void *)c, df_strerror(rv));
    event_del(c->timer);
    memset(&c->cbs, 0, sizeof(c->cbs));
    c->arg = NULL;
    end(c, rv, arg);
}

/* Offer the decoded body to the caller. Returns <0 when the request ended. */
static int
net_http_client_deliver(struct net_http_client *c)
{
    int rv;

    if (c->paused || evbuffer_get_length(c->body) == 0)
        return 0;
    if (c->cbs.on_data == NULL) {
        evbuffer_drain(c->body, evbuffer_get_length(c->body));
        return 0;
    }
    rv = c->cbs.on_data(c, c->body, c->arg);
    if (c->freed)
        return -1;
    if (rv != 0) {
        net_http_client_finish(c, rv);
        return -1;
    }
    return 0;
}

/* Move body bytes from the input into c->body per the framing. Returns 1 at the end. */
static int
net_http_client_read_body(struct net_http_client *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t hw = c->opts.body_high_water;
    int rv = 0;

    while (evbuffer_get_length(in) > 0 && evbuffer_get_length(c->body) < hw) {
        size_t n = evbuffer_get_length(in), room = hw - evbuffer_get_length(c->body);

        if (c->head.body == NET_HTTP_BODY_CHUNKED) {
            struct evbuffer_iovec v;
            size_t used, doff, dlen;

            if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
                break;
            if (v.iov_len > room)
                v.iov_len = room;
            rv = net_http_chunked_next(&c->chunked, v.iov_base, v.iov_len, &used, &doff, &dlen);
            if (rv < 0)
                return rv;
            evbuffer_drain(in, doff);
            evbuffer_remove_buffer(in, c->body, dlen);
            evbuffer_drain(in, used - doff - dlen);
            c->body_bytes += dlen;
            if (rv == 1)
                break;
        } else {
            if (n > room)
                n = room;
            if (c->head.body == NET_HTTP_BODY_LENGTH && n > c->body_left)
                n = (size_t)c->body_left;
            evbuffer_remove_buffer(in, c->body, n);
            c->body_bytes += n;
            if (c->head.body == NET_HTTP_BODY_LENGTH) {
                c->body_left -= n;
                if (c->body_left == 0)
                    break;
            }
        }
        if (c->opts.max_body != 0 && c->body_bytes > c->opts.max_body)
            return DF_ETOOBIG;
    }
    if (c->opts.max_body != 0 && c->body_bytes > c->opts.max_body)
        return DF_ETOOBIG;
    if (c->head.body == NET_HTTP_BODY_LENGTH)
        return c->body_left == 0 ? 1 : 0;
    if (c->head.body == NET_HTTP_BODY_CHUNKED)
        return net_http_chunked_is_done(&c->chunked) ? 1 : 0;
    return 0; /* until EOF */
}

/* Parse heads: skip interim responses, hand the final one over. Returns <0 if ended. */
static int
net_http_client_read_head(struct net_http_client *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len, used;
    char *p;
    int rv;

    for (;;) {
        len = evbuffer_get_length(in);
        if (len == 0)
            return 0;
        if (len > c->opts.limits.max_head_bytes + 64)
            len = c->opts.limits.max_head_bytes + 64;
        p = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
        rv = net_http_parse_head(&c->parser, p, len, &c->head, &used);
        if (rv == DF_EAGAIN)
            return 0;
        if (rv != 0) {
            net_http_client_finish(c, rv == DF_ETOOBIG ? DF_ETOOBIG : DF_EPROTO);
            return -1;
        }
        evbuffer_drain(in, used);
        if (c->head.status >= 200)
            break;
        if (c->head.status == 101) {
            net_http_client_finish(c, DF_EPROTO); /* we never ask to switch protocols */
            return -1;
        }
        net_http_head_reset(&c->head);
        net_http_parser_init(&c->parser, NET_HTTP_RESPONSE, &c->opts.limits);
        c->parser.no_body = c->no_body;
    }
    if (c->head.body == NET_HTTP_BODY_LENGTH && c->opts.max_body != 0 &&
        c->head.content_length > c->opts.max_body) {
        net_http_client_finish(c, DF_ETOOBIG);
        return -1;
    }
    if (c->cbs.on_head != NULL) {
        rv = c->cbs.on_head(c, &c->head, c->arg);
        if (c->freed)
            return -1;
        if (rv != 0) {
            net_http_client_finish(c, rv);
            return -1;
        }
    }
    if (c->head.body == NET_HTTP_BODY_NONE) {
        net_http_client_finish(c, 0);
        return -1;
    }
    c->body_left = c->head.content_length;
    if (c->head.body == NET_HTTP_BODY_CHUNKED)
        net_http_chunked_init(&c->chunked, 0);
    net_http_client_set_state(c, NET_HTTP_CLIENT_BODY);
    return 0;
}

/* Act on the input. Called inside an entry point; stops when the request ends. */
static void
net_http_client_process(struct net_http_client *c)
{
    int rv;

    switch (c->state) {
    case NET_HTTP_CLIENT_IDLE:
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
            log_debug("http", "http: client %p: unexpected bytes while idle", (void *)c);
            net_http_client_set_state(c, NET_HTTP_CLIENT_DEAD);
            bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        }
        return;
    case NET_HTTP_CLIENT_HEAD:
        if (net_http_client_read_head(c) < 0)
            return;
        if (c->state == NET_HTTP_CLIENT_HEAD) {
            /* Nothing at all: the server closed an idle connection under us. */
            if (c->eof)
                net_http_client_finish(c, c->got_bytes ? DF_EPROTO : DF_ECLOSED);
            return;
        }
        /* FALLTHROUGH */
    case NET_HTTP_CLIENT_BODY:
        for (;;) {
            /* What was decoded before an error is still delivered. */
            rv = net_http_client_read_body(c);
            if (net_http_client_deliver(c) < 0)
                return;
            if (rv < 0) {
                net_http_client_finish(c, rv);
                return;
            }
            if (rv == 1 && evbuffer_get_length(c->body) == 0) {
                net_http_client_finish(c, 0);
                return;
            }
            /* Go on while the caller keeps taking and input remains. */
            if (c->paused || rv == 1 || evbuffer_get_length(c->body) >= c->opts.body_high_water ||
                evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
                break;
        }
        if (c->eof && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
            /* A close-delimited body ends here once delivered; any other is truncated. */
            if (c->head.body != NET_HTTP_BODY_EOF)
                net_http_client_finish(c, DF_EPROTO);
            else if (evbuffer_get_length(c->body) == 0)
                net_http_client_finish(c, 0);
            return;
        }
        /* Backpressure: read only while the caller takes what it is given. */
        if (c->paused || evbuffer_get_length(c->body) >= c->opts.body_high_water)
            bufferevent_disable(c->bev, EV_READ);
        else
            bufferevent_enable(c->bev, EV_READ);
        return;
    default:
        return;
    }
}

static void
net_http_client_read_cb(struct bufferevent *bev, void *arg)
{
    struct net_http_client *c = arg;

    net_http_client_enter(c);
    if (!c->paused)
        net_bev_read_more(bev, c->opts.body_high_water);
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        c->got_bytes = true;
    c->last_byte = df_time_mono_ms();
    net_http_client_process(c);
    net_http_client_leave(c);
}

static void
net_http_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct net_http_client *c = arg;

    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    net_http_client_enter(c);
    switch (c->state) {
    case NET_HTTP_CLIENT_IDLE:
        net_http_client_set_state(c, NET_HTTP_CLIENT_DEAD);
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        break;
    case NET_HTTP_CLIENT_HEAD:
    case NET_HTTP_CLIENT_BODY:
        if (what & BEV_EVENT_ERROR) {
            net_http_client_finish(c, c->got_bytes ? DF_EPROTO : DF_ECLOSED);
            break;
        }
        /* What is buffered may still complete the response. */
        c->eof = true;
        c->head.keep_alive = false;
        net_http_client_process(c);
        break;
    default:
        break;
    }
    net_http_client_leave(c);
}

static void
net_http_client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_http_client *c = arg;
    int64_t now = df_time_mono_ms();
    bool expired;

    (void)fd;
    (void)what;
    if (c->state != NET_HTTP_CLIENT_HEAD && c->state != NET_HTTP_CLIENT_BODY)
        return;
    expired = (c->total_deadline != 0 && now >= c->total_deadline) ||
              (!c->paused && now >= c->last_byte + c->opts.idle_timeout_ms) ||
              (c->state == NET_HTTP_CLIENT_HEAD && now >= c->sent_at + c->opts.head_timeout_ms);
    if (!expired) {
        net_http_client_arm(c);
        return;
    }
    net_http_client_enter(c);
    net_http_client_finish(c, DF_ETIMEDOUT);
    net_http_client_leave(c);
}

static void
net_http_client_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_http_client *c = arg;

    (void)fd;
    (void)what;
    net_http_client_enter(c);
    net_http_client_process(c);
    net_http_client_leave(c);
}

int
net_http_client_new(struct bufferevent *bev, const struct net_http_client_opts *opts,
                    struct net_http_client **out)
{
    struct net_http_client *c;
    struct net_http_parser p;

    c = xcalloc(1, sizeof(*c));
    c->bev = bev;
    if (opts != NULL)
        c->opts = *opts;
    net_http_parser_init(&p, NET_HTTP_RESPONSE, &c->opts.limits);
    c->opts.limits = p.lim;
    if (c->opts.head_timeout_ms <= 0)
        c->opts.head_timeout_ms = 30000;
    if (c->opts.idle_timeout_ms <= 0)
        c->opts.idle_timeout_ms = 30000;
    if (c->opts.total_timeout_ms < 0) {
        net_http_client_destroy(c);
        return DF_EINVAL;
    }
    if (c->opts.body_high_water == 0)
        c->opts.body_high_water = 1u << 20;
    c->body = evbuffer_new();
    c->timer = evtimer_new(bufferevent_get_base(bev), net_http_client_timer_cb, c);
    c->kick = evtimer_new(bufferevent_get_base(bev), net_http_client_kick_cb, c);
    if (c->body == NULL || c->timer == NULL || c->kick == NULL) {
        net_http_client_destroy(c);
        return DF_ENOMEM;
    }
    bufferevent_setcb(bev, net_http_client_read_cb, NULL, net_http_client_event_cb, c);
    /* The input holds at most a head or a watermark of body before it is moved out. */
    bufferevent_setwatermark(bev, EV_READ, 0,
                             c->opts.limits.max_head_bytes + 64 > c->opts.body_high_water
                                     ? c->opts.limits.max_head_bytes + 64
                                     : c->opts.body_high_water);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    *out = c;
    return 0;
}

/* Fields the client owns: callers may not set them. */
static bool
net_http_client_is_reserved(const char *name)
{
    return strcasecmp(name, "host") == 0 || strcasecmp(name, "content-length") == 0 ||
           strcasecmp(name, "transfer-encoding") == 0;
}

int
net_http_client_request(struct net_http_client *c, const struct net_http_request *req,
                        const struct net_http_client_cbs *cbs, void *arg)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    struct evbuffer *head = NULL;
    char redacted[512];
    bool debug = log_debug_enabled("http");
    int rv;

    if (c->state == NET_HTTP_CLIENT_DEAD || c->freed)
        return DF_ECLOSED;
    if (c->state != NET_HTTP_CLIENT_IDLE)
        return DF_EAGAIN;
    if (cbs == NULL || cbs->on_end == NULL || req->method == NULL || req->target == NULL ||
        req->host == NULL || !net_http_is_token(req->method, strlen(req->method)) ||
        req->target[0] == '\0' || strpbrk(req->target, " \t\r\n") != NULL ||
        !net_http_is_field_value(req->host) || req->host[0] == '\0')
        return DF_EINVAL;
    head = evbuffer_new();
    if (head == NULL)
        return DF_ENOMEM;
    evbuffer_add_printf(head, "%s %s HTTP/1.1\r\nHost: %s\r\n", req->method, req->target,
                        req->host);
    if (debug)
        log_debug("http", "http: client %p: > %s %s host=%s", (void *)c, req->method,
                  log_url_redact(req->target, redacted, sizeof(redacted)), req->host);
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct net_http_header *h = &req->headers[i];

        if (!net_http_is_token(h->name, strlen(h->name)) || !net_http_is_field_value(h->value) ||
            net_http_client_is_reserved(h->name)) {
            rv = DF_EINVAL;
            goto out;
        }
        evbuffer_add_printf(head, "%s: %s\r\n", h->name, h->value);
        if (debug)
            log_debug("http", "http: client %p: > %s: %s", (void *)c, h->name,
                      log_header_is_secret(h->name) ? "***" : h->value);
    }
    if (req->body != NULL || req->body_len > 0)
        evbuffer_add_printf(head, "Content-Length: %zu\r\n", req->body_len);
    evbuffer_add(head, "\r\n", 2);
    if (req->body_len > 0)
        evbuffer_add(head, req->body, req->body_len);

    net_http_head_reset(&c->head);
    net_http_parser_init(&c->parser, NET_HTTP_RESPONSE, &c->opts.limits);
    c->no_body = strcmp(req->method, "HEAD") == 0;
    c->parser.no_body = c->no_body;
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    c->body_bytes = 0;
    c->body_left = 0;
    c->paused = false;
    c->got_bytes = false;
    c->eof = false;
    c->cbs = *cbs;
    c->arg = arg;
    c->sent_at = c->last_byte = df_time_mono_ms();
    c->total_deadline = c->opts.total_timeout_ms > 0 ? c->sent_at + c->opts.total_timeout_ms : 0;
    net_http_client_set_state(c, NET_HTTP_CLIENT_HEAD);
    evbuffer_add_buffer(out, head);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    net_http_client_arm(c);
    rv = 0;
out:
    evbuffer_free(head);
    return rv;
}

void
net_http_client_pause(struct net_http_client *c)
{
    if (c->paused || (c->state != NET_HTTP_CLIENT_HEAD && c->state != NET_HTTP_CLIENT_BODY))
        return;
    c->paused = true;
    bufferevent_disable(c->bev, EV_READ);
    net_http_client_arm(c);
}

void
net_http_client_resume(struct net_http_client *c)
{
    if (!c->paused)
        return;
    c->paused = false;
    c->last_byte = df_time_mono_ms(); /* the pause was ours, not a stall */
    bufferevent_enable(c->bev, EV_READ);
    net_http_client_arm(c);
    event_active(c->kick, EV_TIMEOUT, 0); /* deliver what is buffered, from the loop */
}

bool
net_http_client_is_reusable(const struct net_http_client *c)
{
    return c->state == NET_HTTP_CLIENT_IDLE && !c->freed;
}

uint64_t
net_http_client_body_bytes(const struct net_http_client *c)
{
    return c->body_bytes;
}

void
net_http_client_free(struct net_http_client *c)
{
    if (c == NULL)
        return;
    if (c->depth > 0) {
        /* Inside our own callback: stop everything, free on the way out. */
        c->freed = true;
        memset(&c->cbs, 0, sizeof(c->cbs));
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        event_del(c->timer);
        event_del(c->kick);
        return;
    }
    net_http_client_destroy(c);
}
