/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upload server: other peers fetch verified pieces with GET /pieces/<task_id>/<number>
 * (sendfile; keep-alive); /healthy answers probes (/metrics is on its own port:
 * peer_metrics.h). Only pieces recorded as
 * verified are served, and only from the task's own data file: the path is built from a
 * validated 64-hex task id, never from the request. With an upload rate limit, bodies are
 * produced in slices as the host-wide token bucket allows.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_metrics.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_addr.h"
#include "df/net_http_server.h"
#include "df/net_listener.h"
#include "df/net_route.h"
#include "df/net_tls.h"
#include "df/store_data.h"
#include "df/store_piece.h"
#include "df/xmalloc.h"
#include "peer_p2p.h"
#include "peer_task.h"
#include "peer_upload.h"

#define PEER_UPLOAD_SLICE (64 * 1024)

/*
 * Upload connections use cubic by default, not the system's (often BBR): in a swarm every
 * child uploads at its cap too, so its ACKs wait behind its own data in its uplink queue
 * (tens of ms), and BBR, whose window follows the minimum RTT, then stalls (bench: first
 * peer 1.9 s -> 0.8 s behind the seed, N=16 1.25x -> 1.17x).
 */

/* A rate-limited piece response being produced. */
struct peer_upload_stream {
    struct peer *ctx;
    struct net_http_req *req;
    struct event *timer;
    int fd;
    uint64_t off, left;
};

static void
peer_upload_stream_free(struct peer_upload_stream *u)
{
    if (u->timer != NULL)
        event_free(u->timer);
    if (u->fd != -1)
        close(u->fd);
    free(u);
}

static void peer_upload_stream_more(struct net_http_req *req, void *arg);

static void
peer_upload_stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_upload_stream *u = arg;

    (void)fd;
    (void)what;
    peer_upload_stream_more(u->req, u);
}

static void
peer_upload_stream_more(struct net_http_req *req, void *arg)
{
    struct peer_upload_stream *u = arg;
    struct peer *ctx = u->ctx;
    uint8_t buf[PEER_UPLOAD_SLICE];

    while (u->left > 0 && !net_http_req_is_congested(req)) {
        uint64_t now = df_time_mono_ns(), avail = net_ratelim_available(&ctx->up_rl, now);
        size_t n = u->left < sizeof(buf) ? (size_t)u->left : sizeof(buf);
        if (avail < n) {
            uint64_t wait = net_ratelim_wait_ns(&ctx->up_rl, n, now);
            struct timeval tv = {(time_t)(wait / 1000000000u),
                                 (suseconds_t)(wait % 1000000000u / 1000u) + 1};
            event_add(u->timer, &tv);
            return;
        }
        if (store_data_pread(u->fd, buf, n, u->off) != 0) {
            log_warnx("%s: upload read failed at %" PRIu64, PEER_TAG(ctx), u->off);
            net_http_req_end(req, DF_EIO);
            peer_upload_stream_free(u);
            return;
        }
        net_ratelim_consume(&ctx->up_rl, n, now);
        u->off += n;
        u->left -= n;
        ctx->bytes_uploaded += n;
        if (net_http_req_write(req, buf, n) != 0) {
            peer_upload_stream_free(u);
            return;
        }
    }
    if (u->left == 0) {
        net_http_req_end(req, 0);
        peer_upload_stream_free(u);
    }
}

static void
peer_upload_stream_close_cb(struct net_http_req *req, int reason, void *arg)
{
    (void)req;
    (void)reason;
    peer_upload_stream_free(arg);
}

/*
 * A cut-through response: a piece this peer is still fetching from its parent, sent as its
 * bytes reach the data file. The last byte waits until the piece is verified here, so a
 * piece that fails here never reaches a child whole; if the fetch fails or is started
 * again, the response is cut short (the child fetches the piece again, and verifies
 * whatever it gets against the scheduler's digest in any case).
 */
struct peer_upload_relay {
    TAILQ_ENTRY(peer_upload_relay) entry; /* in ctx->relays while waiting */
    struct peer *ctx;
    struct net_http_req *req;
    struct event *timer; /* fallback re-check while waiting */
    char task_id[DF_ID_TASK_LEN + 1];
    uint64_t number, seq;
    /* the piece in the data file, which it owns: queued sendfile slices read it after the
     * relay is gone, so the last of them closes it */
    struct evbuffer_file_segment *seg;
    uint64_t start, len, sent; /* piece offset in the file, length, bytes sent */
    bool waiting;
};

#define PEER_UPLOAD_RELAY_RECHECK_MS 50

static void
peer_upload_relay_free(struct peer_upload_relay *r)
{
    if (r->waiting)
        TAILQ_REMOVE(&r->ctx->relays, r, entry);
    if (r->timer != NULL)
        event_free(r->timer);
    if (r->seg != NULL)
        evbuffer_file_segment_free(r->seg);
    free(r);
}

static void
peer_upload_relay_wait(struct peer_upload_relay *r)
{
    struct timeval tv = {0, PEER_UPLOAD_RELAY_RECHECK_MS * 1000};

    if (!r->waiting) {
        TAILQ_INSERT_TAIL(&r->ctx->relays, r, entry);
        r->waiting = true;
    }
    evtimer_add(r->timer, &tv);
}

static void
peer_upload_relay_more(struct net_http_req *req, void *arg)
{
    struct peer_upload_relay *r = arg;
    int rv;

    if (r->waiting) {
        TAILQ_REMOVE(&r->ctx->relays, r, entry);
        r->waiting = false;
    }
    evtimer_del(r->timer);
    while (r->sent < r->len && !net_http_req_is_congested(req)) {
        struct peer_p2p_progress pr;
        int st = peer_p2p_piece_progress(r->ctx, r->task_id, r->number, &pr);
        uint64_t limit;
        size_t n;

        if (st != 0 || pr.seq != r->seq) {
            /* Done meanwhile (and perhaps the task object with it)? Ask the store. */
            struct store_piece sp;
            memset(&sp, 0, sizeof(sp));
            if (st != 1 && store_piece_get(r->ctx->db, r->task_id, r->number, &sp) == 0 &&
                sp.state == STORE_PIECE_FINISHED)
                st = 1;
        }
        if (st == 1)
            limit = r->len;
        else if (st == 0 && pr.seq == r->seq)
            limit = pr.written < r->len ? pr.written : r->len - 1;
        else {
            net_http_req_end(req, DF_EIO); /* the fetch behind us failed or started again */
            peer_upload_relay_free(r);
            return;
        }
        if (limit <= r->sent) {
            peer_upload_relay_wait(r);
            return;
        }
        n = (size_t)(limit - r->sent);
        /* straight onto the connection: sendfile, where a buffer of our own would have
         * had libevent map the piece and copy it through user space */
        if ((rv = net_http_req_write_file(req, r->seg, r->sent, n)) != 0) {
            if (rv == DF_EIO)
                net_http_req_end(req, DF_EIO);
            peer_upload_relay_free(r);
            return;
        }
        r->sent += n;
        r->ctx->bytes_uploaded += n;
    }
    if (r->sent == r->len) {
        net_http_req_end(req, 0);
        peer_upload_relay_free(r);
    }
}

static void
peer_upload_relay_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_upload_relay *r = arg;

    (void)fd;
    (void)what;
    peer_upload_relay_more(r->req, r);
}

static void
peer_upload_relay_close_cb(struct net_http_req *req, int reason, void *arg)
{
    (void)req;
    (void)reason;
    peer_upload_relay_free(arg);
}

/* More of a piece of task_id being received is written (or it ended): relays send on. */
static void
peer_upload_relay_kick(struct peer *ctx, const char *task_id)
{
    TAILQ_HEAD(, peer_upload_relay) kicked = TAILQ_HEAD_INITIALIZER(kicked);
    struct peer_upload_relay *r, *next;

    /* Take them off first: one that must wait again goes back on ctx->relays. */
    for (r = TAILQ_FIRST(&ctx->relays); r != NULL; r = next) {
        next = TAILQ_NEXT(r, entry);
        if (strcmp(r->task_id, task_id) != 0)
            continue;
        TAILQ_REMOVE(&ctx->relays, r, entry);
        TAILQ_INSERT_TAIL(&kicked, r, entry);
    }
    while ((r = TAILQ_FIRST(&kicked)) != NULL) {
        TAILQ_REMOVE(&kicked, r, entry);
        r->waiting = false;
        peer_upload_relay_more(r->req, r); /* may free r or wait again */
    }
}

/* Relays follow every task's bytes as a listener of the task core. */
static void
peer_upload_relay_on_bytes(struct peer_task *t, void *arg)
{
    (void)arg;
    peer_upload_relay_kick(t->ctx, t->id);
}

static const struct peer_task_events peer_upload_relay_events = {
        .bytes = peer_upload_relay_on_bytes,
};

void
peer_upload_relay_stop(struct peer *ctx)
{
    struct peer_upload_relay *r;

    if (ctx->relay_listener != NULL) {
        peer_task_unlisten(ctx, ctx->relay_listener);
        DF_FREE(ctx->relay_listener, free);
    }

    while ((r = TAILQ_FIRST(&ctx->relays)) != NULL) {
        net_http_req_end(r->req, DF_EIO);
        peer_upload_relay_free(r);
    }
}

/* Start a cut-through response for a piece being fetched here; false if it is not. */
static bool
peer_upload_relay_start(struct peer *ctx, struct net_http_req *req, const char *id, uint64_t number)
{
    struct peer_upload_relay *r;
    struct df_error err;
    struct peer_p2p_progress pr;
    uint64_t off, len;
    int fd = -1;
    char off_s[32];

    if (ctx->cfg.upload_rate > 0 || peer_p2p_piece_progress(ctx, id, number, &pr) != 0)
        return false;
    off = pr.off;
    len = pr.len;
    if (store_data_open(ctx->cfg.data_dir, id, false, &fd, &err) != 0)
        return false;
    r = xcalloc(1, sizeof(*r));
    r->ctx = ctx;
    r->req = req;
    memcpy(r->task_id, id, sizeof(r->task_id));
    r->number = number;
    r->seq = pr.seq;
    r->start = off;
    r->len = len;
    r->timer = evtimer_new(ctx->base, peer_upload_relay_timer_cb, r);
    /* Slices go out with sendfile as they are written. */
    r->seg = evbuffer_file_segment_new(fd, (ev_off_t)off, (ev_off_t)len, EVBUF_FS_CLOSE_ON_FREE);
    if (r->seg == NULL) {
        close(fd);
        peer_upload_relay_free(r);
        return false;
    }
    snprintf(off_s, sizeof(off_s), "%" PRIu64, off);
    net_http_req_add_header(req, "X-Dragonfly-Piece-Offset", off_s);
    ctx->pieces_uploaded++;
    net_http_req_on_close(req, peer_upload_relay_close_cb, r);
    if (net_http_req_start(req, 200, "application/octet-stream", (int64_t)len,
                           peer_upload_relay_more, r) != 0) {
        peer_upload_relay_free(r);
        return true;
    }
    peer_upload_relay_more(req, r);
    return true;
}

int
peer_upload_path_parse(const char *rest, char id[DF_ID_TASK_LEN + 1], uint64_t *number)
{
    const char *num = rest + DF_ID_TASK_LEN + 1;
    char tid[DF_ID_TASK_LEN + 1];
    size_t len = strlen(rest);
    uint64_t n = 0;

    if (len <= DF_ID_TASK_LEN + 1 || rest[DF_ID_TASK_LEN] != '/')
        return DF_EINVAL;
    memcpy(tid, rest, DF_ID_TASK_LEN);
    tid[DF_ID_TASK_LEN] = '\0';
    /* One spelling per piece: "01" would name piece 1 a second way (logs, caches). */
    if (!df_id_task_is_valid(tid) || (num[0] == '0' && num[1] != '\0') ||
        net_http_parse_u64(num, strlen(num), &n) != 0)
        return DF_EPROTO;
    memcpy(id, tid, sizeof(tid));
    *number = n;
    return 0;
}

static void
peer_upload_piece(struct peer *ctx, struct net_http_req *req, const char *rest)
{
    char id[DF_ID_TASK_LEN + 1], len_s[32];
    struct store_piece p;
    struct df_error err;
    uint64_t n = 0;
    int fd = -1, rv;

    if ((rv = peer_upload_path_parse(rest, id, &n)) == DF_EINVAL) {
        net_http_req_respond(req, 400, "text/plain", "bad piece path\n", 15);
        return;
    }
    if (rv != 0) {
        net_http_req_respond(req, 400, "text/plain", "bad task id or piece number\n", 28);
        return;
    }
    memset(&p, 0, sizeof(p));
    if (store_piece_get(ctx->db, id, n, &p) != 0 || p.state != STORE_PIECE_FINISHED) {
        if (!peer_upload_relay_start(ctx, req, id, n))
            net_http_req_respond(req, 404, "text/plain", "no such piece\n", 14);
        return;
    }
    if ((rv = store_data_open(ctx->cfg.data_dir, id, false, &fd, &err)) != 0) {
        net_http_req_respond(req, 404, "text/plain", "no such piece\n", 14);
        return;
    }
    snprintf(len_s, sizeof(len_s), "%" PRIu64, p.offset);
    net_http_req_add_header(req, "X-Dragonfly-Piece-Offset", len_s);
    ctx->pieces_uploaded++;
    if (ctx->cfg.upload_rate > 0) {
        struct peer_upload_stream *u = xcalloc(1, sizeof(*u));
        u->ctx = ctx;
        u->req = req;
        u->fd = fd;
        u->off = p.offset;
        u->left = p.length;
        u->timer = evtimer_new(ctx->base, peer_upload_stream_timer_cb, u);
        net_http_req_on_close(req, peer_upload_stream_close_cb, u);
        if (net_http_req_start(req, 200, "application/octet-stream", (int64_t)p.length,
                               peer_upload_stream_more, u) != 0) {
            peer_upload_stream_free(u);
            return;
        }
        peer_upload_stream_more(req, u);
        return;
    }
    ctx->bytes_uploaded += p.length;
    net_http_req_respond_file(req, 200, "application/octet-stream", fd, p.offset, p.length);
}

static void
peer_upload_pieces_route(struct net_http_req *req, const struct net_route_match *m, void *arg)
{
    peer_upload_piece(arg, req, net_route_param(m, "rest"));
}

static void
peer_upload_handler(struct net_http_req *req, void *arg)
{
    /* the rest of a piece path is parsed by peer_upload_path_parse, which says what is wrong */
    static const struct net_route routes[] = {
            {"GET", "/pieces/*rest", peer_upload_pieces_route},
            {"GET", "/healthy", net_route_healthy},
    };

    net_route_dispatch(req, routes, DF_NELEM(routes), arg);
}

static void
peer_upload_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    struct peer *ctx = arg;
    const char *cc = ctx->cfg.upload_congestion;
    struct bufferevent *bev, *tbev;
    char addr[64];

    /* Best effort: an algorithm the kernel lacks or does not allow us leaves the default. */
    if (cc != NULL && *cc != '\0' &&
        setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) != 0)
        log_debug("peer", "%s: upload congestion control %s: %s", PEER_TAG(ctx), cc,
                  strerror(errno));
    if (ctx->tls_upload == NULL) {
        net_http_server_accept_cb(fd, peer, peerlen, ctx->upload);
        return;
    }
    /* Cluster mTLS: clients without a cluster certificate are refused (tls.requireClientCert). */
    net_addr_format(peer, peerlen, addr, sizeof(addr));
    if ((bev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
        log_warnx("%s: upload connection from %s dropped: out of memory", PEER_TAG(ctx), addr);
        close(fd);
        return;
    }
    if ((tbev = net_tls_wrap(ctx->tls_upload, bev, NULL)) == NULL) {
        log_warnx("%s: upload connection from %s dropped: out of memory", PEER_TAG(ctx), addr);
        bufferevent_free(bev);
        return;
    }
    net_http_server_adopt(ctx->upload, tbev, addr);
}

int
peer_upload_start(struct peer *ctx, const char *bind_host, struct df_error *err)
{
    struct net_http_server_opts opts;
    char addr[128];
    int rv;

    ctx->relay_listener = xcalloc(1, sizeof(*ctx->relay_listener));
    ctx->relay_listener->ev = &peer_upload_relay_events;
    peer_task_listen(ctx, ctx->relay_listener);
    memset(&opts, 0, sizeof(opts));
    opts.name = "upload";
    opts.max_body = 1;
    opts.max_conns = (unsigned)ctx->cfg.upload_max_conns;
    opts.max_conns_per_ip = (unsigned)ctx->cfg.upload_max_conns_ip;
    if ((rv = net_http_server_new(ctx->base, &opts, peer_upload_handler, ctx, &ctx->upload)) != 0)
        return df_error_set(err, rv, "upload server: %s", df_strerror(rv));
    snprintf(addr, sizeof(addr), strchr(bind_host, ':') != NULL ? "[%s]:%" PRId64 : "%s:%" PRId64,
             bind_host, ctx->cfg.upload_port);
    return net_listener_new(ctx->base, addr, 0, peer_upload_accept_cb, ctx, &ctx->upload_listener,
                            err);
}
