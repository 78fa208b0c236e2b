/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P2P side's scheduler client: host announces, a task's AnnouncePeer stream (register,
 * reports, and what the scheduler answers: parents, back to source, tiny or empty content),
 * retries with backoff across schedulers, and re-registering finished tasks as parents.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_listener.h"
#include "df/proto_sched.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"
#include "df/store_piece.h"
#include "df/xmalloc.h"
#include "peer_p2p.h"
#include "peer_task.h"
#include "peer_p2p_int.h"

#define PEER_P2P_GRACE_MS     10000 /* a lost scheduler waits this long before the origin */
#define PEER_P2P_RETRY_MAX_MS 60000 /* the longest wait between registrations */

/*
 * An AnnouncePeer request of kind about p's task. Its strings are borrowed (from p, or set
 * by the caller from what outlives the send): it is sent with peer_p2p_send and never reset.
 */
struct proto_sched_peer_req
peer_p2p_req(struct peer_p2p *p, enum proto_sched_peer_req_kind kind)
{
    struct proto_sched_peer_req r = {.kind = kind, .content_length = -1};

    r.host_id = p->pc->ctx->host_id;
    r.task_id = p->task_id;
    r.peer_id = p->peer_id;
    return r;
}

void
peer_p2p_send(struct peer_p2p *p, const struct proto_sched_peer_req *r)
{
    cJSON *m;

    if (p->stream == NULL)
        return;
    if ((m = proto_sched_peer_req_to_json(r)) == NULL || rpc_client_send(p->stream, m) != 0)
        P2P_LOG(p, LOG_LEVEL_DEBUG, "p2p", "%s p2p: task %.12s: report dropped",
                PEER_TAG(p->pc->ctx), p->task_id);
    cJSON_Delete(m);
}

/* A recorded piece into a report (parent_id borrowed; NULL: from the source). */
void
peer_p2p_piece_set(struct proto_sched_piece *pc, uint64_t number, uint64_t off, uint64_t len,
                   const uint8_t md[DF_SHA256_LEN], char *parent_id)
{
    pc->number = (uint32_t)number;
    pc->offset = off;
    pc->length = (uint32_t)len;
    pc->parent_id = parent_id;
    pc->has_digest = true;
    df_digest_set_sha256(&pc->digest, md);
}

/*
 * A call to scheduler i ended with st: note whether the scheduler is reachable, and log
 * when that changes. Only a failure to get an answer at all counts as unreachable.
 */
static void
peer_p2p_sched_reached(struct peer_p2p_ctx *pc, int i, const struct rpc_status *st)
{
    struct peer_sched_link *l = &pc->link[i];
    enum peer_sched_reach next;

    /* i >= nsched: a call on a scheduler set that was replaced since */
    if (pc->stopping || st->code == RPC_CANCELED || i >= pc->nsched)
        return;
    next = st->code == RPC_UNAVAILABLE || st->code == RPC_DEADLINE_EXCEEDED ? PEER_SCHED_DOWN
                                                                            : PEER_SCHED_UP;
    if (next == l->reach)
        return;
    if (next == PEER_SCHED_DOWN)
        log_warnx("%s p2p: scheduler %s unreachable: %s", PEER_TAG(pc->ctx), l->addr,
                  st->message[0] != '\0' ? st->message : rpc_err_name(st->code));
    else
        log_info("%s p2p: scheduler %s reachable%s", PEER_TAG(pc->ctx), l->addr,
                 l->reach == PEER_SCHED_DOWN ? " again" : "");
    l->reach = next;
}

bool
peer_p2p_sched_is_reachable(const struct peer *ctx, char *why, size_t len)
{
    const struct peer_p2p_ctx *pc = ctx->p2p;

    if (pc == NULL || pc->nsched == 0)
        return true;
    for (int i = 0; i < pc->nsched; i++)
        if (pc->link[i].reach == PEER_SCHED_UP)
            return true;
    snprintf(why, len, "no scheduler answers (%s: %s)", pc->link[0].addr,
             pc->link[0].reach == PEER_SCHED_DOWN ? "unreachable" : "no answer yet");
    return false;
}

void
peer_p2p_prioritize(const struct peer *ctx, struct peer_download_req *r)
{
    bool has_scheduler = ctx->p2p != NULL && ctx->p2p->nsched > 0;

    if (!has_scheduler && (r->priority == 1 || r->priority == 2))
        r->disable_back_to_source = true;
}

/* Completion of a periodic AnnounceHost: only tells whether the scheduler answers. */
static void
peer_p2p_announce_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_sched_link *l = arg;

    (void)resp;
    peer_p2p_sched_reached(l->pc, l->i, st);
}

/* Completion of a call whose answer changes nothing (leave). */
void
peer_p2p_unary_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_p2p_ctx *pc = arg;

    (void)resp;
    if (st->code != RPC_OK)
        log_debug("p2p", "%s p2p: scheduler call: %s", PEER_TAG(pc->ctx), st->message);
}

static void
peer_p2p_set_digests(struct peer_p2p *p, const struct proto_sched_piece_digest *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i].number >= p->npieces)
            continue;
        memcpy(p->digest[list[i].number], list[i].digest.bytes, DF_SHA256_LEN);
        p->has_digest[list[i].number] = 1;
    }
}

/* Size the per-piece arrays once the geometry is known. */
static int
peer_p2p_geometry(struct peer_p2p *p, const struct proto_sched_peer_resp *o)
{
    struct peer_task *t = p->t;
    uint64_t len = o->content_length, plen = o->piece_length;
    struct df_error err;
    int rv;

    if (t->length_known)
        return 0;
    if (!o->has_geometry)
        return DF_EAGAIN;
    if (plen != 0 && !df_id_piece_length_is_valid(plen) && plen != (UINT64_C(4) << 20))
        plen = 0;
    if ((rv = peer_task_set_geometry(t, len, plen, &err)) != 0) {
        peer_task_fail(t, rv, err.msg);
        return rv;
    }
    p->npieces = t->piece_count > 0 ? t->piece_count : 1;
    p->digest = xcalloc(p->npieces, DF_SHA256_LEN);
    p->has_digest = xcalloc(p->npieces, 1);
    for (int i = 0; i < p->nparents; i++) {
        free(p->parents[i].has);
        p->parents[i].has = xcalloc(p->npieces, 1);
        free(p->parents[i].bad);
        p->parents[i].bad = xcalloc(p->npieces, 1);
    }
    peer_task_started(t);
    return 0;
}

static void
peer_p2p_stream_message(struct rpc_client_call *c, const cJSON *msg, void *arg)
{
    struct peer_p2p *p = arg;
    struct peer_task *t = p->t;
    struct proto_sched_peer_resp r;
    struct df_error err;

    (void)c;
    p->lost_ms = 0;
    if (t == NULL)
        return; /* a finished task's stream: nothing to do */
    if (proto_sched_peer_resp_from_json(msg, &r, &err) != 0) {
        P2P_LOG(p, LOG_LEVEL_WARN, NULL, "%s p2p: task %.12s: scheduler answer ignored: %s",
                PEER_TAG(p->pc->ctx), p->task_id, err.msg);
        /* a tiny task's content that cannot be read: fetch it ourselves */
        if (t->state == PEER_TASK_P2P && proto_sched_peer_resp_kind_of(msg) == PROTO_PEER_RESP_TINY)
            peer_task_back_to_source(t);
        return;
    }
    switch (r.kind) {
    case PROTO_PEER_RESP_DIGESTS:
        if (t->state == PEER_TASK_P2P && peer_p2p_geometry(p, &r) != 0)
            break;
        if (t->length_known)
            peer_p2p_set_digests(p, r.pieces, r.npieces);
        peer_p2p_schedule(p);
        break;
    case PROTO_PEER_RESP_NORMAL:
        if (t->state != PEER_TASK_P2P)
            break;
        if (peer_p2p_geometry(p, &r) == 0)
            peer_p2p_set_parents(p, r.parents, r.nparents);
        peer_p2p_schedule(p);
        break;
    case PROTO_PEER_RESP_BACK_TO_SOURCE:
        if (t->state != PEER_TASK_P2P)
            break;
        if (t->ctx->cfg.no_back_to_source && !t->ctx->cfg.seed) {
            peer_task_fail(t, DF_EUNAVAIL,
                           "no parent can serve the task and back-to-source is "
                           "disabled");
            break;
        }
        P2P_LOG(p, LOG_LEVEL_INFO, NULL, "%s p2p: task %.12s: back to source (scheduler)",
                PEER_TAG(p->pc->ctx), p->task_id);
        peer_task_back_to_source(t);
        break;
    case PROTO_PEER_RESP_EMPTY:
        if (t->state != PEER_TASK_P2P)
            break;
        if (peer_task_set_geometry(t, 0, 0, &err) != 0) {
            peer_task_fail(t, DF_EIO, err.msg);
            break;
        }
        peer_task_started(t);
        peer_task_complete(t);
        break;
    case PROTO_PEER_RESP_TINY:
        if (t->state == PEER_TASK_P2P)
            peer_task_inline_content(t, r.content, r.content_len);
        break;
    case PROTO_PEER_RESP_KINDS:
        break;
    }
    proto_sched_peer_resp_reset(&r);
}

static void
peer_p2p_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_p2p *p = arg;

    (void)fd;
    (void)what;
    DF_FREE(p->retry_timer, event_free);
    peer_p2p_register(p);
}

/* Try again later (next scheduler first), or give up on the scheduler for this task. */
static void
peer_p2p_retry(struct peer_p2p *p, const char *why)
{
    struct timeval tv;
    uint64_t ms;

    p->attempts++;
    p->sched = (p->sched + 1) % p->pc->nsched;
    if (p->t != NULL && p->t->state == PEER_TASK_P2P && !p->t->length_known &&
        p->attempts >= (unsigned)p->pc->nsched &&
        (p->lost_ms == 0 || df_time_wall_ms() - p->lost_ms >= PEER_P2P_GRACE_MS)) {
        /*
         * No scheduler answers and nothing is under way: fetch it ourselves. A scheduler
         * that was there gets a grace period first, so that a restart does not send every
         * waiting peer to the origin.
         */
        if (p->pc->ctx->cfg.no_back_to_source) {
            char msg[700];
            snprintf(msg, sizeof(msg),
                     "no scheduler reachable (%s) and back-to-source is "
                     "disabled",
                     why);
            peer_task_fail(p->t, DF_EUNAVAIL, msg);
            return;
        }
        P2P_LOG(p, LOG_LEVEL_WARN, NULL, "%s p2p: task %.12s: no scheduler (%s); back to source",
                PEER_TAG(p->pc->ctx), p->task_id, why);
        peer_task_back_to_source(p->t);
    }
    /* 0.5 s x 2^n up to 60 s: a scheduler that ends every stream is not asked in a loop */
    ms = 500u << (p->attempts < 7 ? p->attempts : 7);
    ms = ms < PEER_P2P_RETRY_MAX_MS ? ms : PEER_P2P_RETRY_MAX_MS;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
    p->retry_timer = evtimer_new(p->pc->ctx->base, peer_p2p_retry_cb, p);
    evtimer_add(p->retry_timer, &tv);
}

/*
 * The scheduler failed us with data_loss. Pieces that came from peers were verified against
 * digests that are now known to be doubtful: drop them (a finished task leaves the cache).
 * Pieces we fetched from the origin ourselves are ours and stay.
 */
static void
peer_p2p_data_lost(struct peer_p2p *p)
{
    struct peer *ctx = p->pc->ctx;

    if (p->t == NULL) {
        if (p->bytes_from_peers > 0 && peer_task_drop_storage(ctx, p->task_id) == 0)
            P2P_LOG(p, LOG_LEVEL_INFO, NULL, "%s p2p: task %.12s: cached copy dropped",
                    PEER_TAG(ctx), p->task_id);
        return;
    }
    if (p->t->state != PEER_TASK_P2P)
        return;
    if (peer_task_drop_pieces(p->t) != 0) {
        peer_task_fail(p->t, DF_EIO, NULL);
        return;
    }
    /* the geometry, digests and parents (what they hold) come again with the next stream */
    for (int i = 0; i < p->nparents; i++)
        peer_parent_reset(&p->parents[i]);
    p->nparents = 0;
    DF_FREE(p->digest, free);
    DF_FREE(p->has_digest, free);
    p->npieces = 0;
}

static void
peer_p2p_stream_close(struct rpc_client_call *c, const struct rpc_status *st, void *arg)
{
    struct peer_p2p *p = arg;
    bool was_registered = peer_p2p_registered(p);

    (void)c;
    p->stream = NULL;
    peer_p2p_set_session(p, peer_p2p_done(p) ? PEER_P2P_DONE : PEER_P2P_IDLE);
    if (p->pc->stopping)
        return;
    if (was_registered) {
        /* Only a stream that got somewhere resets the backoff (M2: a scheduler refusing
         * our reports on every stream must not get a registration a second). */
        if (p->progress)
            p->attempts = 0;
        p->progress = false;
        if (p->lost_ms == 0)
            p->lost_ms = df_time_wall_ms();
    }
    if (p->t != NULL && (p->t->state == PEER_TASK_FAILED))
        return;
    if (st->code == RPC_DATA_LOSS) {
        /* The task's source data conflicted: what we hold from peers may be wrong. */
        P2P_LOG(p, LOG_LEVEL_WARN, NULL,
                "%s p2p: task %.12s: scheduler: %s; dropping pieces from peers and registering "
                "again",
                PEER_TAG(p->pc->ctx), p->task_id, st->message);
        peer_p2p_data_lost(p);
        peer_p2p_retry(p, st->message);
        return;
    }
    /* The scheduler refused the task's first download by its priority: final, and not a
     * reason to fetch from the origin ourselves, which the priority forbids too. */
    if (p->t != NULL && p->t->state == PEER_TASK_P2P &&
        ((st->code == RPC_FAILED_PRECONDITION &&
          strcmp(st->message, PROTO_SCHED_PRIORITY_FORBIDDEN) == 0) ||
         (st->code == RPC_NOT_FOUND && strcmp(st->message, PROTO_SCHED_PRIORITY_NO_PEERS) == 0))) {
        peer_task_fail(p->t, st->code == RPC_NOT_FOUND ? DF_ENOTFOUND : DF_EPERM, st->message);
        return;
    }
    /* Refusals (permission_denied: a report the scheduler does not take from us) are not
     * retried: registering again would be refused again. */
    if (st->code == RPC_FAILED_PRECONDITION || st->code == RPC_NOT_FOUND ||
        st->code == RPC_INVALID_ARGUMENT || st->code == RPC_PERMISSION_DENIED) {
        if (p->t != NULL && p->t->state == PEER_TASK_P2P) {
            if (p->pc->ctx->cfg.no_back_to_source) {
                peer_task_fail(p->t, rpc_err_to_df(st->code), st->message);
                return;
            }
            P2P_LOG(p, LOG_LEVEL_WARN, NULL, "%s p2p: task %.12s: scheduler: %s; back to source",
                    PEER_TAG(p->pc->ctx), p->task_id, st->message);
            peer_task_back_to_source(p->t);
        }
        return;
    }
    P2P_LOG(p, LOG_LEVEL_INFO, NULL,
            "%s p2p: task %.12s: scheduler stream closed (%s); registering again",
            PEER_TAG(p->pc->ctx), p->task_id, st->message);
    peer_p2p_retry(p, st->message);
}

/* The task is done (from_source: we fetched it from the origin, or were told to). */
void
peer_p2p_report_done(struct peer_p2p *p, bool from_source)
{
    struct proto_sched_peer_req r =
            peer_p2p_req(p, p->need_back_to_source || from_source ? PROTO_PEER_BTS_FINISHED
                                                                  : PROTO_PEER_FINISHED);

    r.content_length = (int64_t)p->content_length;
    r.has_piece_count = true;
    r.piece_count = (uint32_t)p->piece_count;
    peer_p2p_send(p, &r);
}

/*
 * Registering again what we fetched from the source (a finished task, or one still being
 * fetched when the scheduler restarted): the scheduler learns every piece we hold with its
 * digest, so children can take them from us. A finished task then reports its end.
 */
static void
peer_p2p_reannounce_pieces(struct peer_p2p *p, uint64_t content_length, uint64_t piece_length)
{
    struct store_piece *pieces = NULL;
    size_t n = 0;
    struct proto_sched_peer_req r = peer_p2p_req(p, PROTO_PEER_BTS_STARTED);

    r.content_length = (int64_t)content_length;
    r.piece_length = (uint32_t)piece_length;
    peer_p2p_send(p, &r);
    if (!peer_p2p_done(p))
        peer_p2p_set_session(p, PEER_P2P_SOURCE);
    if (store_piece_list_finished(p->pc->ctx->db, p->task_id, &pieces, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            r = peer_p2p_req(p, PROTO_PEER_BTS_PIECE_FINISHED);
            peer_p2p_piece_set(&r.piece, pieces[i].number, pieces[i].offset, pieces[i].length,
                               pieces[i].digest, NULL);
            peer_p2p_send(p, &r);
        }
        free(pieces);
    }
    if (peer_p2p_done(p))
        peer_p2p_report_done(p, true);
}

static void
peer_p2p_open_stream(struct peer_p2p *p)
{
    static const struct rpc_client_stream_cbs cbs = {peer_p2p_stream_message,
                                                     peer_p2p_stream_close};
    struct proto_sched_peer_req r;
    bool done = peer_p2p_done(p);
    int rv;

    rv = rpc_client_stream(peer_p2p_sched_of(p), PROTO_SCHED_ANNOUNCE_PEER, PEER_P2P_STREAM_MS,
                           &cbs, p, &p->stream);
    if (rv != 0) {
        peer_p2p_retry(p, df_strerror(rv));
        return;
    }
    r = peer_p2p_req(p, PROTO_PEER_REGISTER);
    r.download.url = p->url;
    r.download.tag = p->tag;
    r.download.application = p->application;
    r.download.filtered = p->filtered;
    r.download.headers = p->headers;
    r.download.nheaders = p->nheaders;
    r.download.priority = p->priority;
    r.download.need_back_to_source =
            p->need_back_to_source || done || (p->t != NULL && p->t->from_source);
    if (done || (p->t != NULL && p->t->length_known)) {
        r.content_length = (int64_t)(done ? p->content_length : p->t->content_length);
        r.piece_length = (uint32_t)(done ? p->piece_length : p->t->piece_length);
    }
    peer_p2p_send(p, &r);
    peer_p2p_set_session(p, done ? PEER_P2P_DONE_REGISTERED : PEER_P2P_REGISTERED);
    if (done)
        peer_p2p_reannounce_pieces(p, p->content_length, p->piece_length);
    else if (p->t != NULL && p->t->from_source && p->t->length_known)
        peer_p2p_reannounce_pieces(p, p->t->content_length, p->t->piece_length);
}

static void
peer_p2p_probe_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_p2p *p = arg;

    (void)resp;
    p->probe = NULL;
    peer_p2p_sched_reached(p->pc, p->sched, st);
    if (st->code != RPC_OK) {
        peer_p2p_retry(p, st->message[0] != '\0' ? st->message : rpc_err_name(st->code));
        return;
    }
    p->pc->sched_ok = p->sched;
    peer_p2p_open_stream(p);
}

/* The TCP port of the peer's RPC server (its first listener). */
static uint64_t
peer_p2p_rpc_port(struct peer *ctx)
{
    const char *a = rpc_server_addr(ctx->rpc, 0), *c = a != NULL ? strrchr(a, ':') : NULL;

    return c != NULL ? strtoull(c + 1, NULL, 10) : 0;
}

/* This host's AnnounceHost request; NULL on OOM (the caller deletes it). */
static cJSON *
peer_p2p_host_json(struct peer *ctx)
{
    struct proto_sched_announce_host a; /* strings borrowed: never reset */

    memset(&a, 0, sizeof(a));
    a.host.id = ctx->host_id;
    a.host.type = ctx->cfg.seed ? PROTO_HOST_SEED : PROTO_HOST_NORMAL;
    a.host.hostname = ctx->cfg.hostname;
    a.host.ip = ctx->cfg.ip;
    a.host.port = (uint16_t)peer_p2p_rpc_port(ctx);
    a.host.download_port = (uint16_t)net_listener_port(ctx->upload_listener);
    a.host.upload_rate_limit = (uint64_t)ctx->cfg.upload_rate;
    a.host.upload_slots = 64;
    a.interval = (uint64_t)ctx->cfg.announce_interval;
    return proto_sched_announce_host_to_json(&a);
}

/* Announce the host (the scheduler must know it before a register), then open the stream. */
void
peer_p2p_register(struct peer_p2p *p)
{
    cJSON *req = peer_p2p_host_json(p->pc->ctx);
    int rv;

    rv = req == NULL ? DF_ENOMEM
                     : rpc_client_unary(peer_p2p_sched_of(p), PROTO_SCHED_ANNOUNCE_HOST, req,
                                        PEER_P2P_PROBE_MS, peer_p2p_probe_done, p, &p->probe);
    cJSON_Delete(req);
    if (rv != 0)
        peer_p2p_retry(p, df_strerror(rv));
}

void
peer_p2p_announce_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_p2p_ctx *pc = arg;
    cJSON *req = peer_p2p_host_json(pc->ctx);

    (void)fd;
    (void)what;
    for (int i = 0; req != NULL && i < pc->nsched; i++)
        rpc_client_unary(pc->sched[i], PROTO_SCHED_ANNOUNCE_HOST, req, PEER_P2P_PROBE_MS,
                         peer_p2p_announce_done, &pc->link[i], NULL);
    cJSON_Delete(req);
}

void
peer_p2p_leave_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_p2p_ctx *pc = arg;

    (void)resp;
    if (st->code != RPC_OK)
        log_debug("p2p", "%s p2p: leave host: %s", PEER_TAG(pc->ctx), st->message);
    pc->leaving--;
}
