/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nghttp2 over a bufferevent. Input is fed to nghttp2_session_mem_recv straight from the
 * evbuffer's chains; output is pulled with nghttp2_session_mem_send into the bufferevent
 * until it holds out_high_water bytes, after which reading pauses too, so a peer that does
 * not read cannot make us buffer without bound. Output produced outside a read callback is
 * written by one deferred flush per loop iteration. Teardown always runs from close_ev, never
 * from inside nghttp2 or bufferevent callbacks.
 */
#include "df/net_h2.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_time.h"
#include "df/log.h"
#include "df/net_addr.h"
#include "df/xmalloc.h"

#define NET_H2_DEFAULT_STREAMS    100
#define NET_H2_DEFAULT_WINDOW     (1u << 20)
#define NET_H2_DEFAULT_HIGH_WATER (256u * 1024)
#define NET_H2_MAX_READ           (64 * 1024)
#define NET_H2_MAX_HEADER_LIST    (64 * 1024)
#define NET_H2_IOV                16

/*
 * Connection states; net_h2_set_state() is the only writer.
 *
 *   OPEN --net_h2_goaway()--> DRAINING --(no active stream, output written)--> CLOSING
 *     |                          |                                               ^
 *     +--------------------------+--- net_h2_close(): EOF, error, abuse, done ---+
 *
 * CLOSING: transport disabled, close_ev pending; on_close runs and the object is freed.
 */
enum net_h2_state {
    NET_H2_OPEN,
    NET_H2_DRAINING,
    NET_H2_CLOSING,
};

struct net_h2 {
    enum net_h2_state state;
    struct bufferevent *bev;
    nghttp2_session *sess;
    struct event *flush_ev; /* deferred output, see net_h2_flush() */
    struct event *close_ev; /* deferred teardown */
    struct event *ping_ev;  /* keepalive PINGs, when asked for */
    struct net_h2_cbs cbs;
    void *arg;
    size_t high_water;
    bool read_paused;
    uint32_t reset_burst; /* rapid-reset token bucket, tokens scaled by 1000 */
    uint32_t reset_rate;
    uint64_t reset_tokens;
    uint64_t reset_last_ms;
    const char *close_reason;
    char peer[64];
};

static const char *const net_h2_state_names[] = {"open", "draining", "closing"};

static void
net_h2_set_state_at(struct net_h2 *h2, enum net_h2_state to, int line)
{
    /* Only forward: OPEN -> DRAINING -> CLOSING, or OPEN -> CLOSING. */
    DF_ASSERT(to > h2->state);
    log_debug("net", "net: h2 %s %s -> %s (line %d)", h2->peer, net_h2_state_names[h2->state],
              net_h2_state_names[to], line);
    h2->state = to;
}

#define net_h2_set_state(h2, to) net_h2_set_state_at(h2, to, __LINE__)

/* Take one token for a RST_STREAM from the peer; false when the bucket is empty. */
static bool
net_h2_reset_allowed(struct net_h2 *h2)
{
    uint64_t now = df_time_mono_coarse_ms(), cap = (uint64_t)h2->reset_burst * 1000;

    if (h2->reset_burst == 0)
        return true;
    h2->reset_tokens += (now - h2->reset_last_ms) * h2->reset_rate;
    if (h2->reset_tokens > cap)
        h2->reset_tokens = cap;
    h2->reset_last_ms = now;
    if (h2->reset_tokens < 1000)
        return false;
    h2->reset_tokens -= 1000;
    return true;
}

void
net_h2_close(struct net_h2 *h2, const char *reason)
{
    if (h2 == NULL || h2->state == NET_H2_CLOSING)
        return;
    net_h2_set_state(h2, NET_H2_CLOSING);
    h2->close_reason = reason;
    bufferevent_disable(h2->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(h2->bev, NULL, NULL, NULL, NULL);
    event_active(h2->close_ev, EV_TIMEOUT, 0);
}

/* Pull frames from nghttp2 into the bufferevent up to the high-water mark. */
static void
net_h2_send(struct net_h2 *h2)
{
    struct evbuffer *out;
    const uint8_t *data;
    ssize_t n;

    if (h2->state == NET_H2_CLOSING)
        return;
    out = bufferevent_get_output(h2->bev);
    for (;;) {
        if (evbuffer_get_length(out) >= h2->high_water) {
            if (!h2->read_paused) {
                bufferevent_disable(h2->bev, EV_READ);
                h2->read_paused = true;
            }
            return;
        }
        n = nghttp2_session_mem_send(h2->sess, &data);
        if (n < 0) {
            net_h2_close(h2, "send failed");
            return;
        }
        if (n == 0)
            break;
        if (evbuffer_add(out, data, (size_t)n) != 0) {
            net_h2_close(h2, "out of memory");
            return;
        }
    }
    if (!nghttp2_session_want_read(h2->sess)) {
        if (!nghttp2_session_want_write(h2->sess) && evbuffer_get_length(out) == 0)
            net_h2_close(h2, "done");
        else if (!h2->read_paused) {
            bufferevent_disable(h2->bev, EV_READ);
            h2->read_paused = true;
        }
    }
}

static void
net_h2_read_cb(struct bufferevent *bev, void *arg)
{
    struct net_h2 *h2 = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec v[NET_H2_IOV];
    ssize_t rv;
    size_t total;
    int n;

    while (h2->state != NET_H2_CLOSING && evbuffer_get_length(in) > 0) {
        n = evbuffer_peek(in, -1, NULL, v, NET_H2_IOV);
        if (n > NET_H2_IOV)
            n = NET_H2_IOV;
        total = 0;
        for (int i = 0; i < n && h2->state != NET_H2_CLOSING; i++) {
            rv = nghttp2_session_mem_recv(h2->sess, v[i].iov_base, v[i].iov_len);
            if (rv < 0) {
                log_warnx("net: h2 %s dropped: %s", h2->peer, nghttp2_strerror((int)rv));
                net_h2_close(h2, "protocol error");
                return;
            }
            total += v[i].iov_len;
        }
        evbuffer_drain(in, total);
    }
    net_h2_send(h2);
}

static void
net_h2_write_cb(struct bufferevent *bev, void *arg)
{
    struct net_h2 *h2 = arg;

    (void)bev;
    if (h2->read_paused && nghttp2_session_want_read(h2->sess)) {
        h2->read_paused = false;
        bufferevent_enable(h2->bev, EV_READ);
    }
    net_h2_send(h2);
}

static void
net_h2_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct net_h2 *h2 = arg;

    (void)bev;
    if (what & BEV_EVENT_EOF)
        net_h2_close(h2, "peer closed the connection");
    else if (what & BEV_EVENT_ERROR)
        net_h2_close(h2, "connection error");
    else if (what & BEV_EVENT_TIMEOUT)
        net_h2_close(h2, "timeout");
}

static void
net_h2_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    net_h2_send(arg);
}

static void
net_h2_ping_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_h2 *h2 = arg;

    (void)fd;
    (void)what;
    if (h2->state == NET_H2_CLOSING)
        return;
    if (nghttp2_submit_ping(h2->sess, NGHTTP2_FLAG_NONE, NULL) != 0) {
        net_h2_close(h2, "out of memory");
        return;
    }
    net_h2_flush(h2);
}

static void
net_h2_close_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_h2 *h2 = arg;

    (void)fd;
    (void)what;
    log_debug("net", "net: h2 %s closed: %s", h2->peer, h2->close_reason);
    if (h2->cbs.on_close != NULL)
        h2->cbs.on_close(h2, h2->close_reason, h2->arg);
    net_h2_free(h2);
}

/* Trampolines: nghttp2's user_data is the net_h2; the owner gets its own argument. */

static int
net_h2_begin_headers_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct net_h2 *h2 = ud;

    return h2->cbs.on_begin_headers != NULL ? h2->cbs.on_begin_headers(s, f, h2->arg) : 0;
}

static int
net_h2_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                 const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct net_h2 *h2 = ud;

    if (h2->cbs.on_header == NULL)
        return 0;
    return h2->cbs.on_header(s, f, name, namelen, value, valuelen, flags, h2->arg);
}

static int
net_h2_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct net_h2 *h2 = ud;

    if (f->hd.type == NGHTTP2_RST_STREAM && !net_h2_reset_allowed(h2)) {
        /* Rapid reset (CVE-2023-44487): streams opened and cancelled at once cost us work
         * but never count against the concurrency limit. */
        log_warnx("net: h2 %s dropped: stream reset rate over %u/s (burst %u)", h2->peer,
                  h2->reset_rate, h2->reset_burst);
        nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
        return 0;
    }
    return h2->cbs.on_frame_recv != NULL ? h2->cbs.on_frame_recv(s, f, h2->arg) : 0;
}

static int
net_h2_data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                     size_t len, void *ud)
{
    struct net_h2 *h2 = ud;

    if (h2->cbs.on_data_chunk_recv == NULL)
        return 0;
    return h2->cbs.on_data_chunk_recv(s, flags, stream_id, data, len, h2->arg);
}

static int
net_h2_stream_close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct net_h2 *h2 = ud;

    if (h2->cbs.on_stream_close == NULL)
        return 0;
    return h2->cbs.on_stream_close(s, stream_id, error_code, h2->arg);
}

static void
net_h2_peer_name(struct net_h2 *h2)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    evutil_socket_t fd = bufferevent_getfd(h2->bev);

    snprintf(h2->peer, sizeof(h2->peer), "?");
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        net_addr_format((struct sockaddr *)&ss, len, h2->peer, sizeof(h2->peer));
}

int
net_h2_new(struct bufferevent *bev, const struct net_h2_opts *opts, const struct net_h2_cbs *cbs,
           void *arg, struct net_h2 **out)
{
    struct event_base *base = bufferevent_get_base(bev);
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    struct net_h2 *h2;
    uint32_t window = opts->window_bytes > 0 ? opts->window_bytes : NET_H2_DEFAULT_WINDOW;
    nghttp2_settings_entry iv[4];
    size_t niv = 0;
    int rv;

    if (window > INT32_MAX)
        window = INT32_MAX;
    h2 = xcalloc(1, sizeof(*h2));
    h2->bev = bev;
    h2->cbs = *cbs;
    h2->arg = arg;
    h2->high_water = opts->out_high_water > 0 ? opts->out_high_water : NET_H2_DEFAULT_HIGH_WATER;
    h2->reset_burst = opts->reset_burst;
    h2->reset_rate = opts->reset_rate;
    h2->reset_tokens = (uint64_t)opts->reset_burst * 1000;
    h2->reset_last_ms = df_time_mono_coarse_ms();
    net_h2_peer_name(h2);
    h2->flush_ev = event_new(base, -1, 0, net_h2_flush_cb, h2);
    h2->close_ev = event_new(base, -1, 0, net_h2_close_cb, h2);
    if (h2->flush_ev == NULL || h2->close_ev == NULL || nghttp2_session_callbacks_new(&cb) != 0 ||
        nghttp2_option_new(&opt) != 0) {
        rv = DF_ENOMEM;
        goto out;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, net_h2_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, net_h2_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, net_h2_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, net_h2_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, net_h2_stream_close_cb);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, NET_H2_DEFAULT_STREAMS);
    if (opts->server && opts->reset_burst > 0) {
        /* nghttp2's own limiter must never fire before ours, which logs and says why. */
        nghttp2_option_set_stream_reset_rate_limit(opt, (uint64_t)opts->reset_burst * 2 + 2,
                                                   (uint64_t)opts->reset_rate * 2 + 2);
    }
    if (opts->server)
        rv = nghttp2_session_server_new2(&h2->sess, cb, h2, opt);
    else
        rv = nghttp2_session_client_new2(&h2->sess, cb, h2, opt);
    if (rv != 0) {
        rv = DF_ENOMEM;
        goto out;
    }
    iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                         opts->max_streams > 0 ? opts->max_streams
                                                               : NET_H2_DEFAULT_STREAMS};
    iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window};
    iv[niv++] =
            (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, NET_H2_MAX_HEADER_LIST};
    if (!opts->server)
        iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    if (nghttp2_submit_settings(h2->sess, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
        nghttp2_session_set_local_window_size(
                h2->sess, NGHTTP2_FLAG_NONE, 0,
                (int32_t)(window > INT32_MAX / 4 ? INT32_MAX : window * 4)) != 0) {
        rv = DF_ENOMEM;
        goto out;
    }
    bufferevent_set_max_single_read(bev, NET_H2_MAX_READ);
    bufferevent_setwatermark(bev, EV_WRITE, h2->high_water / 2, 0);
    if (opts->keepalive_ms > 0) {
        struct timeval tv = {opts->keepalive_ms / 1000, (opts->keepalive_ms % 1000) * 1000};

        if ((h2->ping_ev = event_new(base, -1, EV_PERSIST, net_h2_ping_cb, h2)) == NULL) {
            rv = DF_ENOMEM;
            goto out;
        }
        event_add(h2->ping_ev, &tv);
    }
    bufferevent_setcb(bev, net_h2_read_cb, net_h2_write_cb, net_h2_event_cb, h2);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    event_active(h2->flush_ev, EV_TIMEOUT, 0);
    *out = h2;
    h2 = NULL;
    rv = 0;
out:
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    net_h2_free(h2);
    return rv;
}

nghttp2_session *
net_h2_session(struct net_h2 *h2)
{
    return h2->sess;
}

void
net_h2_flush(struct net_h2 *h2)
{
    if (h2->state != NET_H2_CLOSING)
        event_active(h2->flush_ev, EV_TIMEOUT, 0);
}

bool
net_h2_is_open(const struct net_h2 *h2)
{
    return h2 != NULL && h2->state == NET_H2_OPEN;
}

bool
net_h2_is_congested(const struct net_h2 *h2)
{
    return evbuffer_get_length(bufferevent_get_output(h2->bev)) >= h2->high_water;
}

void
net_h2_goaway(struct net_h2 *h2, uint32_t error_code)
{
    if (h2->state != NET_H2_OPEN)
        return;
    net_h2_set_state(h2, NET_H2_DRAINING);
    nghttp2_submit_goaway(h2->sess, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h2->sess), error_code, NULL, 0);
    net_h2_flush(h2);
}

void
net_h2_free(struct net_h2 *h2)
{
    if (h2 == NULL)
        return;
    if (h2->flush_ev != NULL)
        event_free(h2->flush_ev);
    if (h2->close_ev != NULL)
        event_free(h2->close_ev);
    if (h2->ping_ev != NULL)
        event_free(h2->ping_ev);
    nghttp2_session_del(h2->sess);
    if (h2->bev != NULL)
        bufferevent_free(h2->bev);
    free(h2);
}

const char *
net_h2_peer(const struct net_h2 *h2)
{
    return h2->peer;
}
