/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler state's private model, shared by its three files: sched_state.c (the
 * tables, the state machines and the events), sched_plan.c (choosing a peer's parents)
 * and sched_check.c (the invariant checker and the stat views). Nothing outside them
 * includes it. Every function here is loop-thread only, never fails and never frees its
 * arguments; the lookups return borrowed objects (NULL: unknown).
 */
#ifndef DF_SCHED_STATE_INT_H
#define DF_SCHED_STATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "df/df_id.h"
#include "df/df_map.h"
#include "sched_state.h"

struct sched_peer;

/* Pieces a peer's finishing times are kept for (sched_peer.recent_at). */
#define SCHED_RECENT 8

struct sched_edge {
    struct sched_peer *parent, *child;
    TAILQ_ENTRY(sched_edge) pentry; /* on parent->children */
    TAILQ_ENTRY(sched_edge) centry; /* on child->parents */
    uint64_t bytes;
    uint32_t pieces;
    int64_t created_at;
    int64_t progress_at; /* last piece the child got over this edge; 0 = none */
    double rate;         /* bytes/ms of its pieces, from their reported cost; 0 = unknown */
    uint32_t timed;      /* pieces with a cost in rate */
};

TAILQ_HEAD(sched_edge_list, sched_edge);
TAILQ_HEAD(sched_peer_list, sched_peer);

struct sched_block {
    char *peer_id;
    uint32_t strikes;
    bool blocked;          /* for the rest of the task */
    int64_t blocked_until; /* a stalled parent sits out one stall timeout */
};

/* Who announced hosts (a caller IP), with how many of them are in the table. */
struct sched_source {
    char *key;
    uint32_t nhosts;
};

struct sched_host {
    char *id, *ip, *hostname, *idc, *location;
    struct sched_source *src; /* counted against its quota; NULL = none */
    enum sched_host_type type;
    uint16_t rpc_port, download_port;
    uint64_t upload_rate_limit;
    uint32_t upload_slots;
    uint32_t concurrent_uploads; /* as reported */
    uint32_t load;               /* child edges whose parent runs here */
    uint64_t upload_ok, upload_failed, uploaded_bytes;
    double up_est; /* estimated upload capacity, bytes/ms (sched_eval.c, step 5); 0 = unknown */
    uint64_t silent_toward; /* up_est was set by a silence toward the host of this id hash; 0 */
    int64_t announced_at;
    struct sched_peer_list peers;
    uint32_t npeers;
    TAILQ_ENTRY(sched_host) entry;
};

/*
 * Task states (Dragonfly2's scheduler task state machine):
 *
 *   PENDING --register--> RUNNING --source peer finished--> SUCCEEDED
 *                            |  ^                               |
 *          last source failed|  +--register / new source--------+ (also from FAILED, LEAVE)
 *                            v
 *                          FAILED --source peer finished--> SUCCEEDED
 *   any --no peers left--> LEAVE
 *
 * task_set_state() is the only writer: peer_register() and task_ensure_source() enter
 * RUNNING, peer_finish() SUCCEEDED, peer_drop_source() FAILED, peer_unlink() LEAVE.
 */
struct sched_task {
    char id[DF_ID_TASK_LEN + 1];
    char *url, *tag, *application;
    enum sched_task_state state;
    bool has_geometry;
    int64_t content_length; /* -1 until known */
    uint64_t piece_length;
    uint32_t piece_count;
    uint8_t *digests;      /* piece_count * DF_SHA256_LEN */
    uint64_t *digest_bits; /* which digests are known */
    uint64_t *seed_bits;   /* which of them a seed host reported */
    uint32_t ndigests;
    char **distrusted; /* hosts whose source reports conflicted: no parents, no reports */
    uint32_t ndistrusted;
    uint8_t *tiny; /* TINY content, once a source peer sent it */
    size_t tiny_len;
    bool has_tiny;
    struct sched_peer_list peers;
    uint32_t npeers;
    uint32_t nback_to_source;
    char *seed_host_id;   /* the seed host triggered for this task, or NULL */
    int64_t seed_trig_at; /* when; 0 once the seed peer registered */
    int64_t seed_fail_at; /* the last seed peer failure or timeout; 0 = none */
    double rate_ref;      /* the typical piece rate over its edges, bytes/ms; 0 = none yet */
    uint32_t *holders;    /* normal peers holding each piece, as counted at holders_at ... */
    uint32_t nholding;    /* ... of so many normal peers with the geometry (sched_plan.c) */
    int64_t holders_at;
    double fair;     /* its fair share, bytes/ms, as reckoned at fair_at (sched_plan.c) */
    int64_t fair_at; /* 0: never */
    int64_t created_at, updated_at;
    TAILQ_ENTRY(sched_task) entry;
};

/*
 * Peer states (Dragonfly2's scheduler peer state machine):
 *
 *   PENDING --> RECEIVED_EMPTY | RECEIVED_TINY | RECEIVED_SMALL | RECEIVED_NORMAL
 *   RECEIVED_SMALL | RECEIVED_NORMAL --started / first piece--> RUNNING
 *   RECEIVED_* | RUNNING --back to source--> BACK_TO_SOURCE
 *   RECEIVED_* | RUNNING | BACK_TO_SOURCE --finished--> SUCCEEDED
 *   any but LEAVE --failed--> FAILED;   any --left--> LEAVE (then freed)
 *
 * sched_peer_set_state() is the only writer; it keeps the task's back-to-source count. A peer in
 * BACK_TO_SOURCE or SUCCEEDED has no parents; FAILED and LEAVE have no edges at all.
 */
struct sched_peer {
    char *id;
    struct sched_host *host;
    struct sched_task *task;
    enum sched_peer_state state;
    uint64_t *bits; /* finished pieces; NULL until the geometry is known */
    uint32_t nfinished;
    struct sched_edge_list parents, children;
    uint32_t nparents, nchildren;
    struct sched_block *blocks;
    uint32_t nblocks;
    uint64_t bytes_from_source, bytes_from_peers;
    int64_t cost_total;
    int64_t first_at; /* its first piece; 0 = none yet */
    /* Its last SCHED_RECENT pieces and when each was finished (a relay's tail, sched_plan.c). */
    uint32_t recent_piece[SCHED_RECENT];
    int64_t recent_at[SCHED_RECENT];
    uint32_t recent_next;
    bool need_back_to_source;
    int64_t created_at, updated_at;
    bool waiting;       /* wants parents and has none */
    int64_t wait_since; /* since when, while waiting */
    int64_t source_at;  /* BACK_TO_SOURCE: when it went there, or its last source piece */
    bool data_lost;     /* being failed by a source conflict (within one call) */
    uint64_t mark;      /* DFS epoch */
    TAILQ_ENTRY(sched_peer) hentry, tentry, entry;
};

struct sched_cand {
    struct sched_peer *peer;
    double rate;               /* expected bytes/ms for the child (sched_eval.c, step 5) */
    struct sched_edge *victim; /* the child of a full parent the child takes the place of */
    double score;
};

struct sched_state {
    struct sched_config cfg;
    struct df_map hosts, tasks, peers;
    struct df_map sources; /* key -> struct sched_source, while it has hosts */
    TAILQ_HEAD(, sched_host) host_list;
    TAILQ_HEAD(, sched_task) task_list;
    struct sched_peer_list peer_list;
    uint64_t epoch;
    struct sched_peer **stack; /* DFS scratch, grown to the largest task */
    size_t stack_cap;
    struct sched_cand *cands; /* candidate scratch */
    size_t cands_cap;
    uint32_t plan_depth; /* sched_plan_peer() re-planning the peers it displaced */
    int64_t grace_until; /* sched_state_start() + startup_grace; 0: never started */
};

/* ---- sched_state.c: lookups, pieces, predicates, edges and actions ---- */

struct sched_host *sched_host_get(const struct sched_state *s, const char *id);
struct sched_task *sched_task_get(const struct sched_state *s, const char *id);
struct sched_peer *sched_peer_get(const struct sched_state *s, const char *id);

/* Words of a piece bitmap of n pieces; bit i of b; set bits among the first n. */
size_t sched_bits_words(uint32_t n);
bool sched_bit_get(const uint64_t *b, uint32_t i);
uint32_t sched_bits_count(const uint64_t *b, uint32_t n);

/* Pieces parent holds that child lacks. */
uint32_t sched_peer_useful(const struct sched_peer *parent, const struct sched_peer *child);

/* A source: fetching from the origin now, so it will have what it lacks. */
bool sched_peer_is_source(const struct sched_peer *p);

/* States that want parents. */
bool sched_peer_wants_parents(const struct sched_peer *p);

/* RECEIVED_EMPTY, _TINY, _SMALL or _NORMAL. */
bool sched_peer_state_is_received(enum sched_peer_state st);

/* p's block-list entry for peer id, or NULL. */
struct sched_block *sched_peer_block_find(const struct sched_peer *p, const char *id);

/* Has t refused h's source reports (h's peers are never parents in t)? */
bool sched_task_distrusts(const struct sched_task *t, const struct sched_host *h);

/* Alive and not failing most of its uploads. */
bool sched_host_is_healthy(const struct sched_state *s, const struct sched_host *h, int64_t now);

/* The one writer of a peer's state (the diagram at struct sched_peer); asserts the move. */
#define sched_peer_set_state(p, st, now) sched_peer_set_state_at(p, st, now, __LINE__)
void sched_peer_set_state_at(struct sched_peer *p, enum sched_peer_state st, int64_t now, int line);

/* Link parent -> child (the caller checked it is legal) / unlink and free e. */
void sched_edge_add(struct sched_peer *parent, struct sched_peer *child, int64_t now);
void sched_edge_del(struct sched_edge *e, int64_t now);

/* Queue PARENTS with p's whole parent set, replacing one queued earlier in this event. */
void sched_emit_parents(struct sched_actions *out, const struct sched_peer *p);

/* Forget the PARENTS queued for p in this event: a later plan replaces it. */
void sched_actions_drop_parents(struct sched_actions *out, const struct sched_peer *p);

/* ---- sched_plan.c: parents ---- */

/*
 * Revise p's parent set (sched_eval.c, step 4): drop the parents that are no longer
 * useful (all of them when fresh), then fill the free places with the best candidates.
 * Emits PARENTS when the set changed (or the caller changed it: dirty) and is not empty.
 */
void sched_plan_peer(struct sched_state *s, struct sched_peer *p, bool fresh, bool dirty,
                     int64_t now, struct sched_actions *out);

/* Should an existing edge stay? Nothing to give, gone bad, blocked, last resort: no. */
bool sched_plan_edge_is_useful(const struct sched_state *s, const struct sched_edge *e,
                               int64_t now);

/*
 * Fold a piece's cost (ms, ending now) into its edge, its parent host's estimate and the
 * task's rate; a piece reported without a cost (cut through) by its tail when that is long
 * (sched_eval.c, step 5).
 */
void sched_plan_measure(struct sched_state *s, struct sched_edge *e, uint32_t piece,
                        uint64_t length, int64_t cost, int64_t now);

/* Does e deliver clearly below what its child's typical candidate could give (a re-plan)? */
bool sched_plan_edge_is_poor(const struct sched_edge *e);

/*
 * Does p, without parents, wait for a parent with room: measured slow (sched_eval.c, step
 * 5) and not yet seed_wait without one?
 */
bool sched_plan_waits_for_room(const struct sched_state *s, const struct sched_peer *p,
                               int64_t now);

/*
 * q finished, or a child of its finished: its uplink, free now, goes at once to the running
 * peer of its task that lacks the most pieces and has a free place for a parent (sched_eval.c,
 * step 5). Nothing for a seed, a peer without room, or when no such peer exists.
 */
void sched_plan_offer(struct sched_state *s, struct sched_peer *q, int64_t now,
                      struct sched_actions *out);
/* Children of p lose it as a parent and are planned again. */
void sched_plan_drop_children(struct sched_state *s, struct sched_peer *p, int64_t now,
                              struct sched_actions *out);

#endif
