/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The P2P side's private model, shared by its four files: peer_p2p.c (a task's session,
 * start and stop), peer_p2p_sched.c (the scheduler client), peer_p2p_parent.c (parents and
 * their fetches) and peer_p2p_serve.c (SyncPieces and DownloadTask for children and the
 * scheduler). Nothing outside them includes it. Loop thread only.
 */
#ifndef PEER_P2P_INT_H
#define PEER_P2P_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>
#include <event2/util.h>

#include "df/df_id.h"
#include "df/proto_sched.h"
#include "df/rpc_client.h"
#include "df/rpc_server.h"
#include "peer.h"
#include "peer_p2p_pick.h"
#include "peer_task.h"

#define PEER_P2P_MAX_PARENTS 8
#define PEER_P2P_MAX_SCHED   4
#define PEER_P2P_STRIKES     3 /* bad pieces from a parent before it is blocked */
#define PEER_P2P_STREAM_MS   (24 * 3600 * 1000)
#define PEER_P2P_PROBE_MS    3000

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
    unsigned relay_fails;        /* cut-through fetches of ours it could not finish */
    struct peer_pick_stats pick; /* what it delivered us whole pieces at */
    int from;                    /* index in owner->from */
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

/* A log line about p's task: its id and URL ride along (log_task), detached or not. */
#define P2P_LOG(p, lvl, mod, ...) log_task((lvl), (mod), (p)->task_id, (p)->url, __VA_ARGS__)

struct peer_p2p {
    TAILQ_ENTRY(peer_p2p) entry; /* in pc->detached once the task object is gone */
    struct peer_p2p_ctx *pc;
    struct peer_task *t; /* NULL when detached */
    char task_id[DF_ID_TASK_LEN + 1];
    char *peer_id;
    char *url, *tag, *application, *filtered;
    /* the request headers a seed's back-to-source may need (peer_p2p_seed_headers), sent
     * with the register on the scheduler's stream only; never logged */
    struct proto_dfdaemon_header *headers;
    size_t nheaders;
    bool need_back_to_source;
    uint32_t priority; /* the first request's, for the scheduler's first-download decision */
    int sched;         /* index of the scheduler in use */
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
    uint64_t fetch_start[PEER_MAX_WORKERS];    /* df_time_mono_ms() when the fetch was asked */
    int64_t piece_cost; /* ms the piece being recorded from a parent took; 0: none */
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

/* ---- peer_p2p.c */

/*
 * The client of the scheduler p uses. The set can be replaced while p runs (the manager's
 * ListSchedulers, peer_p2p_set_schedulers), so an index past the end starts over.
 */
static inline struct rpc_client *
peer_p2p_sched_of(struct peer_p2p *p)
{
    if (p->sched >= p->pc->nsched)
        p->sched = 0;
    return p->pc->sched[p->sched];
}

/* The one writer of p->session (a transition the diagram allows). */
void peer_p2p_set_session(struct peer_p2p *p, enum peer_p2p_session s);

/* Registered on the current stream (whether the task is done or not). */
bool peer_p2p_registered(const struct peer_p2p *p);

/* The task is done: p stays a parent. */
bool peer_p2p_done(const struct peer_p2p *p);

/* ---- peer_p2p_sched.c */

/*
 * An AnnouncePeer request of kind about p's task. Its strings are borrowed (from p, or set
 * by the caller from what outlives the send): it is sent with peer_p2p_send and never reset.
 */
struct proto_sched_peer_req peer_p2p_req(struct peer_p2p *p, enum proto_sched_peer_req_kind kind);

/* Send r on p's stream, if it has one (a failure is logged at debug: reports are best effort). */
void peer_p2p_send(struct peer_p2p *p, const struct proto_sched_peer_req *r);

/* A recorded piece into a report (parent_id borrowed; NULL: from the source). */
void peer_p2p_piece_set(struct proto_sched_piece *pc, uint64_t number, uint64_t off, uint64_t len,
                        const uint8_t md[DF_SHA256_LEN], char *parent_id);

/* Completion of a call whose answer changes nothing (leave). */
void peer_p2p_unary_done(const struct rpc_status *st, const cJSON *resp, void *arg);

/* The task is done (from_source: we fetched it from the origin, or were told to). */
void peer_p2p_report_done(struct peer_p2p *p, bool from_source);

/* Announce the host (the scheduler must know it before a register), then open the stream. */
void peer_p2p_register(struct peer_p2p *p);

/* Timer: announce the host to every scheduler (again). */
void peer_p2p_announce_cb(evutil_socket_t fd, short what, void *arg);

/* Completion of a LeaveHost sent while stopping. */
void peer_p2p_leave_done(const struct rpc_status *st, const cJSON *resp, void *arg);

/* ---- peer_p2p_parent.c */

/* Close pp's SyncPieces stream and client and free its maps: an empty slot. */
void peer_parent_reset(struct peer_parent *pp);

/* Replace the parent set with the scheduler's (keeping the ones we already follow). */
void peer_p2p_set_parents(struct peer_p2p *p, const struct proto_sched_parent *list, size_t n);

/* Start fetches from parents for missing pieces whose digest we know. */
void peer_p2p_schedule(struct peer_p2p *p);

/* ---- peer_p2p_serve.c */

/* Tell every child following task_id about a piece. */
void peer_sync_broadcast(struct peer_p2p_ctx *pc, const char *task_id, uint64_t number,
                         uint64_t off, uint64_t len, bool receiving);

/*
 * Cut-through: a piece this peer is fetching from a parent is offered to its children as
 * "receiving" (they may fetch it at once; the upload server relays the bytes as they are
 * written, and the last byte only once the piece is verified here). Only without an upload
 * limit: the relay does not take the rate limiter's path.
 */
void peer_p2p_offer_receiving(struct peer_p2p *p, const struct peer_fetch *f);

/* Finish a child's SyncPieces call with code and free s. */
void peer_sync_finish(struct peer_sync *s, enum rpc_code code, const char *msg);

/* End the SyncPieces calls of every child following task_id. */
void peer_sync_finish_task(struct peer_p2p_ctx *pc, const char *task_id, enum rpc_code code,
                           const char *msg);

/* SyncPieces: a child follows the pieces of a task this peer holds or fetches. */
void peer_p2p_sync_pieces(struct rpc_call *call, const cJSON *req, void *arg);

/* DownloadTask: the scheduler tells this (seed) peer to fetch a task into its cache. */
void peer_p2p_download_task(struct rpc_call *call, const cJSON *req, void *arg);

/* DeleteTask: the manager (delete_task) drops a task from this peer's cache. */
void peer_p2p_delete_task(struct rpc_call *call, const cJSON *req, void *arg);

#endif
