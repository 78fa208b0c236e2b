/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory HTTP/2 transport of the RPC fuzz targets (see fz_h2.h). Both ends of the pair
 * defer their callbacks to the loop, so nothing runs inside a write and every round of
 * fz_h2_run() is one loop iteration. The client session keeps each request body in an
 * evbuffer behind a data provider that defers while it is empty.
 */
#include "fz_h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/rpc_server.h"

#define FZ_H2_MAX_ROUNDS 512
#define FZ_H2_MAX_TIMERS 128

struct fz_h2_stream {
    int32_t id;
    struct evbuffer *body;
    bool eof;      /* nothing follows what is in body */
    bool deferred; /* the data provider is waiting for body */
    bool closed;
};

static _Noreturn void
fz_h2_oom(const char *what)
{
    fprintf(stderr, "fz_h2: %s failed\n", what);
    abort();
}

static void
fz_h2_pump(struct fz_h2 *f)
{
    const uint8_t *d;
    ssize_t n;

    if (f->cli == NULL || f->broken)
        return;
    while ((n = nghttp2_session_mem_send(f->cli, &d)) > 0) {
        if (bufferevent_write(f->end, d, (size_t)n) != 0)
            fz_h2_oom("bufferevent_write");
    }
    if (n < 0)
        f->broken = true;
}

static void
fz_h2_read_cb(struct bufferevent *bev, void *arg)
{
    struct fz_h2 *f = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    const uint8_t *p;

    f->received += len;
    if (f->cli != NULL && !f->broken && len > 0) {
        p = evbuffer_pullup(in, -1);
        if (p == NULL || nghttp2_session_mem_recv(f->cli, p, len) < 0)
            f->broken = true;
    }
    evbuffer_drain(in, len);
}

static ssize_t
fz_h2_body_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
              uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
    struct fz_h2_stream *st = src->ptr;
    int n;

    (void)s;
    (void)stream_id;
    (void)ud;
    n = evbuffer_remove(st->body, buf, length);
    if (n <= 0 && !st->eof) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (st->eof && evbuffer_get_length(st->body) == 0)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return n < 0 ? 0 : n;
}

static int
fz_h2_stream_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct fz_h2_stream *st = nghttp2_session_get_stream_user_data(s, stream_id);

    (void)error_code;
    (void)ud;
    if (st != NULL)
        st->closed = true;
    return 0;
}

void
fz_h2_init(struct fz_h2 *f, struct event_base *base, struct rpc_server *srv, bool client)
{
    static const nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
    };
    struct bufferevent *pair[2];
    nghttp2_session_callbacks *cb = NULL;

    memset(f, 0, sizeof(*f));
    f->base = base;
    if (bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair) != 0)
        fz_h2_oom("bufferevent_pair_new");
    f->end = pair[0];
    bufferevent_setcb(f->end, fz_h2_read_cb, NULL, NULL, f);
    bufferevent_enable(f->end, EV_READ | EV_WRITE);
    if (rpc_server_accept(srv, pair[1]) != 0)
        fz_h2_oom("rpc_server_accept");
    if (!client)
        return;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        fz_h2_oom("nghttp2_session_callbacks_new");
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, fz_h2_stream_close_cb);
    if (nghttp2_session_client_new(&f->cli, cb, f) != 0 ||
        nghttp2_submit_settings(f->cli, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0)
        fz_h2_oom("nghttp2 client");
    nghttp2_session_callbacks_del(cb);
    fz_h2_pump(f);
}

void
fz_h2_write(struct fz_h2 *f, const void *p, size_t n)
{
    if (n > 0 && bufferevent_write(f->end, p, n) != 0)
        fz_h2_oom("bufferevent_write");
}

void
fz_h2_run(struct fz_h2 *f)
{
    for (int i = 0; i < FZ_H2_MAX_ROUNDS; i++) {
        fz_h2_pump(f);
        if (event_base_get_num_events(f->base, EVENT_BASE_COUNT_ACTIVE) == 0)
            return;
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    }
}

struct fz_h2_timers {
    struct event *v[FZ_H2_MAX_TIMERS];
    size_t n;
};

static int
fz_h2_timer_cb(const struct event_base *base, const struct event *ev, void *arg)
{
    struct fz_h2_timers *t = arg;

    (void)base;
    /* Only pure timers: an event waiting for a descriptor is not ours to fire. */
    if (t->n < FZ_H2_MAX_TIMERS && event_get_fd(ev) == -1 &&
        event_pending(ev, EV_TIMEOUT, NULL) != 0)
        t->v[t->n++] = (struct event *)(uintptr_t)ev;
    return 0;
}

void
fz_h2_expire(struct fz_h2 *f)
{
    struct fz_h2_timers t;

    fz_h2_run(f);
    t.n = 0;
    event_base_foreach_event(f->base, fz_h2_timer_cb, &t);
    /* Take them all off first: a callback may free another's owner (and its event). */
    for (size_t i = 0; i < t.n; i++)
        event_del(t.v[i]);
    for (size_t i = 0; i < t.n; i++)
        event_active(t.v[i], EV_TIMEOUT, 1);
    fz_h2_run(f);
}

int
fz_h2_open(struct fz_h2 *f, const char *path, const char *ctype, const char *timeout_ms)
{
    nghttp2_nv nva[6];
    size_t n = 0;
    struct fz_h2_stream *st;
    nghttp2_data_provider prd;
    int32_t id;

#define FZ_NV(k, v)                                                                 \
    nva[n++] = (nghttp2_nv)                                                         \
    {                                                                               \
        (uint8_t *)(uintptr_t)(k), (uint8_t *)(uintptr_t)(v), strlen(k), strlen(v), \
                NGHTTP2_NV_FLAG_NONE                                                \
    }
    if (f->cli == NULL || f->broken || f->nstreams == FZ_H2_MAX_STREAMS)
        return -1;
    FZ_NV(":method", "POST");
    FZ_NV(":scheme", "http");
    FZ_NV(":authority", "fuzz");
    FZ_NV(":path", path);
    if (ctype != NULL)
        FZ_NV("content-type", ctype);
    if (timeout_ms != NULL)
        FZ_NV("connect-timeout-ms", timeout_ms);
#undef FZ_NV
    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->body = evbuffer_new()) == NULL)
        fz_h2_oom("stream");
    prd.source.ptr = st;
    prd.read_callback = fz_h2_body_cb;
    id = nghttp2_submit_request(f->cli, NULL, nva, n, &prd, st);
    if (id < 0) {
        evbuffer_free(st->body);
        free(st);
        return -1;
    }
    st->id = id;
    f->streams[f->nstreams] = st;
    return (int)f->nstreams++;
}

bool
fz_h2_send(struct fz_h2 *f, int h, const void *p, size_t n, bool end)
{
    struct fz_h2_stream *st;

    if (!fz_h2_is_open(f, h) || f->streams[h]->eof)
        return false;
    st = f->streams[h];
    if (n > 0 && evbuffer_add(st->body, p, n) != 0)
        fz_h2_oom("evbuffer_add");
    st->eof = end;
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(f->cli, st->id);
    }
    return true;
}

void
fz_h2_cancel(struct fz_h2 *f, int h)
{
    if (fz_h2_is_open(f, h))
        nghttp2_submit_rst_stream(f->cli, NGHTTP2_FLAG_NONE, f->streams[h]->id, NGHTTP2_CANCEL);
}

bool
fz_h2_is_open(const struct fz_h2 *f, int h)
{
    return h >= 0 && (size_t)h < f->nstreams && !f->streams[h]->closed && !f->broken;
}

void
fz_h2_free(struct fz_h2 *f)
{
    for (size_t i = 0; i < f->nstreams; i++) {
        evbuffer_free(f->streams[i]->body);
        free(f->streams[i]);
    }
    nghttp2_session_del(f->cli);
    bufferevent_free(f->end);
    memset(f, 0, sizeof(*f));
}
