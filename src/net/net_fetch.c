/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One fetch: connect (evdns), optionally TLS, send the GET, follow redirects
 * hop by hop, validate the response framing against what was asked, stream the body to the
 * owner and watch its rate. Exactly one of on_end or net_fetch_cancel ends a fetch.
 *
 *   CONNECTING --(connected)--> REQUESTING --(head)--> BODY --(end)--> done
 *        ^                          |
 *        +------(3xx, next hop)-----+
 */
#include "df/net_fetch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_url.h"
#include "df/log.h"
#include "df/net_addrpolicy.h"
#include "df/net_backoff.h"
#include "df/net_connect.h"
#include "df/net_http_client.h"
#include "df/net_tls.h"
#include "df/xmalloc.h"

#define NET_FETCH_RATE_GRACE_S  5 /* no rate check during the first seconds */
#define NET_FETCH_RATE_WINDOW_S 5 /* the rate is measured over this window */
#define NET_FETCH_MAX_HEADERS   64
#define NET_FETCH_LOWAT         (128 * 1024)

struct net_fetch {
    struct net_fetch_env env;
    struct net_fetch_cbs cbs;
    void *arg;
    struct df_url url;
    char *url_text; /* current hop */
    char *orig_host;
    struct net_http_header *headers; /* user headers (copied) */
    size_t nheaders;
    bool drop_auth; /* the host changed on a redirect */
    bool has_range;
    uint64_t start, end;
    bool insecure;
    bool head_only;  /* a HEAD request */
    bool any_status; /* net_fetch_req.any_status */
    bool keep_redirects;
    int max_redirects;
    size_t max_body;
    struct evbuffer *body;               /* kept in memory when there is no on_data */
    unsigned cluster_roles;              /* net_fetch_req.cluster_roles */
    const struct net_addrpolicy *policy; /* borrowed; NULL: none */
    int hops;
    struct net_connect *connect;
    struct net_http_client *client;
    struct bufferevent *tls_bev; /* owned by client; for the handshake failure reason */
    int fd;                      /* the plain socket, for SO_RCVLOWAT */
    bool reused;                 /* the connection came from the pool */
    bool tls;                    /* the connection is TLS (fresh or reused) */
    int lowat;
    int lowat_cap;       /* at most about a quarter second of this body's measured rate */
    uint64_t tick_total; /* bytes read or queued in the socket at the last tick */
    bool body_len_known;
    uint64_t body_len;
    struct event *rate_timer;
    uint64_t bytes;                               /* body bytes received on this hop */
    uint64_t window[NET_FETCH_RATE_WINDOW_S + 1]; /* bytes at each of the last ticks */
    unsigned ticks;
    char *redirect_to; /* Location of a 3xx being drained */
    uint64_t retry_after_ms;
    int status;
    char why[600];
};

#define NET_FETCH_POOL 16 /* idle connections kept */

struct net_fetch_pooled {
    char *host;
    uint16_t port;
    bool tls;               /* a cluster mTLS connection ... */
    unsigned cluster_roles; /* ... whose server showed one of these roles */
    int fd;
    uint64_t seq; /* for evicting the oldest */
    struct net_http_client *client;
};

struct net_fetch_pool {
    struct net_fetch_pooled e[NET_FETCH_POOL];
    uint64_t seq;
};

static int net_fetch_hop(struct net_fetch *s, struct df_error *err);
static int net_fetch_request(struct net_fetch *s);
static int net_fetch_connect(struct net_fetch *s);
static void net_fetch_connected(struct bufferevent *bev, int rv, void *arg);
static void net_fetch_set_lowat(struct net_fetch *s);
static void net_fetch_tick_lowat(struct net_fetch *s);

bool
net_fetch_is_retryable(int rv)
{
    switch (rv) {
    case DF_EAGAIN:
    case DF_ECLOSED:
    case DF_ECONNECT:
    case DF_ETIMEDOUT:
    case DF_EPROTO:
    case DF_EIO:
    case DF_EDNS:
        return true;
    default:
        return false;
    }
}

void
net_fetch_pause(struct net_fetch *s)
{
    if (s->client != NULL)
        net_http_client_pause(s->client);
}

void
net_fetch_resume(struct net_fetch *s)
{
    if (s->client != NULL)
        net_http_client_resume(s->client);
}

struct evbuffer *
net_fetch_body(struct net_fetch *s)
{
    return s->body;
}

uint64_t
net_fetch_bytes(const struct net_fetch *s)
{
    return s->bytes;
}

static void
net_fetch_free(struct net_fetch *s)
{
    net_connect_cancel(s->connect);
    net_http_client_free(s->client);
    if (s->rate_timer != NULL)
        event_free(s->rate_timer);
    for (size_t i = 0; i < s->nheaders; i++) {
        free((char *)(uintptr_t)s->headers[i].name);
        free((char *)(uintptr_t)s->headers[i].value);
    }
    free(s->headers);
    df_url_reset(&s->url);
    free(s->url_text);
    free(s->orig_host);
    free(s->redirect_to);
    if (s->body != NULL)
        evbuffer_free(s->body);
    free(s);
}

struct net_fetch_pool *
net_fetch_pool_new(void)
{
    return xcalloc(1, sizeof(struct net_fetch_pool));
}

static void
net_fetch_pooled_reset(struct net_fetch_pooled *e)
{
    net_http_client_free(e->client);
    free(e->host);
    memset(e, 0, sizeof(*e));
}

void
net_fetch_pool_free(struct net_fetch_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < NET_FETCH_POOL; i++)
        net_fetch_pooled_reset(&pool->e[i]);
    free(pool);
}

/* Keep s's idle connection for the next fetch from the same host and port. */
static void
net_fetch_pool_put(struct net_fetch *s)
{
    struct net_fetch_pool *pool = s->env.pool;
    struct net_fetch_pooled *e = NULL;

    for (size_t i = 0; i < NET_FETCH_POOL; i++) {
        struct net_fetch_pooled *x = &pool->e[i];
        if (x->client != NULL && !net_http_client_is_reusable(x->client))
            net_fetch_pooled_reset(x); /* the server closed it meanwhile */
        if (x->client == NULL) {
            e = x;
            break;
        }
        if (e == NULL || x->seq < e->seq)
            e = x;
    }
    net_fetch_pooled_reset(e);
    e->host = xstrdup(s->url.host);
    e->port = s->url.port;
    e->tls = s->tls;
    e->cluster_roles = s->cluster_roles;
    e->fd = s->fd;
    e->client = s->client;
    e->seq = ++pool->seq;
    s->client = NULL;
}

/*
 * May s use the kept-alive connection on fd? Under a policy only if the address it is
 * connected to passes: the pool is shared with fetches that had none.
 */
static bool
net_fetch_pooled_is_allowed(const struct net_fetch *s, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (s->policy == NULL)
        return true;
    return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
           net_addrpolicy_check(s->policy, s->url.host, (struct sockaddr *)&ss, len, NULL) == 0;
}

/* An idle connection to s's host and port from the pool that s may use, or NULL. */
static struct net_http_client *
net_fetch_pool_take(struct net_fetch *s, int *fd)
{
    struct net_fetch_pool *pool = s->env.pool;
    struct net_http_client *c;

    for (size_t i = 0; i < NET_FETCH_POOL; i++) {
        struct net_fetch_pooled *e = &pool->e[i];
        if (e->client == NULL || e->port != s->url.port || strcmp(e->host, s->url.host) != 0 ||
            e->tls != (s->cluster_roles != 0) || e->cluster_roles != s->cluster_roles ||
            !net_fetch_pooled_is_allowed(s, e->fd))
            continue;
        if (!net_http_client_is_reusable(e->client)) {
            net_fetch_pooled_reset(e);
            continue;
        }
        c = e->client;
        *fd = e->fd;
        e->client = NULL;
        net_fetch_pooled_reset(e);
        return c;
    }
    return NULL;
}

/* End the fetch: report and free. */
static void
net_fetch_finish(struct net_fetch *s, int rv)
{
    void (*on_end)(struct net_fetch *, int, const char *, uint64_t, void *) = s->cbs.on_end;

    if (rv != 0 && s->why[0] == '\0')
        snprintf(s->why, sizeof(s->why), "%s", df_strerror(rv));
    /* Plain connections and cluster mTLS ones (verified by role, not by name) are kept. */
    if (rv == 0 && s->env.pool != NULL && s->client != NULL && (!s->tls || s->cluster_roles != 0) &&
        s->fd != -1 && net_http_client_is_reusable(s->client))
        net_fetch_pool_put(s);
    /* The client must not call back into a freed fetch. */
    net_http_client_free(s->client);
    s->client = NULL;
    on_end(s, rv, s->why, s->retry_after_ms, s->arg);
    net_fetch_free(s);
}

/*
 * Once a second, size the read low-water mark to what this body really delivers: bytes held
 * back by SO_RCVLOWAT would otherwise look like a stall to the idle and rate checks, and a
 * slow origin might never fill the mark at all.
 */
static void
net_fetch_tick_lowat(struct net_fetch *s)
{
    uint64_t total, arrived;
    int queued = 0;

    if (s->fd == -1 || !s->body_len_known)
        return;
    if (ioctl(s->fd, FIONREAD, &queued) != 0 || queued < 0)
        queued = 0;
    total = s->bytes + (uint64_t)queued;
    arrived = total - s->tick_total;
    s->tick_total = total;
    s->lowat_cap = arrived / 4 >= NET_FETCH_LOWAT ? NET_FETCH_LOWAT
                   : arrived / 4 > 0              ? (int)(arrived / 4)
                                                  : 1;
    net_fetch_set_lowat(s);
}

static void
net_fetch_rate_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_fetch *s = arg;
    uint64_t oldest, rate;

    (void)fd;
    (void)what;
    net_fetch_tick_lowat(s);
    if (s->env.min_rate == 0)
        return;
    s->ticks++;
    memmove(s->window, s->window + 1, sizeof(s->window) - sizeof(s->window[0]));
    s->window[NET_FETCH_RATE_WINDOW_S] = s->bytes;
    if (s->ticks < NET_FETCH_RATE_GRACE_S + NET_FETCH_RATE_WINDOW_S)
        return;
    oldest = s->window[0];
    rate = (s->bytes - oldest) / NET_FETCH_RATE_WINDOW_S;
    if (rate < s->env.min_rate) {
        snprintf(s->why, sizeof(s->why), "origin too slow: %" PRIu64 " B/s below %" PRIu64 " B/s",
                 rate, s->env.min_rate);
        net_fetch_finish(s, DF_ETIMEDOUT);
    }
}

static bool
net_fetch_is_secret(const char *name)
{
    return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "cookie") == 0 ||
           strcasecmp(name, "proxy-authorization") == 0;
}

/* Resolve a Location value against the current URL: absolute URLs and absolute paths. */
static char *
net_fetch_resolve(const struct net_fetch *s, const char *loc)
{
    char *auth, *out;

    if (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0)
        return xstrdup(loc);
    if (loc[0] == '/' && loc[1] == '/')
        return xasprintf("%s:%s", s->url.scheme, loc);
    if (loc[0] != '/')
        return NULL;
    auth = df_url_authority_to_str(&s->url);
    out = xasprintf("%s://%s%s", s->url.scheme, auth, loc);
    free(auth);
    return out;
}

/* The code a status other than 200 and 206 ends the fetch with (0 for those two). */
static int
net_fetch_status_error(struct net_fetch *s, const struct net_http_head *h)
{
    const char *v;

    if (h->status == 429 || h->status >= 500) {
        v = net_http_head_get(h, "Retry-After");
        if (v != NULL)
            net_backoff_parse_retry_after(v, (int64_t)time(NULL), &s->retry_after_ms);
        snprintf(s->why, sizeof(s->why), "origin answered %d %s", h->status,
                 net_http_reason(h->status));
        return DF_EAGAIN;
    }
    if (h->status == 404 || h->status == 410) {
        snprintf(s->why, sizeof(s->why), "origin answered %d %s", h->status,
                 net_http_reason(h->status));
        return DF_ENOTFOUND;
    }
    if (h->status == 401 || h->status == 403) {
        snprintf(s->why, sizeof(s->why), "origin answered %d %s", h->status,
                 net_http_reason(h->status));
        return DF_EPERM;
    }
    if (h->status == 416) {
        snprintf(s->why, sizeof(s->why), "origin answered 416 Range Not Satisfiable");
        return DF_EINVAL;
    }
    if (h->status != 200 && h->status != 206) {
        snprintf(s->why, sizeof(s->why), "origin answered unexpected %d %s", h->status,
                 net_http_reason(h->status));
        return DF_EPROTO;
    }
    return 0;
}

static int
net_fetch_on_head(struct net_http_client *c, const struct net_http_head *h, void *arg)
{
    struct net_fetch *s = arg;
    struct net_fetch_meta m;
    struct net_http_content_range cr;
    const char *v;
    int rv;

    (void)c;
    s->status = h->status;
    if (!s->keep_redirects && (h->status == 301 || h->status == 302 || h->status == 303 ||
                               h->status == 307 || h->status == 308)) {
        v = net_http_head_get(h, "Location");
        if (v == NULL || (s->redirect_to = net_fetch_resolve(s, v)) == NULL) {
            snprintf(s->why, sizeof(s->why), "origin answered %d without a usable Location",
                     h->status);
            return DF_EPROTO;
        }
        return 0; /* drain the body, then follow */
    }
    if (!s->any_status && (rv = net_fetch_status_error(s, h)) != 0)
        return rv;
    memset(&m, 0, sizeof(m));
    m.status = h->status;
    m.head = h;
    m.no_body = s->head_only;
    m.etag = net_http_head_get(h, "ETag");
    m.last_modified = net_http_head_get(h, "Last-Modified");
    m.final_url = s->url_text;
    m.has_length = h->has_content_length;
    m.length = h->content_length;
    if (h->status == 206) {
        v = net_http_head_get(h, "Content-Range");
        if (!s->has_range || v == NULL || net_http_content_range_parse(v, &cr) != 0 ||
            cr.unsatisfied || cr.first != s->start ||
            (cr.last != s->end &&
             !(cr.total_known && cr.last == cr.total - 1 && s->end >= cr.total))) {
            snprintf(s->why, sizeof(s->why),
                     "origin sent a wrong Content-Range '%s' for bytes "
                     "%" PRIu64 "-%" PRIu64,
                     v != NULL ? v : "", s->start, s->end);
            return DF_EPROTO;
        }
        if (h->has_content_length && h->content_length != cr.last - cr.first + 1) {
            snprintf(s->why, sizeof(s->why),
                     "origin sent Content-Length %" PRIu64 " with Content-Range '%s'",
                     h->content_length, v);
            return DF_EPROTO;
        }
        m.ranged = true;
        m.has_total = cr.total_known;
        m.total = cr.total;
        m.has_length = true;
        m.length = cr.last - cr.first + 1;
    } else if (h->has_content_length) {
        m.has_total = true;
        m.total = h->content_length;
    }
    if (s->cbs.on_data == NULL && m.has_length && !s->head_only && m.length > s->max_body) {
        snprintf(s->why, sizeof(s->why), "answer of %" PRIu64 " bytes is over the %zu allowed",
                 m.length, s->max_body);
        return DF_ETOOBIG;
    }
    rv = s->cbs.on_head != NULL ? s->cbs.on_head(s, &m, s->arg) : 0;
    if (s->head_only)
        return rv;
    if (rv == 0 && m.has_length && !s->tls) {
        s->body_len_known = true;
        s->body_len = m.length;
        net_fetch_set_lowat(s);
    }
    if (rv != 0 && s->why[0] == '\0')
        snprintf(s->why, sizeof(s->why), "%s", df_strerror(rv));
    if (rv == 0 && (s->env.min_rate > 0 || s->body_len_known)) {
        struct timeval one = {1, 0};
        s->rate_timer = event_new(s->env.base, -1, EV_PERSIST, net_fetch_rate_cb, s);
        if (s->rate_timer != NULL)
            event_add(s->rate_timer, &one);
    }
    return rv;
}

/*
 * Wake up for a body only when a good slice of it can be read at once (or its tail has
 * arrived): loopback and fast links otherwise hand us a few KiB per wakeup, and the
 * syscalls per byte then cost more than the copy.
 */
static void
net_fetch_set_lowat(struct net_fetch *s)
{
    uint64_t received, left;
    int lowat;

    if (s->fd == -1 || !s->body_len_known || s->client == NULL)
        return;
    received = net_http_client_body_bytes(s->client);
    left = s->body_len > received ? s->body_len - received : 1;
    lowat = left < (uint64_t)s->lowat_cap ? (int)left : s->lowat_cap;
    if (lowat != s->lowat) {
        setsockopt(s->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
        s->lowat = lowat;
    }
}

static int
net_fetch_on_data(struct net_http_client *c, struct evbuffer *data, void *arg)
{
    struct net_fetch *s = arg;

    if (s->redirect_to != NULL) {
        evbuffer_drain(data, evbuffer_get_length(data));
        return 0;
    }
    /* What arrived, not what the owner took: it writes in batches, and a slow body would
     * look stalled to the rate check between two of them. */
    s->bytes = net_http_client_body_bytes(c);
    int rv;

    if (s->cbs.on_data != NULL) {
        rv = s->cbs.on_data(s, data, s->arg);
    } else if (evbuffer_get_length(s->body) + evbuffer_get_length(data) > s->max_body) {
        snprintf(s->why, sizeof(s->why), "answer is over the %zu bytes allowed", s->max_body);
        rv = DF_ETOOBIG;
    } else {
        rv = evbuffer_add_buffer(s->body, data) == 0 ? 0 : DF_ENOMEM;
    }

    net_fetch_set_lowat(s);
    return rv;
}

static void
net_fetch_on_end(struct net_http_client *c, int rv, void *arg)
{
    struct net_fetch *s = arg;
    struct df_error err;
    char *next;

    (void)c;
    if (s->redirect_to != NULL && rv == 0) {
        if (++s->hops > s->max_redirects) {
            /* A loop or a misconfigured origin: retrying the chain would not help. */
            snprintf(s->why, sizeof(s->why), "more than %d redirects", s->max_redirects);
            net_fetch_finish(s, DF_ETOOBIG);
            return;
        }
        next = s->redirect_to;
        s->redirect_to = NULL;
        free(s->url_text);
        s->url_text = next;
        net_http_client_free(s->client);
        s->client = NULL;
        s->tls_bev = NULL;
        s->fd = -1;
        s->body_len_known = false;
        if ((rv = net_fetch_hop(s, &err)) != 0) {
            snprintf(s->why, sizeof(s->why), "redirect: %s", err.msg);
            net_fetch_finish(s, rv);
        }
        return;
    }
    if (rv == DF_ECLOSED && s->reused && s->status == 0) {
        /* The server closed the kept-alive connection before answering: a new one. */
        net_http_client_free(s->client);
        s->client = NULL;
        s->fd = -1;
        s->reused = false;
        s->tls = false;
        s->why[0] = '\0';
        if ((rv = net_fetch_connect(s)) != 0)
            net_fetch_finish(s, rv);
        return;
    }
    if (rv != 0 && s->status == 0 && s->tls_bev != NULL && net_tls_error(s->tls_bev) != NULL) {
        /* A failed handshake (untrusted or mismatched certificate) is not worth a retry. */
        snprintf(s->why, sizeof(s->why), "tls to %s: %s", s->url.host, net_tls_error(s->tls_bev));
        rv = DF_ETLS;
    }
    if (rv == DF_ETIMEDOUT && s->why[0] == '\0') {
        if (s->status == 0)
            snprintf(s->why, sizeof(s->why), "origin sent no response within %d s",
                     s->env.head_timeout_ms / 1000);
        else
            snprintf(s->why, sizeof(s->why),
                     "origin stalled: no body byte for %d s after %" PRIu64 " bytes",
                     s->env.idle_timeout_ms / 1000, s->bytes);
    }
    if (rv == DF_EPROTO && s->why[0] == '\0' && s->status != 0)
        snprintf(s->why, sizeof(s->why),
                 "origin response truncated or malformed after %" PRIu64 " bytes", s->bytes);
    net_fetch_finish(s, rv);
}

/* The policy's word on the address a connection of this hop is about to go to. */
static int
net_fetch_check_cb(const struct sockaddr *sa, size_t salen, void *arg)
{
    struct net_fetch *s = arg;
    struct df_error err;
    int rv;

    if ((rv = net_addrpolicy_check(s->policy, s->url.host, sa, salen, &err)) != 0)
        snprintf(s->why, sizeof(s->why), "%s%s: %s",
                 s->env.policy_name != NULL ? s->env.policy_name : "address policy",
                 s->hops > 0 ? " (after a redirect)" : "", err.msg);
    return rv;
}

/* Connect for the current hop, the policy checking each resolved address. */
static int
net_fetch_connect(struct net_fetch *s)
{
    return net_connect_start_checked(
            s->env.base, s->env.dns, s->url.host, s->url.port, s->env.connect_timeout_ms,
            s->policy != NULL ? net_fetch_check_cb : NULL, s, net_fetch_connected, s, &s->connect);
}

static void
net_fetch_connected(struct bufferevent *bev, int rv, void *arg)
{
    struct net_fetch *s = arg;
    struct net_http_client_opts opts;
    bool tls = strcmp(s->url.scheme, "https") == 0;

    s->connect = NULL;
    if (rv == DF_EPERM && s->why[0] != '\0') {
        net_fetch_finish(s, DF_EPERM);
        return;
    }
    s->why[0] = '\0'; /* a refused first address of the name left its reason */
    if (rv != 0) {
        snprintf(s->why, sizeof(s->why), "connect %s:%u: %s", s->url.host, s->url.port,
                 df_strerror(rv));
        net_fetch_finish(s, rv == DF_EDNS ? DF_EDNS : DF_ECONNECT);
        return;
    }
    /* Fewer, larger reads: libevent's default of 16 KiB per read costs a callback each. */
    bufferevent_set_max_single_read(bev, 256 * 1024);
    s->fd = bufferevent_getfd(bev);
    s->lowat = 1;
    s->lowat_cap = NET_FETCH_LOWAT;
    s->tick_total = 0;
    if (tls) {
        struct bufferevent *t;

        if (s->cluster_roles != 0)
            t = net_tls_wrap_expect(s->env.tls_cluster, bev, s->cluster_roles, NULL);
        else
            t = net_tls_wrap(s->insecure ? s->env.tls_insecure : s->env.tls, bev, s->url.host);
        if (t == NULL) {
            bufferevent_free(bev);
            net_fetch_finish(s, DF_ENOMEM);
            return;
        }
        bev = t;
        s->tls_bev = t;
        s->tls = true;
    }
    memset(&opts, 0, sizeof(opts));
    opts.head_timeout_ms = s->env.head_timeout_ms;
    opts.idle_timeout_ms = s->env.idle_timeout_ms;
    opts.body_high_water = 1 << 20;
    if ((rv = net_http_client_new(bev, &opts, &s->client)) != 0) {
        net_fetch_finish(s, rv);
        return;
    }
    if ((rv = net_fetch_request(s)) != 0)
        net_fetch_finish(s, rv == DF_ECLOSED ? DF_ECLOSED : DF_EINVAL);
}

/* Send the request of the current hop over s->client. Returns 0 or the client's code. */
static int
net_fetch_request(struct net_fetch *s)
{
    static const struct net_http_client_cbs cbs = {net_fetch_on_head, net_fetch_on_data,
                                                   net_fetch_on_end};
    struct net_http_header hdrs[NET_FETCH_MAX_HEADERS + 2];
    struct net_http_request req;
    char range[64], *target = NULL, *host = NULL;
    size_t n = 0;
    int rv;

    for (size_t i = 0; i < s->nheaders && n < NET_FETCH_MAX_HEADERS; i++) {
        if (s->drop_auth && net_fetch_is_secret(s->headers[i].name))
            continue;
        hdrs[n++] = s->headers[i];
    }
    if (s->has_range) {
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, s->start, s->end);
        hdrs[n].name = "Range";
        hdrs[n++].value = range;
    }
    hdrs[n].name = "User-Agent";
    hdrs[n++].value = "dragonfly";
    target = df_url_target_to_str(&s->url);
    host = df_url_authority_to_str(&s->url);
    memset(&req, 0, sizeof(req));
    req.method = s->head_only ? "HEAD" : "GET";
    req.target = target;
    req.host = host;
    req.headers = hdrs;
    req.nheaders = n;
    rv = net_http_client_request(s->client, &req, &cbs, s);
    free(target);
    free(host);
    if (rv != 0)
        snprintf(s->why, sizeof(s->why), "request rejected: %s (bad header?)", df_strerror(rv));
    return rv;
}

/* Start the current hop (s->url_text). */
static int
net_fetch_hop(struct net_fetch *s, struct df_error *err)
{
    int rv;

    df_url_reset(&s->url);
    if ((rv = df_url_parse(s->url_text, &s->url, err)) != 0)
        return rv;
    if (s->orig_host == NULL)
        s->orig_host = xstrdup(s->url.host);
    else if (strcmp(s->orig_host, s->url.host) != 0)
        s->drop_auth = true;
    if (s->env.pool != NULL && (strcmp(s->url.scheme, "http") == 0 || s->cluster_roles != 0) &&
        (s->client = net_fetch_pool_take(s, &s->fd)) != NULL) {
        s->reused = true;
        s->tls = s->cluster_roles != 0;
        s->lowat = 1;
        setsockopt(s->fd, SOL_SOCKET, SO_RCVLOWAT, &s->lowat, sizeof(s->lowat));
        /* Its callbacks run from the loop, never from here. */
        if (net_fetch_request(s) == 0)
            return 0;
        net_http_client_free(s->client);
        s->client = NULL;
        s->fd = -1;
        s->why[0] = '\0';
    }
    s->reused = false;
    s->tls = false;
    if ((rv = net_fetch_connect(s)) != 0)
        return df_error_set(err, rv, "connect %s: %s", s->url.host, df_strerror(rv));
    return 0;
}

int
net_fetch_start(const struct net_fetch_env *env, const struct net_fetch_req *req,
                const struct net_fetch_cbs *cbs, void *arg, struct net_fetch **out,
                struct df_error *err)
{
    struct net_fetch *s;
    int rv;

    if (req->cluster_roles != 0 && env->tls_cluster == NULL)
        return df_error_set(err, DF_EINVAL, "%s: no cluster TLS (tls.cert) configured", req->url);
    if (req->method != NULL && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return df_error_set(err, DF_EINVAL, "%s: method %s: only GET and HEAD", req->url,
                            req->method);
    if (cbs->on_data == NULL && req->max_body == 0)
        return df_error_set(err, DF_EINVAL, "%s: a body kept in memory needs a size limit",
                            req->url);
    s = xcalloc(1, sizeof(*s));
    s->env = *env;
    s->head_only = req->method != NULL && strcmp(req->method, "HEAD") == 0;
    s->any_status = req->any_status;
    s->keep_redirects = req->keep_redirects;
    s->max_redirects = req->max_redirects > 0 ? req->max_redirects : NET_FETCH_MAX_REDIRECTS;
    s->max_body = req->max_body;
    if (cbs->on_data == NULL)
        s->body = evbuffer_new();
    s->cbs = *cbs;
    s->fd = -1;
    s->arg = arg;
    s->url_text = xstrdup(req->url);
    s->has_range = req->has_range;
    s->start = req->start;
    s->end = req->end;
    s->insecure = req->insecure;
    s->cluster_roles = req->cluster_roles;
    s->policy = req->policy;
    if (req->nheaders > 0) {
        s->headers = xcalloc(req->nheaders, sizeof(*s->headers));
        for (size_t i = 0; i < req->nheaders; i++) {
            s->headers[i].name = xstrdup(req->headers[i].name);
            s->headers[i].value = xstrdup(req->headers[i].value);
        }
        s->nheaders = req->nheaders;
    }
    if ((rv = net_fetch_hop(s, err)) != 0) {
        net_fetch_free(s);
        return rv;
    }
    *out = s;
    return 0;
}

void
net_fetch_cancel(struct net_fetch *s)
{
    if (s != NULL)
        net_fetch_free(s);
}
