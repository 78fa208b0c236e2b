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
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/net_listener.h"
#include "df/net_tls.h"
#include "df/proto_dfdaemon.h"
#include "df/proto_sched.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"
#include "df/store_piece.h"
#include "df/store_task.h"
#include "df/xmalloc.h"
#include "peer_p2p.h"
#include "peer_task.h"

#define PEER_P2P_MAX_PARENTS 8
#define PEER_P2P_STRIKES     3
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
#define PEER_P2P_TAIL         (128 * 1024)
#define PEER_P2P_MAX_SCHED    4
#define PEER_P2P_STREAM_MS    (24 * 3600 * 1000)
#define PEER_P2P_PROBE_MS     3000
#define PEER_P2P_LEAVE_MS     500   /* a stopping peer waits this long for LeaveHost */
#define PEER_P2P_GRACE_MS     10000 /* a lost scheduler waits this long before the origin */
#define PEER_P2P_RETRY_MAX_MS 60000 /* the longest wait between registrations */
#define PEER_P2P_RELAY_FAILS  8     /* unfinished cut-through fetches before we stop asking */

/* Under cluster mTLS a parent must hold a peer or seed certificate. */
#define PEER_P2P_PARENT_ROLES \
    (NET_TLS_ROLE_BIT(NET_TLS_ROLE_PEER) | NET_TLS_ROLE_BIT(NET_TLS_ROLE_SEED))

/*
 * A parent's standing with this task: whether the scheduler's last list names it, and whether
 * we blocked it (strikes, or every copy of a piece failed its digest). A block is for good:
 *
 *   UNLISTED <--> LISTED,  BLOCKED_UNLISTED <--> BLOCKED_LISTED
 *   UNLISTED --block--> BLOCKED_UNLISTED,  LISTED --block--> BLOCKED_LISTED
 *
 * An empty slot is UNLISTED. peer_parent_set_standing() is the only writer.
 */
enum peer_parent_standing {
    PEER_PARENT_UNLISTED,
    PEER_PARENT_LISTED,
    PEER_PARENT_BLOCKED_UNLISTED,
    PEER_PARENT_BLOCKED_LISTED,
};

/*
 * What we know of a parent's pieces (has[]): nothing being followed (a new slot, or its
 * SyncPieces stream failed or was dropped: named again, it is followed anew), FOLLOWING
 * while the stream is open, COMPLETE once it ended well (the parent has them all):
 *
 *   NONE --open--> FOLLOWING --ended well--> COMPLETE;  FOLLOWING --failed, dropped--> NONE
 *
 * peer_parent_set_map() is the only writer.
 */
enum peer_parent_map {
    PEER_PARENT_MAP_NONE,
    PEER_PARENT_MAP_FOLLOWING,
    PEER_PARENT_MAP_COMPLETE,
};

struct peer_parent {
    struct peer_p2p *owner;
    char *id, *host_id, *ip;
    uint16_t port, download_port;
    bool is_seed;
    struct rpc_client *client;
    struct rpc_client_call *sync;
    uint8_t *has;
    uint8_t *bad; /* pieces it served that failed their digest: never asked for them again */
    unsigned strikes, inflight, tail; /* tail: fetches in their last PEER_P2P_TAIL bytes */
    enum peer_parent_standing standing;
    enum peer_parent_map map;
    unsigned relay_fails; /* cut-through fetches of ours it could not finish */
    int from;             /* index in owner->from */
};

/* Bytes a task received from one parent; outlives the parent's slot. */
struct peer_p2p_from {
    char *id, *ip;
    bool is_seed;
    uint64_t bytes;
};

/* A SyncPieces call from a child. */
struct peer_sync {
    TAILQ_ENTRY(peer_sync) entry;
    struct peer_p2p_ctx *pc;
    struct rpc_call *call;
    char task_id[DF_ID_TASK_LEN + 1];
};

TAILQ_HEAD(peer_sync_list, peer_sync);

/*
 * Where a task stands with the scheduler. The stream's registration ends with the stream;
 * a finished task stays a parent and registers again on the next one:
 *
 *   IDLE --register--> REGISTERED --back to source--> SOURCE
 *   REGISTERED, SOURCE --stream ends--> IDLE
 *   IDLE --task done--> DONE;  REGISTERED, SOURCE --task done--> DONE_REGISTERED
 *   DONE --register--> DONE_REGISTERED --stream ends--> DONE
 *
 * peer_p2p_set_session() is the only writer.
 */
enum peer_p2p_session {
    PEER_P2P_IDLE,            /* not registered on a stream; the task runs */
    PEER_P2P_REGISTERED,      /* registered; pieces come from parents */
    PEER_P2P_SOURCE,          /* registered, and the scheduler knows we fetch from the origin */
    PEER_P2P_DONE,            /* the task is done; not registered (a parent waiting for one) */
    PEER_P2P_DONE_REGISTERED, /* the task is done and we are a parent on this stream */
};

struct peer_p2p {
    TAILQ_ENTRY(peer_p2p) entry; /* in pc->detached once the task object is gone */
    struct peer_p2p_ctx *pc;
    struct peer_task *t; /* NULL when detached */
    char task_id[DF_ID_TASK_LEN + 1];
    char *peer_id;
    char *url, *tag, *application, *filtered;
    bool need_back_to_source;
    int sched; /* index of the scheduler in use */
    struct rpc_client_call *probe;
    struct rpc_client_call *stream;
    struct event *retry_timer;
    unsigned attempts; /* registrations since a stream last made progress (backoff) */
    bool progress;     /* a piece was recorded while registered on this stream */
    int64_t lost_ms;   /* when an established scheduler stream was lost, 0 while connected */
    enum peer_p2p_session session;
    struct peer_parent parents[PEER_P2P_MAX_PARENTS];
    int nparents;
    uint8_t (*digest)[DF_SHA256_LEN];
    uint8_t *has_digest;
    uint64_t npieces;
    struct peer_fetch fetch[PEER_MAX_WORKERS];
    struct peer_parent *fetch_parent[PEER_MAX_WORKERS];
    bool fetch_tail[PEER_MAX_WORKERS];
    bool fetch_relay[PEER_MAX_WORKERS];        /* the parent was still receiving the piece */
    uint64_t fetch_seq[PEER_MAX_WORKERS], seq; /* which attempt a relay follows */
    uint64_t bytes_from_peers;
    struct peer_p2p_from from[PEER_P2P_MAX_FROM]; /* the last entry also counts any later */
    int nfrom;
    uint64_t content_length, piece_length, piece_count; /* for re-registering */
};

TAILQ_HEAD(peer_p2p_list, peer_p2p);

/*
 * What the log last said about a scheduler, so that an outage is told once at WARN and the
 * recovery once at INFO:
 *
 *   UNKNOWN --answer--> UP --no answer--> DOWN --answer--> UP
 *   UNKNOWN --no answer--> DOWN
 *
 * Host announces and task registrations feed it; peer_p2p_sched_reached() is the only writer.
 */
enum peer_sched_reach {
    PEER_SCHED_UNKNOWN,
    PEER_SCHED_UP,
    PEER_SCHED_DOWN,
};

struct peer_sched_link {
    struct peer_p2p_ctx *pc;
    int i; /* in pc->sched */
    char addr[128];
    enum peer_sched_reach reach;
};

struct peer_p2p_ctx {
    struct peer *ctx;
    struct rpc_client *sched[PEER_P2P_MAX_SCHED];
    struct peer_sched_link link[PEER_P2P_MAX_SCHED];
    int nsched;
    int sched_ok; /* the scheduler that answered last: new tasks start there */
    int leaving;  /* LeaveHost calls in flight while stopping */
    struct event *announce_timer;
    struct peer_sync_list syncs;
    struct peer_p2p_list detached;
    struct peer_task_listener listener; /* on ctx: what tasks do is reported to the scheduler */
    bool stopping;
};

static const struct rpc_call_cbs peer_p2p_no_cbs;

static void peer_p2p_schedule(struct peer_p2p *p);
static void peer_p2p_register(struct peer_p2p *p);
static void peer_p2p_free_now(struct peer_p2p *p);

static const char *const peer_p2p_session_names[] = {"IDLE", "REGISTERED", "SOURCE", "DONE",
                                                     "DONE_REGISTERED"};

static void
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
    log_debug("p2p", "%s p2p: task %.12s session %s -> %s", PEER_TAG(p->pc->ctx), p->task_id,
              peer_p2p_session_names[p->session], peer_p2p_session_names[s]);
    p->session = s;
}

/* Registered on the current stream (whether the task is done or not). */
static bool
peer_p2p_registered(const struct peer_p2p *p)
{
    return p->session == PEER_P2P_REGISTERED || p->session == PEER_P2P_SOURCE ||
           p->session == PEER_P2P_DONE_REGISTERED;
}

/* The task is done: p stays a parent. */
static bool
peer_p2p_done(const struct peer_p2p *p)
{
    return p->session == PEER_P2P_DONE || p->session == PEER_P2P_DONE_REGISTERED;
}

/* ---------------------------------------------------------------- messages */

/*
 * An AnnouncePeer request of kind about p's task. Its strings are borrowed (from p, or set
 * by the caller from what outlives the send): it is sent with peer_p2p_send and never reset.
 */
static struct proto_sched_peer_req
peer_p2p_req(struct peer_p2p *p, enum proto_sched_peer_req_kind kind)
{
    struct proto_sched_peer_req r = {.kind = kind, .content_length = -1};

    r.host_id = p->pc->ctx->host_id;
    r.task_id = p->task_id;
    r.peer_id = p->peer_id;
    return r;
}

static void
peer_p2p_send(struct peer_p2p *p, const struct proto_sched_peer_req *r)
{
    cJSON *m;

    if (p->stream == NULL)
        return;
    if ((m = proto_sched_peer_req_to_json(r)) == NULL || rpc_client_send(p->stream, m) != 0)
        log_debug("p2p", "%s p2p: task %.12s: report dropped", PEER_TAG(p->pc->ctx), p->task_id);
    cJSON_Delete(m);
}

/* A recorded piece into a report (parent_id borrowed; NULL: from the source). */
static void
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

    if (pc->stopping || st->code == RPC_CANCELED)
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

/* Completion of a periodic AnnounceHost: only tells whether the scheduler answers. */
static void
peer_p2p_announce_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_sched_link *l = arg;

    (void)resp;
    peer_p2p_sched_reached(l->pc, l->i, st);
}

/* Completion of a call whose answer changes nothing (leave). */
static void
peer_p2p_unary_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_p2p_ctx *pc = arg;

    (void)resp;
    if (st->code != RPC_OK)
        log_debug("p2p", "%s p2p: scheduler call: %s", PEER_TAG(pc->ctx), st->message);
}

/* ---------------------------------------------------------------- SyncPieces (parent side) */

static void
peer_sync_send(struct peer_sync *s, uint64_t number, uint64_t off, uint64_t len, bool receiving)
{
    struct proto_dfdaemon_sync_piece sp = {.number = (uint32_t)number,
                                           .offset = off,
                                           .length = (uint32_t)len,
                                           .receiving = receiving};
    cJSON *m = proto_dfdaemon_sync_piece_to_json(&sp);

    if (m != NULL)
        rpc_call_send(s->call, m);
    cJSON_Delete(m);
}

static void
peer_sync_send_piece(struct peer_sync *s, uint64_t number, uint64_t off, uint64_t len)
{
    peer_sync_send(s, number, off, len, false);
}

/* Tell every child following task_id about a piece. */
static void
peer_sync_broadcast(struct peer_p2p_ctx *pc, const char *task_id, uint64_t number, uint64_t off,
                    uint64_t len, bool receiving)
{
    struct peer_sync *s, *next;

    for (s = TAILQ_FIRST(&pc->syncs); s != NULL; s = next) {
        next = TAILQ_NEXT(s, entry);
        if (strcmp(s->task_id, task_id) == 0)
            peer_sync_send(s, number, off, len, receiving);
    }
}

/*
 * Cut-through: a piece this peer is fetching from a parent is offered to its children as
 * "receiving" (they may fetch it at once; the upload server relays the bytes as they are
 * written, and the last byte only once the piece is verified here). Only without an upload
 * limit: the relay does not take the rate limiter's path.
 */
static void
peer_p2p_offer_receiving(struct peer_p2p *p, const struct peer_fetch *f)
{
    if (p->pc->ctx->cfg.upload_rate == 0)
        peer_sync_broadcast(p->pc, p->task_id, f->piece, f->off, f->len, true);
}

/* A new child of a running task also learns the pieces we are receiving now. */
static void
peer_sync_offer_receiving(struct peer_sync *s, const struct peer_p2p *p)
{
    if (p->pc->ctx->cfg.upload_rate > 0)
        return;
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++) {
        const struct peer_fetch *f = &p->fetch[i];
        if (f->busy && p->fetch_parent[i] != NULL)
            peer_sync_send(s, f->piece, f->off, f->len, true);
    }
}

static void
peer_sync_free(struct peer_sync *s)
{
    TAILQ_REMOVE(&s->pc->syncs, s, entry);
    free(s);
}

static void
peer_sync_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg)
{
    (void)call;
    (void)why;
    peer_sync_free(arg);
}

static void
peer_sync_finish(struct peer_sync *s, enum rpc_code code, const char *msg)
{
    rpc_call_set_cbs(s->call, &peer_p2p_no_cbs, NULL);
    rpc_call_finish(s->call, code, msg);
    peer_sync_free(s);
}

/* End the SyncPieces calls of every child following task_id. */
static void
peer_sync_finish_task(struct peer_p2p_ctx *pc, const char *task_id, enum rpc_code code,
                      const char *msg)
{
    struct peer_sync *s, *next;

    if (pc == NULL)
        return;
    for (s = TAILQ_FIRST(&pc->syncs); s != NULL; s = next) {
        next = TAILQ_NEXT(s, entry);
        if (strcmp(s->task_id, task_id) == 0)
            peer_sync_finish(s, code, msg);
    }
}

static void
peer_p2p_sync_pieces(struct rpc_call *call, const cJSON *req, void *arg)
{
    static const struct rpc_call_cbs cbs = {.on_cancel = peer_sync_cancel_cb};
    struct peer_p2p_ctx *pc = arg;
    struct store_piece *pieces = NULL;
    struct store_task st;
    struct peer_task *t;
    struct peer_sync *s;
    struct proto_dfdaemon_task_ref ref;
    struct df_error err;
    const char *id = ref.task_id;
    size_t n = 0;
    bool done;

    if (proto_dfdaemon_task_ref_from_json(req, &ref, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    memset(&st, 0, sizeof(st));
    if (store_task_get(pc->ctx->db, id, &st) != 0 && peer_task_find(pc->ctx, id) == NULL) {
        rpc_call_finish(call, RPC_NOT_FOUND, "task not on this peer");
        return;
    }
    done = st.state == STORE_TASK_DONE;
    store_task_reset(&st);
    s = xcalloc(1, sizeof(*s));
    s->pc = pc;
    s->call = call;
    memcpy(s->task_id, id, sizeof(s->task_id));
    TAILQ_INSERT_TAIL(&pc->syncs, s, entry);
    rpc_call_set_cbs(call, &cbs, s);
    if (store_piece_list_finished(pc->ctx->db, id, &pieces, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            peer_sync_send_piece(s, pieces[i].number, pieces[i].offset, pieces[i].length);
        free(pieces);
    }
    if (done) {
        peer_sync_finish(s, RPC_OK, NULL);
        return;
    }
    if ((t = peer_task_find(pc->ctx, id)) != NULL && t->p2p != NULL)
        peer_sync_offer_receiving(s, t->p2p);
}

/* ---------------------------------------------------------------- DownloadTask (seed) */

static void
peer_p2p_download_task(struct rpc_call *call, const cJSON *req, void *arg)
{
    struct peer_p2p_ctx *pc = arg;
    struct peer_download_req r;
    struct net_tls_identity id;
    struct df_error err;

    if (pc->stopping) {
        rpc_call_finish(call, RPC_UNAVAILABLE, "peer is shutting down");
        return;
    }
    /* Under mTLS only the scheduler (and later the manager, for preheat) sends a download. */
    rpc_call_peer_identity(call, &id);
    if (pc->ctx->tls_server != NULL && id.role != NET_TLS_ROLE_SCHEDULER &&
        id.role != NET_TLS_ROLE_MANAGER) {
        rpc_call_finish(call, RPC_PERMISSION_DENIED,
                        "DownloadTask needs a scheduler or manager certificate");
        return;
    }
    if (peer_download_req_parse(req, false, &r, &err) != 0) {
        rpc_call_finish(call, RPC_INVALID_ARGUMENT, err.msg);
        return;
    }
    /* Another host (the scheduler) asks: its back-to-source obeys the policy. */
    if (peer_download_req_restrict(&r, pc->ctx, &err) != 0) {
        rpc_call_finish(call, RPC_PERMISSION_DENIED, err.msg);
        peer_download_req_reset(&r);
        return;
    }
    peer_task_download(pc->ctx, call, &r);
}

/* ---------------------------------------------------------------- parents */

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

static void
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
static void
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
                log_warnx("%s p2p: task %.12s: cannot reach parent %s", PEER_TAG(p->pc->ctx),
                          p->task_id, id);
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
            log_warnx("%s p2p: task %.12s: cannot reach parent %s", PEER_TAG(p->pc->ctx),
                      p->task_id, id);
        log_debug("p2p", "%s p2p: task %.12s parent %s (%s:%u)%s", PEER_TAG(p->pc->ctx), p->task_id,
                  id, ip, pp->download_port, seed ? " seed" : "");
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

/* ---------------------------------------------------------------- piece fetches */

static struct peer_parent *
peer_p2p_pick_parent(struct peer_p2p *p, uint64_t piece)
{
    struct peer_parent *best = NULL;

    for (int i = 0; i < p->nparents; i++) {
        struct peer_parent *pp = &p->parents[i];
        if (peer_parent_blocked(pp) || !peer_parent_listed(pp) || !pp->has[piece] ||
            pp->bad[piece] || (pp->has[piece] == 2 && pp->relay_fails >= PEER_P2P_RELAY_FAILS) ||
            pp->inflight - pp->tail >= PEER_P2P_PARENT_INFLIGHT ||
            pp->inflight > PEER_P2P_PARENT_INFLIGHT)
            continue;
        /* Verified before cut-through; fewest fetches in flight; normal peers before the
         * seed to spare its upload. */
        if (best == NULL || pp->has[piece] < best->has[piece] ||
            (pp->has[piece] == best->has[piece] &&
             (pp->inflight < best->inflight ||
              (pp->inflight == best->inflight && best->is_seed && !pp->is_seed))))
            best = pp;
    }
    return best;
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
    log_warnx("%s p2p: task %.12s piece %" PRIu64 " from %s: %s (strike %u)", PEER_TAG(p->pc->ctx),
              p->task_id, piece, pp->id, why, pp->strikes);
    peer_p2p_report_failed(p, piece, pp);
    if (pp->strikes >= PEER_P2P_STRIKES && !peer_parent_blocked(pp)) {
        peer_parent_block(pp);
        log_warnx("%s p2p: task %.12s: parent %s blocked", PEER_TAG(p->pc->ctx), p->task_id,
                  pp->id);
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
    log_warnx("%s p2p: task %.12s: %s; %d parent%s blocked, asking the scheduler for others",
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
        peer_p2p_schedule(p);
    }
    return 0;
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
        df_sha256_final(&f->sha, md);
        if (memcmp(md, p->digest[f->piece], DF_SHA256_LEN) != 0) {
            peer_p2p_strike(p, pp, f->piece, "digest mismatch");
            peer_p2p_digest_failed(p, pp, f->piece);
            t->bytes_from_source -= f->len;
            t->ctx->bytes_from_source -= f->len;
        } else if ((rv = peer_task_record_piece(t, f->piece, f->off, f->len, md, pp->id)) != 0) {
            peer_task_fail(t, rv, t->why);
            return;
        } else {
            p->from[pp->from].bytes += f->len;
            p->bytes_from_peers += f->len;
            t->bytes_from_source -= f->len; /* peer_task_fetch_write counted these bytes */
            t->ctx->bytes_from_source -= f->len;
            t->ctx->bytes_from_peers += f->len;
        }
    } else if (p->fetch_relay[slot]) {
        /*
         * A relay cut short (or gone: 404) means the parent's own fetch failed: not its
         * fault, so no strike; a parent that keeps failing relays is only asked for
         * verified pieces from then on.
         */
        if (pp->has[f->piece] == 2)
            pp->has[f->piece] = 0;
        pp->relay_fails++;
        log_debug("p2p", "%s p2p: task %.12s piece %" PRIu64 " relay from %s ended: %s",
                  PEER_TAG(p->pc->ctx), p->task_id, f->piece, pp->id,
                  t->why[0] != '\0' ? t->why : why);
        t->why[0] = '\0';
    } else {
        if (t->why[0] != '\0')
            why = t->why;
        peer_p2p_strike(p, pp, f->piece, why);
        t->why[0] = '\0';
    }
    peer_task_bytes_written(t);
    if (t->done_pieces == t->piece_count) {
        peer_task_complete(t);
        return;
    }
    peer_p2p_schedule(p);
}

/* What a claim asks of a piece: its digest is known and a parent offers it (into pp). */
struct peer_p2p_want {
    struct peer_p2p *p;
    struct peer_parent *pp;
};

static bool
peer_p2p_wants(uint64_t number, void *arg)
{
    struct peer_p2p_want *w = arg;

    return w->p->has_digest[number] && (w->pp = peer_p2p_pick_parent(w->p, number)) != NULL;
}

/* Start fetches from parents for missing pieces whose digest we know. */
static void
peer_p2p_schedule(struct peer_p2p *p)
{
    static const struct net_fetch_cbs cbs = {peer_p2p_fetch_on_head, peer_p2p_fetch_on_data,
                                             peer_p2p_fetch_on_end};
    struct peer_task *t = p->t;
    unsigned n;

    if (t == NULL || t->state != PEER_TASK_P2P || !t->length_known)
        return;
    n = (unsigned)t->ctx->cfg.concurrency;
    for (unsigned slot = 0; slot < n && slot < PEER_MAX_WORKERS; slot++) {
        struct peer_fetch *f = &p->fetch[slot];
        struct net_fetch_req req;
        struct peer_p2p_want want = {p, NULL};
        struct peer_parent *pp;
        struct df_error err;
        char url[512];
        uint64_t i;

        if (f->busy)
            continue;
        if (!peer_task_claim(t, peer_p2p_wants, &want, &i))
            return;
        pp = want.pp;
        f->piece = i;
        df_id_piece_range(t->content_length, t->piece_length, i, &f->off, &f->len);
        f->pos = 0;
        df_sha256_init(&f->sha);
        f->busy = true;
        pp->inflight++;
        p->fetch_relay[slot] = pp->has[i] == 2;
        p->fetch_parent[slot] = pp;
        log_debug("p2p", "%s p2p: task %.12s piece %" PRIu64 " fetch from %s", PEER_TAG(p->pc->ctx),
                  p->task_id, i, pp->ip);
        snprintf(url, sizeof(url),
                 strchr(pp->ip, ':') != NULL ? "%s://[%s]:%u/pieces/%s/%" PRIu64
                                             : "%s://%s:%u/pieces/%s/%" PRIu64,
                 t->ctx->tls_upload != NULL ? "https" : "http", pp->ip, pp->download_port,
                 p->task_id, i);
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
            continue;
        }
        p->fetch_seq[slot] = ++p->seq;
        peer_p2p_offer_receiving(p, f);
    }
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

/* ---------------------------------------------------------------- scheduler stream */

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
peer_p2p_on_tiny(struct peer_p2p *p, const struct proto_sched_peer_resp *o)
{
    struct peer_task *t = p->t;
    const uint8_t *buf = o->content;
    uint8_t md[DF_SHA256_LEN];
    size_t n = o->content_len;
    struct df_error err;
    int rv;

    if ((rv = peer_task_set_geometry(t, n, 0, &err)) != 0) {
        peer_task_fail(t, rv, err.msg);
        return;
    }
    df_sha256(buf, n, md);
    if (n > 0 && (rv = store_data_pwrite(t->fd, buf, n, 0)) != 0) {
        peer_task_fail(t, rv, "write cache file");
        return;
    }
    if (n > 0 && peer_task_record_piece(t, 0, 0, n, md, NULL) != 0) {
        peer_task_fail(t, DF_EIO, t->why);
        return;
    }
    peer_task_started(t);
    peer_task_complete(t);
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
        log_warnx("%s p2p: task %.12s: scheduler answer ignored: %s", PEER_TAG(p->pc->ctx),
                  p->task_id, err.msg);
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
        log_info("%s p2p: task %.12s: back to source (scheduler)", PEER_TAG(p->pc->ctx),
                 p->task_id);
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
            peer_p2p_on_tiny(p, &r);
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
        log_warnx("%s p2p: task %.12s: no scheduler (%s); back to source", PEER_TAG(p->pc->ctx),
                  p->task_id, why);
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
            log_info("%s p2p: task %.12s: cached copy dropped", PEER_TAG(ctx), p->task_id);
        return;
    }
    if (p->t->state != PEER_TASK_P2P)
        return;
    if (peer_task_drop_pieces(p->t) != 0) {
        peer_task_fail(p->t, DF_EIO, p->t->why);
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
        log_warnx("%s p2p: task %.12s: scheduler: %s; dropping pieces from peers and registering "
                  "again",
                  PEER_TAG(p->pc->ctx), p->task_id, st->message);
        peer_p2p_data_lost(p);
        peer_p2p_retry(p, st->message);
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
            log_warnx("%s p2p: task %.12s: scheduler: %s; back to source", PEER_TAG(p->pc->ctx),
                      p->task_id, st->message);
            peer_task_back_to_source(p->t);
        }
        return;
    }
    log_info("%s p2p: task %.12s: scheduler stream closed (%s); registering again",
             PEER_TAG(p->pc->ctx), p->task_id, st->message);
    peer_p2p_retry(p, st->message);
}

/* The task is done (from_source: we fetched it from the origin, or were told to). */
static void
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

    rv = rpc_client_stream(p->pc->sched[p->sched], PROTO_SCHED_ANNOUNCE_PEER, PEER_P2P_STREAM_MS,
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
static void
peer_p2p_register(struct peer_p2p *p)
{
    cJSON *req = peer_p2p_host_json(p->pc->ctx);
    int rv;

    rv = req == NULL ? DF_ENOMEM
                     : rpc_client_unary(p->pc->sched[p->sched], PROTO_SCHED_ANNOUNCE_HOST, req,
                                        PEER_P2P_PROBE_MS, peer_p2p_probe_done, p, &p->probe);
    cJSON_Delete(req);
    if (rv != 0)
        peer_p2p_retry(p, df_strerror(rv));
}

/* ---------------------------------------------------------------- task hooks */

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
peer_p2p_start(struct peer_task *t)
{
    struct peer_p2p_ctx *pc = t->ctx->p2p;
    struct peer_waiter *w = TAILQ_FIRST(&t->waiters);
    struct peer_p2p *p;

    if (pc == NULL || pc->nsched == 0 || w == NULL)
        return DF_EUNAVAIL;
    p = peer_p2p_new(pc, t->id, &w->req);
    p->t = t;
    t->p2p = p;
    p->need_back_to_source = w->req.need_back_to_source || t->ctx->cfg.seed;
    for (unsigned i = 0; i < PEER_MAX_WORKERS; i++)
        peer_task_fetch_init(&p->fetch[i], t);
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
            rpc_client_unary(pc->sched[p->sched], PROTO_SCHED_LEAVE_PEER, req, PEER_P2P_PROBE_MS,
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
    log_debug("p2p", "%s p2p: task %.12s piece %" PRIu64 " recorded", PEER_TAG(pc->ctx), t->id,
              number);
    peer_sync_broadcast(pc, t->id, number, off, len, false);
    if (p == NULL || !peer_p2p_registered(p))
        return;
    p->progress = true;
    r = peer_p2p_req(p,
                     parent_id == NULL ? PROTO_PEER_BTS_PIECE_FINISHED : PROTO_PEER_PIECE_FINISHED);
    snprintf(pid, sizeof(pid), "%s", parent_id != NULL ? parent_id : "");
    peer_p2p_piece_set(&r.piece, number, off, len, md, parent_id != NULL ? pid : NULL);
    /* a tiny task's bytes go along, so that the scheduler can answer others inline */
    if (parent_id == NULL && t->content_length <= PROTO_TINY_MAX && t->content_length > 0 &&
        store_data_pread(t->fd, r.piece.content, (size_t)len, 0) == 0) {
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
        log_info("%s p2p: task %.12s: %" PRIu64 " bytes from parent %s", PEER_TAG(t->ctx), t->id,
                 p->from[i].bytes, p->from[i].id);
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

static void
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

int
peer_p2p_init(struct peer *ctx, struct df_error *err)
{
    struct peer_p2p_ctx *pc = xcalloc(1, sizeof(*pc));
    const struct rpc_method methods[] = {
            {PROTO_DFDAEMON_SYNC_PIECES, RPC_KIND_SERVER_STREAM, peer_p2p_sync_pieces, pc},
            {PROTO_DFDAEMON_SEED_DOWNLOAD_TASK, RPC_KIND_SERVER_STREAM, peer_p2p_download_task, pc},
    };
    struct rpc_client_opts opts;
    struct timeval tv;
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
            memset(&opts, 0, sizeof(opts));
            opts.addr = addr;
            opts.connect_timeout_ms = 2000;
            opts.backoff_max_ms = 5000;
            opts.tls = ctx->tls_cluster;
            opts.expect_roles = opts.tls != NULL ? NET_TLS_ROLE_BIT(NET_TLS_ROLE_SCHEDULER) : 0;
            if ((rv = rpc_client_new(ctx->base, ctx->dns, &opts, &pc->sched[pc->nsched], err)) != 0)
                return rv;
            pc->link[pc->nsched].pc = pc;
            pc->link[pc->nsched].i = pc->nsched;
            memcpy(pc->link[pc->nsched].addr, addr, len + 1);
            pc->nsched++;
            v += len;
            if (*v == ',' && *++v == '\0')
                return df_error_set(err, DF_EINVAL, "scheduler: bad address list '%s'",
                                    ctx->cfg.schedulers.v[i]);
        }
    }
    if (pc->nsched > 0) {
        pc->announce_timer = event_new(ctx->base, -1, EV_PERSIST, peer_p2p_announce_cb, pc);
        tv.tv_sec = (time_t)(ctx->cfg.announce_interval / 1000);
        tv.tv_usec = (suseconds_t)(ctx->cfg.announce_interval % 1000 * 1000);
        event_add(pc->announce_timer, &tv);
        peer_p2p_announce_cb(-1, 0, pc);
    }
    return 0;
}

static void
peer_p2p_leave_done(const struct rpc_status *st, const cJSON *resp, void *arg)
{
    struct peer_p2p_ctx *pc = arg;

    (void)resp;
    if (st->code != RPC_OK)
        log_debug("p2p", "%s p2p: leave host: %s", PEER_TAG(pc->ctx), st->message);
    pc->leaving--;
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
