/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's P2P side. With schedulers configured, a new task registers with a scheduler
 * over one AnnouncePeer stream and does what it is told: fetch from the origin (a seed, or
 * when no seed can), take parents, or write an empty/tiny content. Parents tell us which
 * pieces they hold over SyncPieces streams; we fetch pieces from their upload servers,
 * verify each against the digest the scheduler relayed from the peer that fetched it from
 * the source (never trusting the parent), record it, report it, and offer it onward at once.
 * A parent that serves bad bytes is struck, reported, and blocked after PEER_P2P_STRIKES.
 * Without a reachable scheduler the task goes back to source itself (unless
 * --no-back-to-source). A finished task keeps its stream so the peer stays a parent; when
 * the scheduler goes away the peer registers its finished tasks again once it is back.
 *
 * This file holds a task's P2P session (its life, the task core's listener and swarm ops)
 * and the module's start and stop; peer_p2p_sched.c talks to the scheduler,
 * peer_p2p_parent.c fetches from parents, peer_p2p_serve.c serves children (SyncPieces,
 * DownloadTask). Their shared model is peer_p2p_int.h.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "df/df_id.h"
#include "df/log.h"
#include "df/net_tls.h"
#include "df/proto_dfdaemon.h"
#include "df/proto_sched.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"
#include "df/xmalloc.h"
#include "peer_p2p.h"
#include "peer_task.h"
#include "peer_p2p_int.h"

#define PEER_P2P_LEAVE_MS 500 /* a stopping peer waits this long for LeaveHost */

static void peer_p2p_free_now(struct peer_p2p *p);

static const char *const peer_p2p_session_names[] = {"IDLE", "REGISTERED", "SOURCE", "DONE",
                                                     "DONE_REGISTERED"};

void
peer_p2p_set_session(struct peer_p2p *p, enum peer_p2p_session s)
{
    static const bool ok[5][5] = {
            /* to:  IDLE  REGISTERED SOURCE DONE  DONE_REGISTERED */
            [PEER_P2P_IDLE] = {false, true, false, true, false},
            [PEER_P2P_REGISTERED] = {true, false, true, false, true},
            [PEER_P2P_SOURCE] = {true, false, false, false, true},
            [PEER_P2P_DONE] = {false, false, false, false, true},
            [PEER_P2P_DONE_REGISTERED] = {false, false, false, true, false},
    };

    if (p->session == s)
        return;
    DF_ASSERT(ok[p->session][s]);
    P2P_LOG(p, LOG_LEVEL_DEBUG, "p2p", "%s p2p: task %.12s session %s -> %s", PEER_TAG(p->pc->ctx),
            p->task_id, peer_p2p_session_names[p->session], peer_p2p_session_names[s]);
    p->session = s;
}

/* Registered on the current stream (whether the task is done or not). */
bool
peer_p2p_registered(const struct peer_p2p *p)
{
    return p->session == PEER_P2P_REGISTERED || p->session == PEER_P2P_SOURCE ||
           p->session == PEER_P2P_DONE_REGISTERED;
}

/* The task is done: p stays a parent. */
bool
peer_p2p_done(const struct peer_p2p *p)
{
    return p->session == PEER_P2P_DONE || p->session == PEER_P2P_DONE_REGISTERED;
}

/* ---------------------------------------------------------------- task hooks */

/*
 * The request headers a register carries for the seed the scheduler may send to the origin:
 * content negotiation and the origin's credentials (a private registry's blob), the ones the
 * scheduler hands on to a seed. Nothing else leaves this host.
 */
static const char *const peer_p2p_seed_headers[] = {"Accept", "Authorization"};

static void
peer_p2p_copy_headers(struct peer_p2p *p, const struct peer_download_req *req)
{
    for (size_t j = 0; j < req->nheaders; j++) {
        for (size_t i = 0; i < DF_NELEM(peer_p2p_seed_headers); i++) {
            if (strcasecmp(req->headers[j].name, peer_p2p_seed_headers[i]) != 0)
                continue;
            if (p->headers == NULL)
                p->headers = xcalloc(req->nheaders, sizeof(*p->headers));
            p->headers[p->nheaders].name = xstrdup(req->headers[j].name);
            p->headers[p->nheaders].value = xstrdup(req->headers[j].value);
            p->nheaders++;
        }
    }
}

/* A P2P object for task_id, registering what req asks for (borrowed). */
static struct peer_p2p *
peer_p2p_new(struct peer_p2p_ctx *pc, const char *task_id, const struct peer_download_req *req)
{
    struct peer_p2p *p = xcalloc(1, sizeof(*p));

    p->pc = pc;
    p->sched = pc->sched_ok;
    memcpy(p->task_id, task_id, sizeof(p->task_id));
    if (df_id_peer_new(pc->ctx->cfg.ip, pc->ctx->cfg.hostname, pc->ctx->cfg.seed, &p->peer_id) != 0)
        p->peer_id = xasprintf("%s-%s-%s", pc->ctx->cfg.ip, pc->ctx->cfg.hostname, task_id);
    p->url = xstrdup(req->url);
    p->tag = req->tag != NULL ? xstrdup(req->tag) : NULL;
    p->application = req->application != NULL ? xstrdup(req->application) : NULL;
    p->filtered = req->filtered != NULL ? xstrdup(req->filtered) : NULL;
    p->priority = req->priority;
    peer_p2p_copy_headers(p, req);
    return p;
}

/* The finished task_id we stay registered for, or NULL. */
static struct peer_p2p *
peer_p2p_detached_find(struct peer_p2p_ctx *pc, const char *task_id)
{
    struct peer_p2p *p;

    TAILQ_FOREACH (p, &pc->detached, entry) {
        if (strcmp(p->task_id, task_id) == 0)
            return p;
    }
    return NULL;
}

static int
peer_p2p_start(struct peer_task *t, const struct peer_download_req *req)
{
    struct peer_p2p_ctx *pc = t->ctx->p2p;
    struct peer_p2p *p;

    if (pc == NULL || pc->nsched == 0)
        return DF_EUNAVAIL;
    p = peer_p2p_new(pc, t->id, req);
    p->t = t;
    t->p2p = p;
    p->need_back_to_source = req->need_back_to_source || t->ctx->cfg.seed;
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++)
        peer_task_fetch_init(&p->fetch[i], t, true);
    peer_task_join_swarm(t);
    peer_p2p_register(p);
    return 0;
}

static void
peer_p2p_hold(struct peer *ctx, const struct peer_download_req *req, const char *task_id,
              uint64_t content_length, uint64_t piece_length, uint64_t piece_count)
{
    struct peer_p2p_ctx *pc = ctx->p2p;
    struct peer_p2p *p;

    if (pc == NULL || pc->nsched == 0 || pc->stopping ||
        peer_p2p_detached_find(pc, task_id) != NULL)
        return;
    p = peer_p2p_new(pc, task_id, req);
    peer_p2p_set_session(p, PEER_P2P_DONE);
    p->content_length = content_length;
    p->piece_length = piece_length;
    p->piece_count = piece_count;
    TAILQ_INSERT_TAIL(&pc->detached, p, entry);
    peer_p2p_register(p);
}

/* A finished peer stays a parent after its stream ends: leave explicitly, then free p. */
static void
peer_p2p_leave_free(struct peer_p2p *p)
{
    struct peer_p2p_ctx *pc = p->pc;

    if (peer_p2p_registered(p)) {
        struct proto_sched_ref ref = {.id = p->peer_id}; /* borrowed: never reset */
        cJSON *req = proto_sched_ref_to_json(&ref, PROTO_SCHED_REF_LEAVE_PEER);
        if (req != NULL)
            rpc_client_unary(peer_p2p_sched_of(p), PROTO_SCHED_LEAVE_PEER, req, PEER_P2P_PROBE_MS,
                             peer_p2p_unary_done, pc, NULL);
        cJSON_Delete(req);
    }
    peer_p2p_free_now(p);
}

static void
peer_p2p_forget(struct peer *ctx, const char *task_id)
{
    struct peer_p2p_ctx *pc = ctx->p2p;
    struct peer_p2p *p;

    if (pc == NULL || (p = peer_p2p_detached_find(pc, task_id)) == NULL)
        return;
    TAILQ_REMOVE(&pc->detached, p, entry);
    peer_p2p_leave_free(p);
}

static void
peer_p2p_evict(struct peer_task *t)
{
    struct peer_p2p *p = t->p2p;

    if (p != NULL) {
        t->p2p = NULL;
        peer_p2p_leave_free(p);
    }
    peer_p2p_forget(t->ctx, t->id);
}

static void
peer_p2p_piece_done(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN],
                    const char *parent_id)
{
    struct peer_p2p_ctx *pc = t->ctx->p2p;
    struct peer_p2p *p = t->p2p;
    uint64_t off = 0, len = 0;
    struct proto_sched_peer_req r;
    char pid[PROTO_ID_MAX + 1];

    if (pc == NULL)
        return;
    df_id_piece_range(t->content_length, t->piece_length, number, &off, &len);
    PEER_TASK_LOG(t, LOG_LEVEL_DEBUG, "p2p", "%s p2p: task %.12s piece %" PRIu64 " recorded",
                  PEER_TAG(pc->ctx), t->id, number);
    peer_sync_broadcast(pc, t->id, number, off, len, false);
    if (p == NULL || !peer_p2p_registered(p))
        return;
    p->progress = true;
    r = peer_p2p_req(p,
                     parent_id == NULL ? PROTO_PEER_BTS_PIECE_FINISHED : PROTO_PEER_PIECE_FINISHED);
    snprintf(pid, sizeof(pid), "%s", parent_id != NULL ? parent_id : "");
    peer_p2p_piece_set(&r.piece, number, off, len, md, parent_id != NULL ? pid : NULL);
    if (parent_id != NULL)
        r.piece.cost = p->piece_cost; /* what the parent's upload gave (sched_eval.c, step 5) */
    p->piece_cost = 0;
    /* a tiny task's bytes go along, so that the scheduler can answer others inline */
    if (parent_id == NULL && t->content_length <= PROTO_TINY_MAX && t->content_length > 0 &&
        peer_task_read(t, r.piece.content, (size_t)len, 0) == 0) {
        r.piece.has_content = true;
        r.piece.content_len = (size_t)len;
    }
    peer_p2p_send(p, &r);
}

static void
peer_p2p_piece_rechecked(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN])
{
    uint64_t off = 0, len = 0;

    if (t->ctx->p2p == NULL)
        return;
    if (t->from_source) {
        peer_p2p_piece_done(t, number, md, NULL);
        return;
    }
    /* As on a resume: the scheduler hears of it only as a source piece, which this is not */
    df_id_piece_range(t->content_length, t->piece_length, number, &off, &len);
    peer_sync_broadcast(t->ctx->p2p, t->id, number, off, len, false);
}

static void
peer_p2p_kick(struct peer_task *t)
{
    if (t->p2p != NULL)
        peer_p2p_schedule(t->p2p);
}

static void
peer_p2p_fetches_cancel(struct peer_task *t)
{
    struct peer_p2p *p = t->p2p;

    for (unsigned i = 0; p != NULL && i < PEER_MAX_WORKERS; i++) {
        struct peer_fetch *f = &p->fetch[i];
        struct peer_parent *pp = p->fetch_parent[i];
        if (!f->busy)
            continue;
        DF_FREE(f->src, net_fetch_cancel);
        evtimer_del(f->rate_timer);
        f->busy = false;
        if (pp != NULL) {
            pp->inflight--;
            if (p->fetch_tail[i])
                pp->tail--;
        }
        p->fetch_tail[i] = false;
        p->fetch_parent[i] = NULL;
    }
}

static void
peer_p2p_source_started(struct peer_task *t)
{
    struct peer_p2p *p = t->p2p;
    struct proto_sched_peer_req r;

    if (p == NULL || p->session != PEER_P2P_REGISTERED)
        return;
    peer_p2p_set_session(p, PEER_P2P_SOURCE);
    r = peer_p2p_req(p, PROTO_PEER_BTS_STARTED);
    r.content_length = (int64_t)t->content_length;
    r.piece_length = (uint32_t)t->piece_length;
    peer_p2p_send(p, &r);
}

static void
peer_p2p_task_done(struct peer_task *t)
{
    struct peer_p2p *p = t->p2p;
    bool registered, from_source;

    peer_sync_finish_task(t->ctx->p2p, t->id, RPC_OK, NULL);
    if (p == NULL)
        return;
    registered = peer_p2p_registered(p);
    from_source = p->session == PEER_P2P_SOURCE;
    peer_p2p_set_session(p, registered ? PEER_P2P_DONE_REGISTERED : PEER_P2P_DONE);
    p->content_length = t->content_length;
    p->piece_length = t->piece_length;
    p->piece_count = t->piece_count;
    for (int i = 0; i < p->nfrom; i++)
        PEER_TASK_LOG(t, LOG_LEVEL_INFO, NULL,
                      "%s p2p: task %.12s: %" PRIu64 " bytes from parent %s", PEER_TAG(t->ctx),
                      t->id, p->from[i].bytes, p->from[i].id);
    if (registered)
        peer_p2p_report_done(p, from_source);
}

static void
peer_p2p_task_failed(struct peer_task *t, const char *why)
{
    struct peer_p2p *p = t->p2p;
    struct proto_sched_peer_req r;
    char desc[sizeof(t->why) + 100];

    peer_sync_finish_task(t->ctx->p2p, t->id, RPC_ABORTED, why);
    if (p == NULL || !peer_p2p_registered(p))
        return;
    r = peer_p2p_req(p, t->from_source ? PROTO_PEER_BTS_FAILED : PROTO_PEER_FAILED);
    snprintf(desc, sizeof(desc), "%s", why);
    r.description = desc;
    peer_p2p_send(p, &r);
}

static size_t
peer_p2p_bytes_from(struct peer_task *t, struct proto_dfdaemon_download_from *out)
{
    struct peer_p2p *p = t->p2p;
    size_t n = 0;

    for (int i = 0; p != NULL && i < p->nfrom; i++) {
        if (p->from[i].bytes == 0)
            continue;
        out[n].peer_id = p->from[i].id;
        out[n].ip = p->from[i].ip;
        out[n].is_seed = p->from[i].is_seed;
        out[n].bytes = p->from[i].bytes;
        n++;
    }
    return n;
}

static void
peer_p2p_free_now(struct peer_p2p *p)
{
    if (p->probe != NULL)
        rpc_client_cancel(p->probe);
    if (p->stream != NULL)
        rpc_client_cancel(p->stream);
    if (p->retry_timer != NULL)
        event_free(p->retry_timer);
    for (int i = 0; i < p->nparents; i++)
        peer_parent_reset(&p->parents[i]);
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
        net_fetch_cancel(p->fetch[i].src);
        if (p->fetch[i].rate_timer != NULL)
            event_free(p->fetch[i].rate_timer);
    }
    for (int i = 0; i < p->nfrom; i++) {
        free(p->from[i].id);
        free(p->from[i].ip);
    }
    free(p->digest);
    free(p->has_digest);
    free(p->peer_id);
    free(p->url);
    free(p->tag);
    free(p->application);
    free(p->filtered);
    for (size_t i = 0; i < p->nheaders; i++) {
        free(p->headers[i].name);
        free(p->headers[i].value);
    }
    free(p->headers);
    free(p);
}

static void
peer_p2p_free(struct peer_task *t)
{
    struct peer_p2p *p = t->p2p;

    if (p == NULL)
        return;
    t->p2p = NULL;
    if (peer_p2p_done(p) && !p->pc->stopping) {
        /*
         * Stay registered as a parent (or become one again once a scheduler answers): keep
         * the stream, drop everything task-bound.
         */
        for (int i = 0; i < p->nparents; i++)
            peer_parent_reset(&p->parents[i]);
        p->nparents = 0;
        for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
            net_fetch_cancel(p->fetch[i].src);
            p->fetch[i].src = NULL;
            if (p->fetch[i].rate_timer != NULL)
                DF_FREE(p->fetch[i].rate_timer, event_free);
        }
        p->t = NULL;
        TAILQ_INSERT_TAIL(&p->pc->detached, p, entry);
        return;
    }
    peer_p2p_free_now(p);
}

/* ---------------------------------------------------------------- the task core's side */

static void
peer_p2p_on_piece(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN],
                  const char *parent_id, void *arg)
{
    (void)arg;
    peer_p2p_piece_done(t, number, md, parent_id);
}

static void
peer_p2p_on_done(struct peer_task *t, void *arg)
{
    (void)arg;
    peer_p2p_task_done(t);
}

static void
peer_p2p_on_failed(struct peer_task *t, const char *why, void *arg)
{
    (void)arg;
    peer_p2p_task_failed(t, why);
}

static const struct peer_task_events peer_p2p_task_events = {
        .piece = peer_p2p_on_piece,
        .done = peer_p2p_on_done,
        .failed = peer_p2p_on_failed,
};

static const struct peer_swarm_ops peer_p2p_swarm = {
        .start = peer_p2p_start,
        .free = peer_p2p_free,
        .source_started = peer_p2p_source_started,
        .fetches_cancel = peer_p2p_fetches_cancel,
        .kick = peer_p2p_kick,
        .piece_rechecked = peer_p2p_piece_rechecked,
        .forget = peer_p2p_forget,
        .evict = peer_p2p_evict,
        .hold = peer_p2p_hold,
        .bytes_from = peer_p2p_bytes_from,
};

/* ---------------------------------------------------------------- setup */

/* A client of the scheduler at addr in slot i. */
static int
peer_p2p_sched_client(struct peer_p2p_ctx *pc, int i, const char *addr, struct df_error *err)
{
    struct peer *ctx = pc->ctx;
    struct rpc_client_opts opts;
    int rv;

    memset(&opts, 0, sizeof(opts));
    opts.addr = addr;
    opts.connect_timeout_ms = 2000;
    opts.backoff_max_ms = 5000;
    opts.tls = ctx->tls_cluster;
    opts.expect_roles = opts.tls != NULL ? NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER) : 0;
    if ((rv = rpc_client_new(ctx->base, ctx->dns, &opts, &pc->sched[i], err)) != 0)
        return rv;
    pc->link[i].pc = pc;
    pc->link[i].i = i;
    pc->link[i].reach = PEER_SCHED_UNKNOWN;
    snprintf(pc->link[i].addr, sizeof(pc->link[i].addr), "%s", addr);
    return 0;
}

/* Announce the host now and every announce interval. */
static void
peer_p2p_announce_start(struct peer_p2p_ctx *pc)
{
    struct timeval tv;

    pc->announce_timer = event_new(pc->ctx->base, -1, EV_PERSIST, peer_p2p_announce_cb, pc);
    tv.tv_sec = (time_t)(pc->ctx->cfg.announce_interval / 1000);
    tv.tv_usec = (suseconds_t)(pc->ctx->cfg.announce_interval % 1000 * 1000);
    event_add(pc->announce_timer, &tv);
    peer_p2p_announce_cb(-1, 0, pc);
}

int
peer_p2p_init(struct peer *ctx, struct df_error *err)
{
    struct peer_p2p_ctx *pc = xcalloc(1, sizeof(*pc));
    const struct rpc_method methods[] = {
            {PROTO_DFDAEMON_SYNC_PIECES, RPC_KIND_SERVER_STREAM, peer_p2p_sync_pieces, pc},
            {PROTO_DFDAEMON_SEED_DOWNLOAD_TASK, RPC_KIND_SERVER_STREAM, peer_p2p_download_task, pc},
            {PROTO_DFDAEMON_DELETE_TASK, RPC_KIND_UNARY, peer_p2p_delete_task, pc},
    };
    int rv;

    pc->ctx = ctx;
    ctx->p2p = pc;
    ctx->swarm = &peer_p2p_swarm;
    TAILQ_INIT(&pc->syncs);
    TAILQ_INIT(&pc->detached);
    pc->listener.ev = &peer_p2p_task_events;
    pc->listener.arg = pc;
    peer_task_listen(ctx, &pc->listener);
    if ((rv = rpc_server_register(ctx->rpc, methods, DF_NELEM(methods))) != 0)
        return df_error_set(err, rv, "rpc: cannot register the upload service");
    /* Each --scheduler value may itself be a comma-separated list, in failover order. */
    for (size_t i = 0; i < ctx->cfg.schedulers.n; i++) {
        const char *v = ctx->cfg.schedulers.v[i];

        while (*v != '\0') {
            size_t len = strcspn(v, ",");
            char addr[128];

            if (len == 0 || len >= sizeof(addr))
                return df_error_set(err, DF_EINVAL, "scheduler: bad address list '%s'",
                                    ctx->cfg.schedulers.v[i]);
            if (pc->nsched == PEER_P2P_MAX_SCHED)
                return df_error_set(err, DF_EINVAL, "scheduler: at most %d addresses",
                                    PEER_P2P_MAX_SCHED);
            memcpy(addr, v, len);
            addr[len] = '\0';
            if ((rv = peer_p2p_sched_client(pc, pc->nsched, addr, err)) != 0)
                return rv;
            pc->nsched++;
            v += len;
            if (*v == ',' && *++v == '\0')
                return df_error_set(err, DF_EINVAL, "scheduler: bad address list '%s'",
                                    ctx->cfg.schedulers.v[i]);
        }
    }
    if (pc->nsched > 0)
        peer_p2p_announce_start(pc);
    return 0;
}

int
peer_p2p_set_schedulers(struct peer *ctx, char *const *addrs, size_t n, struct df_error *err)
{
    struct peer_p2p_ctx *pc = ctx->p2p;
    struct rpc_client *old[PEER_P2P_MAX_SCHED];
    int nold;
    bool same;
    int rv;

    if (pc == NULL || n == 0 || n > PEER_P2P_MAX_SCHED)
        return df_error_set(err, DF_EINVAL, "scheduler: 1 to %d addresses", PEER_P2P_MAX_SCHED);
    same = (int)n == pc->nsched;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(pc->link[i].addr, addrs[i]) == 0;
    if (same || pc->stopping)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (strlen(addrs[i]) >= sizeof(pc->link[0].addr))
            return df_error_set(err, DF_EINVAL, "scheduler: address too long");
    }
    /* the new clients take the slots; the old ones go after, so that what their cancelled
     * calls do (a task retrying) already sees the new set */
    nold = pc->nsched;
    memcpy(old, pc->sched, sizeof(old));
    pc->nsched = 0;
    for (size_t i = 0; i < n; i++) {
        if ((rv = peer_p2p_sched_client(pc, (int)i, addrs[i], err)) != 0) {
            for (size_t j = 0; j < i; j++)
                rpc_client_free(pc->sched[j]);
            memcpy(pc->sched, old, sizeof(old));
            pc->nsched = nold;
            return rv;
        }
    }
    pc->nsched = (int)n;
    pc->sched_ok = 0;
    for (int i = 0; i < nold; i++)
        rpc_client_free(old[i]);
    if (pc->announce_timer == NULL)
        peer_p2p_announce_start(pc);
    else
        peer_p2p_announce_cb(-1, 0, pc);
    return 0;
}

int
peer_p2p_leaving(const struct peer *ctx)
{
    return ctx->p2p != NULL ? ctx->p2p->leaving : 0;
}

int
peer_p2p_stop(struct peer *ctx)
{
    struct peer_p2p_ctx *pc = ctx->p2p;
    struct peer_sync *s;
    struct proto_sched_ref ref;
    cJSON *req;

    if (pc == NULL)
        return 0;
    pc->stopping = true;
    while ((s = TAILQ_FIRST(&pc->syncs)) != NULL)
        peer_sync_finish(s, RPC_UNAVAILABLE, "peer is shutting down");
    /* Leave every scheduler, so that nobody is handed this host as a parent any more. */
    ref.id = ctx->host_id; /* borrowed: never reset */
    req = proto_sched_ref_to_json(&ref, PROTO_SCHED_REF_LEAVE_HOST);
    for (int i = 0; req != NULL && i < pc->nsched; i++)
        if (rpc_client_unary(pc->sched[i], PROTO_SCHED_LEAVE_HOST, req, PEER_P2P_LEAVE_MS,
                             peer_p2p_leave_done, pc, NULL) == 0)
            pc->leaving++;
    cJSON_Delete(req);
    return pc->leaving;
}

void
peer_p2p_shutdown(struct peer *ctx)
{
    struct peer_p2p_ctx *pc = ctx->p2p;
    struct peer_p2p *p;
    struct peer_sync *s;

    if (pc == NULL)
        return;
    pc->stopping = true;
    while ((s = TAILQ_FIRST(&pc->syncs)) != NULL)
        peer_sync_finish(s, RPC_UNAVAILABLE, "peer is shutting down");
    while ((p = TAILQ_FIRST(&pc->detached)) != NULL) {
        TAILQ_REMOVE(&pc->detached, p, entry);
        peer_p2p_free_now(p);
    }
    if (pc->announce_timer != NULL)
        event_free(pc->announce_timer);
    for (int i = 0; i < pc->nsched; i++)
        rpc_client_free(pc->sched[i]);
    peer_task_unlisten(ctx, &pc->listener);
    ctx->swarm = NULL;
    free(pc);
    ctx->p2p = NULL;
}
