/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler's state and decisions, without any transport: hosts, tasks, peers and
 * each task's parent->child graph, owned by one loop thread and driven by function calls
 * that carry the current time (`now`, milliseconds on any clock that does not go back;
 * stat views print it as Unix time). Every event function returns 0 or a DF_E* code and
 * appends what must be told to peers to a struct sched_actions; the caller (the RPC
 * service) delivers them in order and then resets the list. Nothing here blocks, calls
 * back or logs above DEBUG for normal operation.
 *
 * Every map and list is capped by struct sched_config; over a cap, the call fails with
 * DF_ELIMIT and changes nothing. In DF_DEBUG builds every event ends with
 * sched_state_check(), which asserts the invariants.
 */
#ifndef DF_SCHED_STATE_H
#define DF_SCHED_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/df_err.h"

#define SCHED_ID_MAX      512 /* bytes of any id, host name, IDC or location string */
#define SCHED_URL_MAX     8192
#define SCHED_PARENTS_MAX 20  /* upper bound of max_parents */
#define SCHED_TINY_MAX    128 /* content up to this many bytes is answered inline */
#define SCHED_PIECE_MAX   (UINT32_C(1) << 20)

struct sched_config {
    uint32_t max_hosts;            /* caps of the three tables */
    uint32_t max_hosts_per_source; /* hosts announced by one source (caller IP); 0: no quota */
    uint32_t max_tasks;
    uint32_t max_peers;
    uint32_t max_peers_per_task;
    uint32_t max_parents;        /* parents per child, 1..SCHED_PARENTS_MAX */
    uint32_t max_back_to_source; /* concurrent back-to-source peers per task */
    uint32_t max_strikes;        /* piece failures before a parent is blocked */
    uint32_t max_blocklist;      /* entries in one peer's block-list */
    uint32_t seed_fanout;        /* children a seed peer takes before it is last resort */
    uint32_t peer_fanout;        /* children a normal peer takes in a task (0: no limit) */
    int64_t seed_wait;        /* ms a child without candidates waits before a seed is last resort */
    uint32_t max_piece_count; /* pieces of one task, <= SCHED_PIECE_MAX */
    int64_t stall_timeout;    /* ms without a piece from a parent that had some */
    int64_t wait_timeout;     /* ms a peer waits for parents before back-to-source */
    int64_t seed_timeout;     /* ms a triggered seed may take to register */
    int64_t peer_ttl;         /* ms of inactivity before a peer is collected */
    int64_t host_announce_interval; /* hosts silent for 2x this are collected */
    int64_t task_ttl;               /* ms a task without peers is kept */
    uint32_t slots_normal;          /* upload slots of a normal host that announces none; 0: 200 */
    uint32_t slots_seed;            /* ... of a seed host; 0: 2000 (the manager's load_limit) */
    int64_t startup_grace; /* ms after sched_state_start() in which a task with no source and
                            * no seed host alive makes peers wait (seed hosts may not have
                            * announced to a restarted scheduler yet); 0: none */
};

/* Fill c with the defaults (Dragonfly's where it has one). */
void sched_config_default(struct sched_config *c);

/* Check bounds; DF_EINVAL with a message naming the field. */
int sched_config_check(const struct sched_config *c, struct df_error *err);

enum sched_host_type {
    SCHED_HOST_NORMAL = 0,
    SCHED_HOST_SEED = 1,
};

/* AnnounceHost, as the RPC layer parsed it. Strings are borrowed for the call. */
struct sched_host_info {
    const char *id; /* NULL: built as "<ip>-<hostname>" (+ "-seed") */
    const char *ip;
    const char *hostname;
    const char *idc;      /* may be NULL */
    const char *location; /* may be NULL */
    uint16_t rpc_port;
    uint16_t download_port;
    enum sched_host_type type;
    uint64_t upload_rate_limit; /* max tx bytes/s, 0 = unknown */
    uint32_t upload_slots;      /* concurrent uploads allowed; 0 = default (200/2000 seed) */
    uint32_t concurrent_uploads;
    const char *source; /* who announced a new host (its caller's IP); NULL: not counted */
};

/* RegisterPeerRequest. Strings are borrowed for the call. */
struct sched_register {
    const char *host_id;
    const char *task_id; /* 64 lowercase hex */
    const char *peer_id;
    const char *url;
    const char *tag;         /* may be NULL */
    const char *application; /* may be NULL */
    int64_t content_length;  /* -1 = unknown */
    uint64_t piece_length;   /* 0 = unknown */
    bool need_back_to_source;
};

/* DownloadPieceFinished / DownloadPieceBackToSourceFinished. */
struct sched_piece {
    uint32_t number;
    const char *parent_id; /* NULL: fetched from the source */
    uint64_t length;
    int64_t cost; /* ms */
    bool has_digest;
    struct df_digest digest; /* from the source only; ignored when parent_id is set */
    const uint8_t *content;  /* TINY task, from the source: the whole content (or NULL) */
    size_t content_len;
};

enum sched_action_kind {
    SCHED_ACT_EMPTY = 1,       /* peer: EmptyTaskResponse, write an empty file */
    SCHED_ACT_TINY,            /* peer: the content is inline (content, content_len) */
    SCHED_ACT_PARENTS,         /* peer: NormalTaskResponse with the full parent set */
    SCHED_ACT_BACK_TO_SOURCE,  /* peer: NeedBackToSourceResponse (reason) */
    SCHED_ACT_TRIGGER_SEED,    /* seed host: DfdaemonUpload.DownloadTask for task_id */
    SCHED_ACT_BLOCKED,         /* report: parent_id is blocked for peer_id's task */
    SCHED_ACT_FAIL,            /* peer: scheduling failed (reason); the peer is Failed */
    SCHED_ACT_DATA_LOSS,       /* peer: the task's source data conflicted; the peer is Failed
                                * and drops its pieces before it registers again */
    SCHED_ACT_DIGESTS_CLEARED, /* task_id: its digest table was emptied (a conflict) */
};

struct sched_parent {
    char *peer_id;
    char *host_id;
    char *ip;
    uint16_t rpc_port;
    uint16_t download_port;
    bool is_seed;
};

/* One instruction; every string is owned by the action. */
struct sched_action {
    enum sched_action_kind kind;
    char *peer_id; /* addressee (NULL for TRIGGER_SEED) */
    char *task_id;
    char *host_id; /* TRIGGER_SEED: the seed host; else the peer's host */
    char *ip;      /* TRIGGER_SEED: where to call it */
    uint16_t rpc_port;
    char *url;                    /* TRIGGER_SEED */
    char *parent_id;              /* BLOCKED */
    const char *reason;           /* static text, may be NULL */
    struct sched_parent *parents; /* PARENTS */
    size_t nparents;
    uint8_t *content; /* TINY */
    size_t content_len;
};

struct sched_actions {
    struct sched_action *v;
    size_t n, cap;
};

/* Free every action's strings and empty the list (it stays usable). */
void sched_actions_reset(struct sched_actions *a);

/* The first action of kind for peer_id (NULL: any addressee), or NULL. Borrowed. */
const struct sched_action *sched_actions_find(const struct sched_actions *a,
                                              enum sched_action_kind kind, const char *peer_id);

enum sched_task_state {
    SCHED_TASK_PENDING = 0,
    SCHED_TASK_RUNNING,
    SCHED_TASK_SUCCEEDED,
    SCHED_TASK_FAILED,
    SCHED_TASK_LEAVE,
};

enum sched_peer_state {
    SCHED_PEER_PENDING = 0,
    SCHED_PEER_RECEIVED_EMPTY,
    SCHED_PEER_RECEIVED_TINY,
    SCHED_PEER_RECEIVED_SMALL,
    SCHED_PEER_RECEIVED_NORMAL,
    SCHED_PEER_RUNNING,
    SCHED_PEER_BACK_TO_SOURCE,
    SCHED_PEER_SUCCEEDED,
    SCHED_PEER_FAILED,
    SCHED_PEER_LEAVE,
};

enum sched_size_scope {
    SCHED_SIZE_NORMAL = 0,
    SCHED_SIZE_SMALL,
    SCHED_SIZE_TINY,
    SCHED_SIZE_EMPTY,
    SCHED_SIZE_UNKNOWN,
};

/* Dragonfly's names: "Pending", "ReceivedNormal", ..., "NORMAL", "UNKNOW". */
const char *sched_task_state_name(enum sched_task_state s);
const char *sched_peer_state_name(enum sched_peer_state s);
const char *sched_size_scope_name(enum sched_size_scope s);

/* Size scope of a geometry (Dragonfly2's task size scope: empty, tiny, small, normal). */
enum sched_size_scope sched_size_scope_of(int64_t content_length, uint32_t piece_count);

/* StatTask view; strings borrowed until the state next changes. */
struct sched_task_stat {
    const char *id, *url, *tag, *application;
    enum sched_task_state state;
    enum sched_size_scope size_scope;
    int64_t content_length;
    uint64_t piece_length;
    uint32_t piece_count;
    uint32_t digest_count; /* pieces whose digest the scheduler knows */
    uint32_t peer_count;
    uint32_t back_to_source_count;
    uint32_t distrusted_count; /* hosts whose source reports conflicted */
    bool has_available_peer;
    int64_t created_at, updated_at;
};

/* StatPeer view; strings borrowed until the state next changes. */
struct sched_peer_stat {
    const char *id, *task_id, *host_id;
    enum sched_peer_state state;
    bool need_back_to_source;
    uint32_t finished_pieces, piece_count;
    uint32_t parent_count, child_count, blocked_count;
    const char *parents[SCHED_PARENTS_MAX];
    uint64_t bytes_from_source, bytes_from_peers;
    int64_t cost_total; /* sum of piece costs, ms */
    int64_t created_at, updated_at;
};

struct sched_host_stat {
    const char *id, *ip, *hostname, *idc, *location;
    enum sched_host_type type;
    uint16_t rpc_port, download_port;
    uint64_t upload_rate_limit;
    uint32_t upload_slots, load, concurrent_uploads, peer_count;
    uint64_t upload_ok, upload_failed, uploaded_bytes;
    uint64_t
            upload_estimate; /* measured upload capacity, bytes/s (sched_eval.c, step 5); 0: none */
    int64_t announced_at;
    const char *source; /* who announced it first (sched_host_info.source); NULL: nobody said */
};

struct sched_gc_stats {
    uint32_t peers, hosts, tasks; /* collected by the last sched_state_gc */
};

struct sched_state;

/* New empty state with a copy of cfg (check it first). The caller frees it. */
struct sched_state *sched_state_new(const struct sched_config *cfg);

/* Free everything; NULL is a no-op. */
void sched_state_free(struct sched_state *s);

/*
 * The limits the manager's cluster config sets while running: parents per child (1..
 * SCHED_PARENTS_MAX) and the default upload slots of normal and seed hosts (0: built-in).
 * Parents apply at the next plan, slots at each host's next announcement.
 */
void sched_state_set_limits(struct sched_state *s, uint32_t max_parents, uint32_t slots_normal,
                            uint32_t slots_seed);

/*
 * The service starts at now: for cfg.startup_grace after it, a peer that finds no parent in
 * a task without a source, while no seed host is alive, waits (the tick plans it again)
 * instead of going back to source, because a restarted scheduler knows no seed host until
 * they announce again. A peer that asks for the source, or a seed's own peer, goes there
 * at once as always. Without this call there is no grace.
 */
void sched_state_start(struct sched_state *s, int64_t now);

/*
 * AnnounceHost: create or refresh a host and stamp its announce time. A new host counts
 * against its source's quota (max_hosts_per_source) for its lifetime; when the table is
 * full, the stalest host that has missed an announce and has no peers or children is
 * evicted for it. DF_EINVAL for a missing or oversized field, DF_ELIMIT over the source's
 * quota or with a full table and nothing to evict.
 */
int sched_state_host_announce(struct sched_state *s, const struct sched_host_info *info,
                              int64_t now);

/* DeleteHost / host gone: its peers leave and their children are re-planned. */
int sched_state_host_leave(struct sched_state *s, const char *host_id, int64_t now,
                           struct sched_actions *out);

/*
 * RegisterPeerRequest. Creates the task if needed and the peer, then decides: EMPTY, TINY,
 * PARENTS, BACK_TO_SOURCE, or nothing for the peer (it waits for parents; a TRIGGER_SEED
 * may be appended for the seed host chosen for the task). DF_ENOTFOUND for an unknown
 * host, DF_EEXIST for a known peer id, DF_EINVAL for bad input (or geometry that contradicts
 * the task's), DF_ELIMIT over a cap.
 */
int sched_state_peer_register(struct sched_state *s, const struct sched_register *req, int64_t now,
                              struct sched_actions *out);

/*
 * Is a register of task_id from host_id the task's first download, the one a priority
 * decides (sched_prio.h)? True when the host is known and not a seed and nothing feeds the
 * task yet: no peer holds or fetches any of it and no triggered seed is on its way.
 * *seed_fail_at is then the task's last seed failure on now's clock (0: none, a new task).
 */
bool sched_state_is_first_download(const struct sched_state *s, const char *task_id,
                                   const char *host_id, int64_t now, int64_t *seed_fail_at);

/* DownloadPeerStarted: Received* -> Running. */
int sched_state_peer_started(struct sched_state *s, const char *peer_id, int64_t now);

/*
 * DownloadPeerBackToSourceStarted: the peer fetches from the source (also when it decided
 * so itself); content_length/piece_length (or -1/0) fix the task's geometry if unknown.
 */
int sched_state_peer_back_to_source_started(struct sched_state *s, const char *peer_id,
                                            int64_t content_length, uint64_t piece_length,
                                            int64_t now, struct sched_actions *out);

/*
 * ReschedulePeerRequest: block the listed parents (may be NULL/0; each newly blocked one is
 * reported, BLOCKED), drop every in-edge and plan again.
 */
int sched_state_peer_reschedule(struct sched_state *s, const char *peer_id,
                                const char *const *block, size_t nblock, int64_t now,
                                struct sched_actions *out);

/*
 * DownloadPieceFinished (parent_id set) or DownloadPieceBackToSourceFinished. May re-plan
 * this peer (a parent has nothing more to give) and peers waiting for parents.
 *
 * A source report that contradicts the task's digest table is never settled by "first
 * wins". A seed host's report outweighs a digest normal hosts reported, and those still in
 * the task are distrusted; a normal host's report that contradicts a seed's is distrusted;
 * otherwise (reporters of one kind disagree, or one contradicts itself) every reporter not
 * on a seed host is distrusted. A distrusted host's peers are never parents in the task and its
 * source reports are refused (DF_EPERM). The losers' digests and the tiny content are cleared
 * (DIGESTS_CLEARED), every other peer of the task is failed with DATA_LOSS (it may hold
 * or verify against them), and a seed is triggered for a fresh fetch when there is one.
 * DF_EDIGEST when the reporter lost (the conflict's actions are appended all the same).
 */
int sched_state_piece_finished(struct sched_state *s, const char *peer_id,
                               const struct sched_piece *piece, int64_t now,
                               struct sched_actions *out);

/*
 * DownloadPieceFailed: strike parent_id (NULL: a back-to-source failure, only recorded).
 * At max_strikes the parent is blocked for this task, reported (BLOCKED) and replaced.
 */
int sched_state_piece_failed(struct sched_state *s, const char *peer_id, uint32_t number,
                             const char *parent_id, int64_t now, struct sched_actions *out);

/* DownloadPeer(BackToSource)Finished: Succeeded; a source finishing completes the task. */
int sched_state_peer_finished(struct sched_state *s, const char *peer_id, int64_t now,
                              struct sched_actions *out);

/* DownloadPeer(BackToSource)Failed: Failed; children re-planned. */
int sched_state_peer_failed(struct sched_state *s, const char *peer_id, int64_t now,
                            struct sched_actions *out);

/* The stream closed / DeletePeer: the peer is removed, its children re-planned. */
int sched_state_peer_leave(struct sched_state *s, const char *peer_id, int64_t now,
                           struct sched_actions *out);

/*
 * Periodic work (call every second or so): stalled parents, peers under their parent quota,
 * peers waiting for parents, seeds that never came, and back-to-source peers that made no
 * progress for stall_timeout while other peers want the task (they are failed: one idle
 * peer must not hold the task's only back-to-source slot).
 */
int sched_state_tick(struct sched_state *s, int64_t now, struct sched_actions *out);

/* Collect idle peers, silent hosts and empty tasks by their TTLs. stats may be NULL. */
int sched_state_gc(struct sched_state *s, int64_t now, struct sched_actions *out,
                   struct sched_gc_stats *stats);

/*
 * Check every invariant (DAG acyclic, edges symmetric, counts consistent, states legal).
 * Returns 0, or DF_EINTERNAL with the first violation in err (may be NULL).
 */
int sched_state_check(const struct sched_state *s, struct df_error *err);

/* Views: DF_ENOTFOUND for an unknown id; *out is untouched then. */
int sched_state_task_stat(const struct sched_state *s, const char *task_id,
                          struct sched_task_stat *out);
int sched_state_peer_stat(const struct sched_state *s, const char *peer_id,
                          struct sched_peer_stat *out);
int sched_state_host_stat(const struct sched_state *s, const char *host_id,
                          struct sched_host_stat *out);

/*
 * Every host, in the order they announced (the manager's ListHosts), and the peers of one
 * task with their hosts (ListTaskPeers: who holds it, finished or not). The views passed to
 * fn are borrowed for the call; fn must not change the state. The task walk returns
 * DF_ENOTFOUND for an unknown task.
 */
typedef void sched_host_visit_fn(const struct sched_host_stat *h, void *arg);
typedef void sched_peer_visit_fn(const struct sched_peer_stat *p, const struct sched_host_stat *h,
                                 void *arg);
void sched_state_hosts_each(const struct sched_state *s, sched_host_visit_fn *fn, void *arg);
int sched_state_task_peers_each(const struct sched_state *s, const char *task_id,
                                sched_peer_visit_fn *fn, void *arg);

/* The digest the source gave for a piece: DF_ENOTFOUND when not (yet) known. */
int sched_state_piece_digest(const struct sched_state *s, const char *task_id, uint32_t number,
                             struct df_digest *out);

/* True when peer_id holds piece number (tests, simulations). */
bool sched_state_peer_has_piece(const struct sched_state *s, const char *peer_id, uint32_t number);

/* How many peers of the task hold piece number. */
uint32_t sched_state_piece_holders(const struct sched_state *s, const char *task_id,
                                   uint32_t number);

/* Table sizes, for metrics and tests. */
size_t sched_state_host_count(const struct sched_state *s);
size_t sched_state_task_count(const struct sched_state *s);
size_t sched_state_peer_count(const struct sched_state *s);

#endif
