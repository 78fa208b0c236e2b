/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The task object shared by the task engine (peer_task.c: cache, back-to-source, outputs)
 * and the P2P engine (peer_p2p.c: scheduler stream, parents, SyncPieces). Loop thread only.
 */
#ifndef PEER_TASK_H
#define PEER_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>

#include "df/df_digest.h"
#include "df/df_id.h"
#include "df/store_data.h"
#include "peer.h"

#define PEER_P2P_MAX_FROM 32 /* parents remembered for the byte counts of a task */

struct evbuffer;
struct peer_p2p;
struct proto_dfdaemon_download_from;
struct store_piece;

enum peer_task_state {
    PEER_TASK_PROBING,
    PEER_TASK_RUNNING,
    PEER_TASK_STREAMING,
    PEER_TASK_DONE,
    PEER_TASK_FAILED,
    PEER_TASK_P2P, /* pieces come from parents the scheduler names */
};

/* One piece fetch slot; in stream mode slot 0 carries the single response. */
struct peer_fetch {
    struct peer_task *task;
    struct net_fetch *src;
    struct event *retry_timer;
    struct event *rate_timer;
    bool busy;
    uint64_t piece;
    uint64_t off, len, pos; /* piece geometry and bytes written so far */
    struct df_sha256 sha;
    bool hash_later; /* a source piece: hashed from the data file on a worker, not here */
    unsigned attempt;
};

/* A source piece being hashed from the data file on a worker thread. */
struct peer_hash_job;
TAILQ_HEAD(peer_hash_list, peer_hash_job);

/*
 * A `get` waiting for the task. Its output, when it has one, is the caller's descriptor: the
 * verified prefix of the content is copied into it in order, one worker job at a time.
 */
struct peer_waiter {
    TAILQ_ENTRY(peer_waiter) entry;
    struct peer_task *task;
    struct rpc_call *call; /* NULL once the call is gone */
    struct peer_download_req req;
    uint64_t last_progress_ns;
    int out_fd;           /* the caller's descriptor, or -1 (cache only, or closed) */
    uint64_t out_done;    /* bytes of content already in out_fd */
    bool out_busy;        /* a job runs on a worker: the waiter stays until it is done */
    atomic_bool out_stop; /* the call is gone or the task failed: the job ends early */
    /* the running job: copy [out_done, job_end) of data_path, then (job_final) check the
     * whole-content digest */
    char data_path[STORE_DATA_PATH_MAX];
    uint64_t job_end;
    bool job_final;
    bool refetched; /* the content failed its digest once: this is the origin's second go */
    int rv;
    char why[512];
};

TAILQ_HEAD(peer_waiter_list, peer_waiter);

struct peer_task {
    TAILQ_ENTRY(peer_task) entry;
    struct peer_ctx *ctx;
    char id[DF_ID_TASK_LEN + 1];
    char *url;       /* as the first user gave it (sent to the origin) */
    char *canonical; /* for the store */
    struct net_http_header *headers;
    size_t nheaders;
    bool insecure;
    const struct net_addrpolicy *policy; /* for back-to-source; NULL: a local caller's task */
    enum peer_task_state state;
    bool length_known;
    uint64_t content_length, piece_length, piece_count;
    char *etag, *last_modified;
    uint8_t *have; /* piece bitmap (one byte per piece) */
    uint8_t *busy; /* being fetched */
    uint64_t npieces_alloc;
    uint64_t done_pieces, done_bytes;
    uint64_t next_scan;
    uint8_t (*stream_digests)[DF_SHA256_LEN]; /* stream mode with unknown length */
    uint64_t stream_ndigests;
    int fd;
    struct peer_fetch fetch[PEER_MAX_WORKERS];
    unsigned nworkers;
    unsigned probe_attempt;
    struct event *probe_timer;
    struct peer_waiter_list waiters;
    struct peer_hash_list hashing; /* their pieces stay busy until recorded */
    unsigned materializing;
    uint64_t bytes_from_source;
    int64_t started_ms;
    char why[600];
    bool disk_failed;     /* a write to the data file failed: retrying the origin cannot help */
    struct peer_p2p *p2p; /* NULL without a scheduler */
    bool from_source;     /* this peer fetches from the origin (told by the scheduler or alone) */
    bool evicted;         /* failed a whole-content digest: out of the cache, never found again */
    bool hold_pending;    /* offered to the swarm only once a get's digest check passed */
    /* recorded pieces waiting for their re-check (busy meanwhile), a few jobs at a time */
    struct store_piece *recheck;
    size_t nrecheck, recheck_next;
    unsigned recheck_inflight;
    uint64_t recheck_failed;
};

/* Record a hashed piece (bytes already written); notifies P2P. 0 or DF_E* with t->why set. */
int peer_task_record_piece(struct peer_task *t, uint64_t number, uint64_t off, uint64_t len,
                           const uint8_t md[DF_SHA256_LEN], const char *parent_id);

/* Learn the geometry (piece_length 0: the default for length) and store the task. */
int peer_task_set_geometry(struct peer_task *t, uint64_t length, uint64_t piece_length,
                           struct df_error *err);

/*
 * Delete task id's rows, then its data file. When the rows cannot be deleted (a full disk
 * refuses that too) the file stays and the error is returned (logged).
 */
int peer_task_drop_storage(struct peer_ctx *ctx, const char *id);

/*
 * Drop every piece of t (P2P, not yet done): rows, data file and maps; outputs already
 * written start over from byte 0, or fail when they cannot (standard output). 0 or DF_E*
 * with t->why set.
 */
int peer_task_drop_pieces(struct peer_task *t);

/* Every piece is recorded: finish the task and serve its waiters. */
void peer_task_complete(struct peer_task *t);

/* Give up with a reason; waiters get the error. */
void peer_task_fail(struct peer_task *t, int rv, const char *why);

/* Go back to source: probe the origin, then fetch pieces. */
void peer_task_back_to_source(struct peer_task *t);

/* Tell waiters the length is known. */
void peer_task_started(struct peer_task *t);

/* The active task id (a FAILED one only when no other is), or NULL. */
struct peer_task *peer_task_find(struct peer_ctx *ctx, const char *id);

/* Set up a fetch slot of t (its rate-limit timer). */
void peer_task_fetch_init(struct peer_fetch *f, struct peer_task *t);

/* Write body bytes of f's piece (rate-limited, hashed); 0 or DF_E* with t->why set. */
int peer_task_fetch_write(struct peer_fetch *f, struct evbuffer *data);

/* P2P engine (peer_p2p.c). */

/*
 * The parents t's bytes came from, into out (strings borrowed from t's P2P side, valid until
 * it changes): how many were filled, at most PEER_P2P_MAX_FROM.
 */
size_t peer_p2p_bytes_from(struct peer_task *t,
                           struct proto_dfdaemon_download_from out[PEER_P2P_MAX_FROM]);
int peer_p2p_start(struct peer_task *t);
void peer_p2p_piece_done(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN],
                         const char *parent_id);
void peer_p2p_source_started(struct peer_task *t);
void peer_p2p_task_done(struct peer_task *t);
void peer_p2p_task_failed(struct peer_task *t, const char *why);
void peer_p2p_free(struct peer_task *t);
/* The task's geometry is going away: abandon the P2P piece fetches in flight. */
void peer_p2p_fetches_cancel(struct peer_task *t);
/* A piece became fetchable again (a re-check dropped it): schedule fetches. */
void peer_p2p_kick(struct peer_task *t);
/* A piece recorded before passed its re-check: offer it to children (and the scheduler when
 * this peer fetches from the source). */
void peer_p2p_piece_rechecked(struct peer_task *t, uint64_t number,
                              const uint8_t md[DF_SHA256_LEN]);

/* A task left the cache: stop offering it to the swarm. */
void peer_p2p_forget(struct peer_ctx *ctx, const char *task_id);

/* t's content failed its whole-content digest: leave the swarm for it, whether t still has
 * its P2P side or only a detached parent registration is left. */
void peer_p2p_evict(struct peer_task *t);

/*
 * A finished task of the cache was asked for: unless the P2P side already holds it as a
 * parent, register it with the scheduler as one (after a restart of either side). Borrows
 * req.
 */
void peer_p2p_hold(struct peer_ctx *ctx, const struct peer_download_req *req, const char *task_id,
                   uint64_t content_length, uint64_t piece_length, uint64_t piece_count);

#endif
