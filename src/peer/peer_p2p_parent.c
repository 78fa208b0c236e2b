/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A task's parents: the set the scheduler names, each followed over SyncPieces, and the
 * piece fetches from their upload servers, verified against the relayed digests, with
 * strikes and blocks for bad bytes and cut-through from parents still receiving a piece.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_time.h"
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

/*
 * Pieces fetched from one parent at once. Parallel fetches share the parent's uplink, so
 * each piece takes that many piece times to arrive and to be offered onward: in a pipeline
 * every hop would lag by as many pieces. One at a time keeps the hop lag at one piece.
 */
#define PEER_P2P_PARENT_INFLIGHT 1
/*
 * ... except that the next fetch from a parent starts when the running one has this much
 * left, so that the parent's uplink does not idle for a request round trip between pieces.
 */
#define PEER_P2P_TAIL        (128 * 1024)
#define PEER_P2P_RELAY_FAILS 8 /* unfinished cut-through fetches before we stop asking */
/* A fetch this young is not moved by the endgame: its pace is not known yet. */
#define PEER_P2P_STEAL_MS 200
/* Under cluster mTLS a parent must hold a peer or seed certificate. */
#define PEER_P2P_PARENT_ROLES \
    (NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER) | NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED))

static const char *const peer_parent_standing_names[] = {"UNLISTED", "LISTED", "BLOCKED_UNLISTED",
                                                         "BLOCKED_LISTED"};
static const char *const peer_parent_map_names[] = {"NONE", "FOLLOWING", "COMPLETE"};

static void
peer_parent_set_standing(struct peer_parent *pp, enum peer_parent_standing s)
{
    static const bool ok[4][4] = {
            /* to: UNLISTED LISTED BLOCKED_UNLISTED BLOCKED_LISTED */
            [PEER_PARENT_UNLISTED] = {false, true, true, false},
            [PEER_PARENT_LISTED] = {true, false, false, true},
            [PEER_PARENT_BLOCKED_UNLISTED] = {false, false, false, true},
            [PEER_PARENT_BLOCKED_LISTED] = {false, false, true, false},
    };

    if (pp->standing == s)
        return;
    DF_ASSERT(ok[pp->standing][s]);
    log_debug("p2p", "%s p2p: parent %s %s -> %s", PEER_TAG(pp->owner->pc->ctx), pp->id,
              peer_parent_standing_names[pp->standing], peer_parent_standing_names[s]);
    pp->standing = s;
}

static bool
peer_parent_listed(const struct peer_parent *pp)
{
    return pp->standing == PEER_PARENT_LISTED || pp->standing == PEER_PARENT_BLOCKED_LISTED;
}

static bool
peer_parent_blocked(const struct peer_parent *pp)
{
    return pp->standing == PEER_PARENT_BLOCKED_UNLISTED ||
           pp->standing == PEER_PARENT_BLOCKED_LISTED;
}

/* Named by the scheduler's last list, or not (a block stays). */
static void
peer_parent_list(struct peer_parent *pp, bool listed)
{
    if (peer_parent_blocked(pp))
        peer_parent_set_standing(pp, listed ? PEER_PARENT_BLOCKED_LISTED
                                            : PEER_PARENT_BLOCKED_UNLISTED);
    else
        peer_parent_set_standing(pp, listed ? PEER_PARENT_LISTED : PEER_PARENT_UNLISTED);
}

static void
peer_parent_block(struct peer_parent *pp)
{
    peer_parent_set_standing(pp, peer_parent_listed(pp) ? PEER_PARENT_BLOCKED_LISTED
                                                        : PEER_PARENT_BLOCKED_UNLISTED);
}

static void
peer_parent_set_map(struct peer_parent *pp, enum peer_parent_map m)
{
    static const bool ok[3][3] = {
            /* to: NONE FOLLOWING COMPLETE */
            [PEER_PARENT_MAP_NONE] = {false, true, false},
            [PEER_PARENT_MAP_FOLLOWING] = {true, false, true},
    };

    if (pp->map == m)
        return;
    DF_ASSERT(ok[pp->map][m]);
    log_debug("p2p", "%s p2p: parent %s pieces %s -> %s", PEER_TAG(pp->owner->pc->ctx), pp->id,
              peer_parent_map_names[pp->map], peer_parent_map_names[m]);
    pp->map = m;
}

void
peer_parent_reset(struct peer_parent *pp)
{
    if (pp->sync != NULL)
        rpc_client_cancel(pp->sync);
    rpc_client_free(pp->client);
    free(pp->id);
    free(pp->host_id);
    free(pp->ip);
    free(pp->has);
    free(pp->bad);
    memset(pp, 0, sizeof(*pp));
}

static void
peer_parent_sync_message(struct rpc_client_call *c, const cJSON *msg, void *arg)
{
    struct peer_parent *pp = arg;
    struct peer_p2p *p = pp->owner;
    struct proto_dfdaemon_sync_piece sp;
    struct df_error err;
    uint64_t n;
    bool receiving;

    (void)c;
    if (proto_dfdaemon_sync_piece_from_json(msg, &sp, &err) != 0) {
        log_debug("p2p", "%s p2p: parent %s: bad piece announcement: %s",
                  PEER_TAG(pp->owner->pc->ctx), pp->id, err.msg);
        return;
    }
    n = sp.number;
    receiving = sp.receiving;
    if (pp->has == NULL || n >= p->npieces)
        return;
    /* has[]: 0 nothing, 1 verified, 2 being received (served cut-through) */
    if (pp->has[n] != 1 && !(receiving && pp->has[n] == 2)) {
        pp->has[n] = receiving ? 2 : 1;
        peer_p2p_schedule(p);
    }
}

static void
peer_parent_sync_close(struct rpc_client_call *c, const struct rpc_status *st, void *arg)
{
    struct peer_parent *pp = arg;

    (void)c;
    pp->sync = NULL;
    /* ended well: the parent is done, has[] is complete */
    peer_parent_set_map(pp, st->code == RPC_OK ? PEER_PARENT_MAP_COMPLETE : PEER_PARENT_MAP_NONE);
    if (st->code != RPC_OK)
        log_debug("p2p", "%s p2p: parent %s sync ended: %s", PEER_TAG(pp->owner->pc->ctx), pp->id,
                  st->message);
}

static int
peer_parent_open(struct peer_p2p *p, struct peer_parent *pp)
{
    static const struct rpc_client_stream_cbs cbs = {peer_parent_sync_message,
                                                     peer_parent_sync_close};
    struct rpc_client_opts opts;
    struct df_error err;
    char addr[128];
    struct proto_dfdaemon_task_ref ref;
    cJSON *req;
    int rv;

    snprintf(addr, sizeof(addr), strchr(pp->ip, ':') != NULL ? "[%s]:%u" : "%s:%u", pp->ip,
             pp->port);
    memset(&opts, 0, sizeof(opts));
    opts.addr = addr;
    opts.tls = p->pc->ctx->tls_cluster;
    opts.expect_roles = opts.tls != NULL ? PEER_P2P_PARENT_ROLES : 0;
    if ((rv = rpc_client_new(p->pc->ctx->base, p->pc->ctx->dns, &opts, &pp->client, &err)) != 0)
        return rv;
    peer_parent_set_map(pp, PEER_PARENT_MAP_FOLLOWING);
    if ((rv = rpc_client_stream(pp->client, PROTO_DFDAEMON_SYNC_PIECES, PEER_P2P_STREAM_MS, &cbs,
                                pp, &pp->sync)) != 0) {
        if (pp->map == PEER_PARENT_MAP_FOLLOWING)
            peer_parent_set_map(pp, PEER_PARENT_MAP_NONE);
        return rv;
    }
    memcpy(ref.task_id, p->task_id, sizeof(ref.task_id));
    if ((req = proto_dfdaemon_task_ref_to_json(&ref)) == NULL)
        return DF_ENOMEM;
    rpc_client_send(pp->sync, req);
    rpc_client_close_send(pp->sync);
    cJSON_Delete(req);
    return 0;
}

/* The byte-count entry of parent id (the last one when all are taken). */
static int
peer_p2p_from_index(struct peer_p2p *p, const char *id, const char *ip, bool seed)
{
    for (int i = 0; i < p->nfrom; i++)
        if (strcmp(p->from[i].id, id) == 0)
            return i;
    if (p->nfrom == PEER_P2P_MAX_FROM)
        return PEER_P2P_MAX_FROM - 1;
    p->from[p->nfrom].id = xstrdup(id);
    p->from[p->nfrom].ip = xstrdup(ip);
    p->from[p->nfrom].is_seed = seed;
    return p->nfrom++;
}

/*
 * A slot for a new parent: a free one, else one the scheduler no longer names and that has
 * no fetch running (a blocked one last). NULL when every slot is busy.
 */
static struct peer_parent *
peer_p2p_parent_slot(struct peer_p2p *p)
{
    struct peer_parent *spare = NULL;

    if (p->nparents < PEER_P2P_MAX_PARENTS)
        return &p->parents[p->nparents++];
    for (int i = 0; i < p->nparents; i++) {
        struct peer_parent *pp = &p->parents[i];
        if (peer_parent_listed(pp) || pp->inflight > 0)
            continue;
        if (!peer_parent_blocked(pp))
            return pp;
        if (spare == NULL)
            spare = pp;
    }
    return spare;
}

static struct peer_parent *
peer_p2p_parent_find(struct peer_p2p *p, const char *id)
{
    for (int i = 0; i < p->nparents; i++)
        if (strcmp(p->parents[i].id, id) == 0)
            return &p->parents[i];
    return NULL;
}

/* Replace the parent set with the scheduler's (keeping the ones we already follow). */
void
peer_p2p_set_parents(struct peer_p2p *p, const struct proto_sched_parent *list, size_t n)
{
    const char *id;
    struct peer_parent *pp;

    for (int i = 0; i < p->nparents; i++)
        peer_parent_list(&p->parents[i], false);
    /* Mark the ones we keep first, so that a new one never takes the slot of a kept one. */
    for (size_t k = 0; k < n; k++) {
        id = list[k].id;
        if ((pp = peer_p2p_parent_find(p, id)) == NULL)
            continue;
        peer_parent_list(pp, true);
        if (pp->map == PEER_PARENT_MAP_NONE) {
            /* Dropped before and named again: follow its pieces anew. */
            memset(pp->has, 0, p->npieces > 0 ? p->npieces : 1);
            rpc_client_free(pp->client);
            pp->client = NULL;
            if (peer_parent_open(p, pp) != 0)
                P2P_LOG(p, LOG_LEVEL_WARN, NULL, "%s p2p: task %.12s: cannot reach parent %s",
                        PEER_TAG(p->pc->ctx), p->task_id, id);
        }
    }
    for (size_t k = 0; k < n; k++) {
        const struct proto_sched_parent *e = &list[k];
        const char *ip = e->ip;
        bool seed = e->is_seed;
        id = e->id;
        if (peer_p2p_parent_find(p, id) != NULL || (pp = peer_p2p_parent_slot(p)) == NULL)
            continue;
        peer_parent_reset(pp);
        pp->owner = p;
        pp->id = xstrdup(id);
        pp->host_id = xstrdup(e->host_id != NULL ? e->host_id : "");
        pp->ip = xstrdup(ip);
        pp->port = e->port;
        pp->download_port = e->download_port;
        pp->is_seed = seed;
        pp->from = peer_p2p_from_index(p, id, ip, seed);
        pp->has = xcalloc(p->npieces > 0 ? p->npieces : 1, 1);
        pp->bad = xcalloc(p->npieces > 0 ? p->npieces : 1, 1);
        peer_parent_list(pp, true);
        if (peer_parent_open(p, pp) != 0)
            P2P_LOG(p, LOG_LEVEL_WARN, NULL, "%s p2p: task %.12s: cannot reach parent %s",
                    PEER_TAG(p->pc->ctx), p->task_id, id);
        P2P_LOG(p, LOG_LEVEL_DEBUG, "p2p", "%s p2p: task %.12s parent %s (%s:%u)%s",
                PEER_TAG(p->pc->ctx), p->task_id, id, ip, pp->download_port, seed ? " seed" : "");
    }
    /* Drop parents the scheduler no longer names, unless a fetch from them is running. */
    for (int i = 0; i < p->nparents; i++) {
        struct peer_parent *q = &p->parents[i];
        if (peer_parent_listed(q) || q->inflight > 0 || peer_parent_blocked(q) || q->sync == NULL)
            continue;
        rpc_client_cancel(q->sync); /* its callback is not called */
        q->sync = NULL;
        peer_parent_set_map(q, PEER_PARENT_MAP_NONE);
    }
}

/* Can pp serve piece now or later (listed, not blocked, offers it, not bad from it)? */
static bool
peer_parent_offers(const struct peer_parent *pp, uint64_t piece)
{
    return !peer_parent_blocked(pp) && peer_parent_listed(pp) && pp->has[piece] &&
           !pp->bad[piece] && !(pp->has[piece] == 2 && pp->relay_fails >= PEER_P2P_RELAY_FAILS);
}

/* Is pp's queue short enough to take another piece now? */
static bool
peer_parent_free(const struct peer_parent *pp)
{
    return pp->inflight - pp->tail < PEER_P2P_PARENT_INFLIGHT &&
           pp->inflight <= PEER_P2P_PARENT_INFLIGHT;
}

/*
 * What a claim asks of a piece: its digest is known and a parent offers it (into pp). The
 * parents' queues (bytes still to come from each, by index) and the pieces left to ask
 * for after this one are counted once per claim, not once per piece.
 */
struct peer_p2p_want {
    struct peer_p2p *p;
    struct peer_parent *pp;
    uint64_t left[PEER_P2P_MAX_PARENTS];
    uint64_t rest;
};

static void
peer_p2p_want_init(struct peer_p2p_want *w, struct peer_p2p *p)
{
    const struct peer_task *t = p->t;
    uint64_t busy = 0;

    memset(w, 0, sizeof(*w));
    w->p = p;
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
        const struct peer_parent *pp = p->fetch_parent[i];

        if (!p->fetch[i].busy)
            continue;
        busy++;
        if (pp != NULL)
            w->left[pp - p->parents] += p->fetch[i].len - p->fetch[i].pos;
    }
    w->rest =
            t->piece_count > t->done_pieces + busy ? t->piece_count - t->done_pieces - busy - 1 : 0;
}

/*
 * The parent to ask for piece (peer_p2p_pick.h): the free one expected to have it soonest,
 * verified copies before cut-through (listed first: ties go to the first), and normal peers
 * before the seed to spare its upload; NULL when none is free or a busy one would be through
 * with it and the rest first.
 */
static struct peer_parent *
peer_p2p_pick_parent(const struct peer_p2p_want *w, uint64_t piece)
{
    struct peer_p2p *p = w->p;
    struct peer_pick_cand c[PEER_P2P_MAX_PARENTS];
    struct peer_parent *who[PEER_P2P_MAX_PARENTS];
    unsigned n = 0;
    uint64_t off, len;
    int k;

    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < p->nparents; i++) {
            struct peer_parent *pp = &p->parents[i];
            int rank = pp->has[piece] == 2 ? 2 : pp->is_seed ? 1 : 0;

            if (rank != pass || !peer_parent_offers(pp, piece))
                continue;
            c[n].st = &pp->pick;
            c[n].left = w->left[i];
            c[n].free = peer_parent_free(pp);
            who[n++] = pp;
        }
    }
    if (n == 0)
        return NULL;
    df_id_piece_range(p->t->content_length, p->t->piece_length, piece, &off, &len);
    k = peer_pick_choose(c, n, len, w->rest * len);
    return k >= 0 ? who[k] : NULL;
}

static void
peer_p2p_report_failed(struct peer_p2p *p, uint64_t piece, struct peer_parent *pp)
{
    struct proto_sched_peer_req r = peer_p2p_req(p, PROTO_PEER_PIECE_FAILED);

    r.piece_number = (uint32_t)piece;
    r.parent_id = pp->id;
    r.temporary = true;
    peer_p2p_send(p, &r);
}

static void
peer_p2p_strike(struct peer_p2p *p, struct peer_parent *pp, uint64_t piece, const char *why)
{
    pp->strikes++;
    P2P_LOG(p, LOG_LEVEL_WARN, NULL, "%s p2p: task %.12s piece %" PRIu64 " from %s: %s (strike %u)",
            PEER_TAG(p->pc->ctx), p->task_id, piece, pp->id, why, pp->strikes);
    peer_p2p_report_failed(p, piece, pp);
    if (pp->strikes >= PEER_P2P_STRIKES && !peer_parent_blocked(pp)) {
        peer_parent_block(pp);
        P2P_LOG(p, LOG_LEVEL_WARN, NULL, "%s p2p: task %.12s: parent %s blocked",
                PEER_TAG(p->pc->ctx), p->task_id, pp->id);
    }
}

/*
 * Piece failed its digest from pp. When every parent that offers it has failed it, those
 * parents are blocked for the task and the scheduler is asked for others (it blocks them
 * too); with none left it sends a seed, or us to the source, rather than the get failing.
 */
static void
peer_p2p_digest_failed(struct peer_p2p *p, struct peer_parent *pp, uint64_t piece)
{
    struct proto_sched_peer_req r;
    char *blocked[PEER_P2P_MAX_PARENTS];
    char why[128];
    int n = 0;

    pp->bad[piece] = 1;
    for (int i = 0; i < p->nparents; i++) {
        const struct peer_parent *q = &p->parents[i];
        if (q->id != NULL && peer_parent_listed(q) && !peer_parent_blocked(q) && q->has[piece] &&
            !q->bad[piece])
            return; /* another parent may have it right */
    }
    for (int i = 0; i < p->nparents; i++) {
        struct peer_parent *q = &p->parents[i];
        if (q->id == NULL || !q->bad[piece] || peer_parent_blocked(q))
            continue;
        peer_parent_block(q);
        blocked[n++] = q->id;
    }
    if (n == 0)
        return; /* all blocked already (a fetch that was under way) */
    snprintf(why, sizeof(why), "piece %" PRIu64 " failed its digest from every parent", piece);
    P2P_LOG(p, LOG_LEVEL_WARN, NULL,
            "%s p2p: task %.12s: %s; %d parent%s blocked, asking the scheduler for others",
            PEER_TAG(p->pc->ctx), p->task_id, why, n, n == 1 ? "" : "s");
    r = peer_p2p_req(p, PROTO_PEER_RESCHEDULE);
    r.candidate_parents = blocked;
    r.ncandidate_parents = (size_t)n;
    r.description = why;
    peer_p2p_send(p, &r);
}

static int
peer_p2p_fetch_on_head(struct net_fetch *s, const struct net_fetch_meta *m, void *arg)
{
    struct peer_fetch *f = arg;

    (void)s;
    if (m->status != 200 || !m->has_length || m->length != f->len)
        return DF_EPROTO;
    return 0;
}

static bool peer_p2p_schedule_new(struct peer_p2p *p);

static int
peer_p2p_fetch_on_data(struct net_fetch *s, struct evbuffer *data, void *arg)
{
    struct peer_fetch *f = arg;
    struct peer_p2p *p = f->task->p2p;
    int slot = (int)(f - p->fetch), rv;

    (void)s;
    if ((rv = peer_task_fetch_write(f, data)) != 0)
        return rv;
    peer_task_bytes_written(f->task);
    /* Bytes received: written, or buffered for the next batched write. */
    if (!p->fetch_tail[slot] && f->len - f->pos <= PEER_P2P_TAIL + evbuffer_get_length(data)) {
        /* Nearly done: line up the next piece from this parent. */
        p->fetch_tail[slot] = true;
        p->fetch_parent[slot]->tail++;
        peer_p2p_schedule_new(p); /* no endgame: it could cancel this very fetch */
    }
    return 0;
}

/*
 * What the piece in slot cost, as the scheduler measures parents by it (sched_eval.c,
 * step 5): ms from asking the parent to holding the piece, at least 1.
 */
static int64_t
peer_p2p_fetch_cost(const struct peer_p2p *p, int slot)
{
    uint64_t now = df_time_mono_ms();

    return now > p->fetch_start[slot] ? (int64_t)(now - p->fetch_start[slot]) : 1;
}

static void
peer_p2p_fetch_on_end(struct net_fetch *s, int rv, const char *why, uint64_t retry_after_ms,
                      void *arg)
{
    struct peer_fetch *f = arg;
    struct peer_task *t = f->task;
    struct peer_p2p *p = t->p2p;
    int slot = (int)(f - p->fetch);
    struct peer_parent *pp = p->fetch_parent[slot];
    uint8_t md[DF_SHA256_LEN];

    (void)s;
    (void)retry_after_ms;
    f->src = NULL;
    evtimer_del(f->rate_timer);
    f->busy = false;
    peer_task_release(t, f->piece);
    pp->inflight--;
    if (p->fetch_tail[slot])
        pp->tail--;
    p->fetch_tail[slot] = false;
    p->fetch_parent[slot] = NULL;
    if (rv == 0 && f->pos != f->len)
        rv = DF_EPROTO;
    if (rv == 0) {
        /*
         * Read by the piece report. A relay's pace is the parent's own download, not its
         * upload: it is reported without a cost, so that only whole pieces measure parents.
         */
        p->piece_cost = p->fetch_relay[slot] ? 0 : peer_p2p_fetch_cost(p, slot);
        if (p->piece_cost > 0)
            peer_pick_measured(&pp->pick, f->len, (uint64_t)p->piece_cost);
        df_sha256_final(&f->sha, md);
        if (memcmp(md, p->digest[f->piece], DF_SHA256_LEN) != 0) {
            peer_p2p_strike(p, pp, f->piece, "digest mismatch");
            peer_p2p_digest_failed(p, pp, f->piece);
        } else if ((rv = peer_task_record_piece(t, f->piece, f->off, f->len, md, pp->id)) != 0) {
            peer_task_fail(t, rv, NULL);
            return;
        } else {
            p->from[pp->from].bytes += f->len;
            p->bytes_from_peers += f->len;
            t->ctx->bytes_from_peers += f->len;
        }
    } else if (t->disk_failed) {
        /* our disk, not the parent: the task cannot go on */
        peer_task_fail(t, rv, f->why[0] != '\0' ? f->why : why);
        return;
    } else if (p->fetch_relay[slot]) {
        /*
         * A relay cut short (or gone: 404) means the parent's own fetch failed: not its
         * fault, so no strike; a parent that keeps failing relays is only asked for
         * verified pieces from then on.
         */
        if (pp->has[f->piece] == 2)
            pp->has[f->piece] = 0;
        pp->relay_fails++;
        P2P_LOG(p, LOG_LEVEL_DEBUG, "p2p",
                "%s p2p: task %.12s piece %" PRIu64 " relay from %s ended: %s",
                PEER_TAG(p->pc->ctx), p->task_id, f->piece, pp->id,
                f->why[0] != '\0' ? f->why : why);
    } else {
        peer_p2p_strike(p, pp, f->piece, f->why[0] != '\0' ? f->why : why);
    }
    f->why[0] = '\0';
    peer_task_bytes_written(t);
    if (t->done_pieces == t->piece_count) {
        peer_task_complete(t);
        return;
    }
    peer_p2p_schedule(p);
}

static bool
peer_p2p_wants(uint64_t number, void *arg)
{
    struct peer_p2p_want *w = arg;

    return w->p->has_digest[number] && (w->pp = peer_p2p_pick_parent(w, number)) != NULL;
}

/* Ask pp for piece i (claimed) in the free slot. */
static void
peer_p2p_fetch_start(struct peer_p2p *p, unsigned slot, struct peer_parent *pp, uint64_t i)
{
    static const struct net_fetch_cbs cbs = {peer_p2p_fetch_on_head, peer_p2p_fetch_on_data,
                                             peer_p2p_fetch_on_end};
    struct peer_task *t = p->t;
    struct peer_fetch *f = &p->fetch[slot];
    struct net_fetch_req req;
    struct df_error err;
    char url[512];

    f->piece = i;
    df_id_piece_range(t->content_length, t->piece_length, i, &f->off, &f->len);
    f->pos = 0;
    df_sha256_init(&f->sha);
    f->busy = true;
    pp->inflight++;
    p->fetch_relay[slot] = pp->has[i] == 2;
    p->fetch_parent[slot] = pp;
    P2P_LOG(p, LOG_LEVEL_DEBUG, "p2p", "%s p2p: task %.12s piece %" PRIu64 " fetch from %s",
            PEER_TAG(p->pc->ctx), p->task_id, i, pp->ip);
    snprintf(url, sizeof(url),
             strchr(pp->ip, ':') != NULL ? "%s://[%s]:%u/pieces/%s/%" PRIu64
                                         : "%s://%s:%u/pieces/%s/%" PRIu64,
             t->ctx->tls_upload != NULL ? "https" : "http", pp->ip, pp->download_port, p->task_id,
             i);
    memset(&req, 0, sizeof(req));
    req.url = url;
    if (t->ctx->tls_upload != NULL)
        req.cluster_roles = PEER_P2P_PARENT_ROLES;
    if (net_fetch_start(&t->ctx->src_env, &req, &cbs, f, &f->src, &err) != 0) {
        f->busy = false;
        peer_task_release(t, i);
        pp->inflight--;
        p->fetch_parent[slot] = NULL;
        peer_p2p_strike(p, pp, i, err.msg);
        return;
    }
    p->fetch_seq[slot] = ++p->seq;
    p->fetch_start[slot] = df_time_mono_ms();
    peer_p2p_offer_receiving(p, f);
}

/* Claim piece number only (a claim's want). */
static bool
peer_p2p_wants_only(uint64_t number, void *arg)
{
    return number == *(const uint64_t *)arg;
}

/*
 * Take the running fetch in slot off its parent, unfinished, with no strike (slow is not
 * wrong): what it received is overwritten by the next fetch of the piece. Children
 * following it as a relay see it end and fetch the piece again.
 */
static void
peer_p2p_fetch_drop(struct peer_p2p *p, unsigned slot)
{
    struct peer_fetch *f = &p->fetch[slot];
    struct peer_parent *pp = p->fetch_parent[slot];

    DF_FREE(f->src, net_fetch_cancel);
    evtimer_del(f->rate_timer);
    f->busy = false;
    peer_task_release(p->t, f->piece);
    pp->inflight--;
    if (p->fetch_tail[slot])
        pp->tail--;
    p->fetch_tail[slot] = false;
    p->fetch_parent[slot] = NULL;
    f->why[0] = '\0';
    peer_task_bytes_written(p->t); /* relays of it see it end */
}

/*
 * The endgame (peer_p2p_pick.h): nothing is left to ask for, so a free parent that would
 * deliver a piece in flight at a clearly slower one much sooner takes it over. Relays are
 * left alone (their pace is the parent's own download). Two free slots at most are used
 * per call, and the slow fetch is dropped before the piece is asked again: one writer.
 */
static void
peer_p2p_endgame(struct peer_p2p *p)
{
    struct peer_task *t = p->t;
    unsigned n = (unsigned)t->ctx->cfg.concurrency;
    uint64_t now = df_time_mono_ms();

    for (unsigned slot = 0; slot < n && slot < PEER_MAX_WORKERS; slot++) {
        struct peer_fetch *f = &p->fetch[slot];
        struct peer_parent *slow = p->fetch_parent[slot], *best = NULL;
        uint64_t piece = f->piece, elapsed, claimed;
        unsigned to = PEER_MAX_WORKERS;

        if (!f->busy || slow == NULL || p->fetch_relay[slot])
            continue;
        elapsed = now > p->fetch_start[slot] ? now - p->fetch_start[slot] : 0;
        for (int i = 0; i < p->nparents; i++) {
            struct peer_parent *pp = &p->parents[i];

            if (pp == slow || pp->has[piece] != 1 || !peer_parent_offers(pp, piece) ||
                pp->inflight > 0 ||
                !peer_pick_steal(&pp->pick, f->len, f->pos, elapsed, PEER_P2P_STEAL_MS))
                continue;
            if (best == NULL || pp->pick.rate > best->pick.rate)
                best = pp;
        }
        for (unsigned k = 0; best != NULL && k < n && k < PEER_MAX_WORKERS; k++) {
            if (!p->fetch[k].busy && k != slot) {
                to = k;
                break;
            }
        }
        if (best == NULL || to == PEER_MAX_WORKERS)
            continue;
        P2P_LOG(p, LOG_LEVEL_DEBUG, "p2p",
                "%s p2p: task %.12s piece %" PRIu64 " moved from %s (%" PRIu64 "/%" PRIu64
                " in %" PRIu64 " ms) to %s",
                PEER_TAG(p->pc->ctx), p->task_id, piece, slow->id, f->pos, f->len, elapsed,
                best->id);
        peer_p2p_fetch_drop(p, slot);
        if (peer_task_claim(t, peer_p2p_wants_only, &piece, &claimed))
            peer_p2p_fetch_start(p, to, best, claimed);
    }
}

/* Start fetches for missing pieces whose digest we know; true when a slot is left free. */
static bool
peer_p2p_schedule_new(struct peer_p2p *p)
{
    struct peer_task *t = p->t;
    struct peer_parent *one = NULL;
    unsigned n, drawing = 0;
    uint64_t lead = 0;

    if (t == NULL || t->state != PEER_TASK_P2P || !t->length_known)
        return false;
    n = (unsigned)t->ctx->cfg.concurrency;
    for (int i = 0; i < p->nparents; i++) {
        if (peer_parent_listed(&p->parents[i]) && !peer_parent_blocked(&p->parents[i])) {
            drawing++;
            one = &p->parents[i];
        }
    }
    /* One parent: how far ahead it is (peer_pick_spreads). */
    for (uint64_t i = 0; drawing == 1 && i < t->piece_count && lead <= PEER_PICK_SPREAD_LEAD; i++)
        lead += !t->have[i] && !t->busy[i] && peer_parent_offers(one, i) ? 1 : 0;
    for (unsigned slot = 0; slot < n && slot < PEER_MAX_WORKERS; slot++) {
        struct peer_p2p_want want;
        uint64_t i;
        bool got;

        if (p->fetch[slot].busy)
            continue;
        peer_p2p_want_init(&want, p);
        /*
         * In order or any piece alike (peer_p2p_pick.h; in the swarm simulation, 16 peers
         * with a quarter at a tenth of the others' upload: last/bound 2.2 in order, 1.7 so).
         */
        got = peer_pick_spreads(drawing, lead)
                      ? peer_task_claim_spread(t, peer_p2p_wants, &want, (uint64_t)random(), &i)
                      : peer_task_claim(t, peer_p2p_wants, &want, &i);
        if (!got)
            return true;
        peer_p2p_fetch_start(p, slot, want.pp, i);
    }
    return false;
}

/* Start fetches from parents for missing pieces whose digest we know. */
void
peer_p2p_schedule(struct peer_p2p *p)
{
    if (peer_p2p_schedule_new(p))
        peer_p2p_endgame(p);
}

int
peer_p2p_piece_progress(struct peer *ctx, const char *task_id, uint64_t number,
                        struct peer_p2p_progress *out)
{
    struct peer_task *t = peer_task_find(ctx, task_id);
    struct peer_p2p *p;

    if (t == NULL || (p = t->p2p) == NULL || number >= t->piece_count)
        return -1;
    if (t->have[number])
        return 1;
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
        const struct peer_fetch *f = &p->fetch[i];
        if (f->busy && f->piece == number && p->fetch_parent[i] != NULL) {
            out->seq = p->fetch_seq[i];
            out->written = f->pos;
            out->off = f->off;
            out->len = f->len;
            return 0;
        }
    }
    return -1;
}
