/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The task core: peer_task.c (state, storage, entry points), peer_task_origin.c (the
 * origin), peer_task_hash.c (hashing on workers) and peer_task_out.c (the gets' outputs),
 * with their private peer_task_int.h. It includes none of those that follow it: they
 * listen (struct peer_task_listener: the P2P module, upload relays), and the swarm side
 * serves it through ctx->swarm (struct peer_swarm_ops). The P2P module still shares the
 * task object (its piece maps and fetch slots). Loop thread only.
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
#include "df/log.h"
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
    /* A source fetch asks one range for a run of unclaimed pieces [piece, run_end), all
     * claimed by this slot: each is hashed as soon as its bytes are in, and the slot moves
     * to the next (0: one piece, as from a parent) */
    uint64_t run_end;
    struct df_sha256 sha;
    bool hash_later;  /* a source piece: hashed from the data file on a worker, not here */
    bool from_parent; /* a parent's bytes: the swarm side counts them once verified */
    unsigned attempt;
    char why[200]; /* why the last write into this slot failed; cleared by the slot's owner */
};

/* A source piece being hashed from the data file on a worker thread. */
struct peer_hash_job;
TAILQ_HEAD(peer_hash_list, peer_hash_job);

#define PEER_OUTPUT_RUNS 16 /* stretches of the content one output job copies, at most */

/* A stretch [off, end) of the content an output job copies. */
struct peer_out_run {
    uint64_t off, end;
};

/*
 * A `get` waiting for the task. Its output, when it has one, is the caller's descriptor,
 * written one worker job at a time: the caller's own new file (out_seek) gets each piece at
 * its offset once verified, so the end of a download leaves one piece to copy, not the
 * stretch behind the last piece to arrive; any other descriptor (standard output, a pipe)
 * gets the verified prefix, in order.
 */
struct peer_waiter {
    TAILQ_ENTRY(peer_waiter) entry;
    struct peer_task *task;
    struct rpc_call *call; /* NULL once the call is gone */
    struct peer_download_req req;
    uint64_t last_progress_ns;
    int out_fd;           /* the caller's descriptor, or -1 (cache only, or closed) */
    bool out_seek;        /* out_fd takes pieces at their offsets (req.output_rewind) */
    uint8_t *out_taken;   /* out_seek: pieces given to a job, piece_count of them, or NULL */
    uint64_t out_scan;    /* out_seek: every piece below it is taken */
    uint64_t out_done;    /* bytes of content already in out_fd */
    bool out_busy;        /* a job runs on a worker: the waiter stays until it is done */
    atomic_bool out_stop; /* the call is gone or the task failed: the job ends early */
    /* the running job: copy job_runs of data_path (at their offsets when out_seek, else at
     * the descriptor's position), then (job_final) check the whole-content digest */
    char data_path[STORE_DATA_PATH_MAX];
    struct peer_out_run job_runs[PEER_OUTPUT_RUNS];
    unsigned job_nruns;
    uint64_t job_bytes;
    bool job_final;
    bool refetched; /* the content failed its digest once: this is the origin's second go */
    int rv;
    char why[512];
};

TAILQ_HEAD(peer_waiter_list, peer_waiter);

/*
 * A log line about task t at level lvl (mod: the debug module, or NULL): as log_task, it
 * carries t's id and its URL (redacted), as text fields or JSON members.
 */
#define PEER_TASK_LOG(t, lvl, mod, ...) log_task((lvl), (mod), (t)->id, (t)->url, __VA_ARGS__)

struct peer_task {
    TAILQ_ENTRY(peer_task) entry;
    struct peer *ctx;
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
    /* a finished source piece held back a moment for a partner to hash it beside
     * (peer_task_hash.c), on the hashing list meanwhile; the timer bounds the wait */
    struct peer_hash_job *hash_held;
    struct event *hash_hold_timer;
    uint64_t hash_last_ns; /* when the last source piece was in */
    unsigned materializing;
    uint64_t bytes_from_source;
    int64_t started_ms;
    char why[600];
    bool disk_failed;     /* a write to the data file failed: retrying the origin cannot help */
    struct peer_p2p *p2p; /* the swarm side's state for t (its own; opaque here), or NULL */
    bool from_source;     /* this peer fetches from the origin (told by the scheduler or alone) */
    bool evicted;         /* failed a whole-content digest: out of the cache, never found again */
    bool hold_pending;    /* offered to the swarm only once a get's digest check passed */
    /* recorded pieces waiting for their re-check (busy meanwhile), a few jobs at a time */
    struct store_piece *recheck;
    size_t nrecheck, recheck_next;
    unsigned recheck_inflight;
    uint64_t recheck_failed;
    unsigned holds; /* peer_task_hold()s not yet undone: t stays in memory */
    /* readers taking the content in order as it arrives (proxy streams): while there are any,
     * a claim takes the first missing piece, not the next one after the last claim, so the
     * verified prefix they wait on grows first */
    unsigned in_order;
};

/*
 * Start (or join) the download of req for call; the task streams progress to call and
 * finishes it. Takes req (reset on return).
 */
void peer_task_download(struct peer *ctx, struct rpc_call *call, struct peer_download_req *req);

/*
 * The same with an output: the verified content is written, in order, into out_fd (taken:
 * closed by the task) as it grows; the call succeeds once all of it is there (and matches
 * req->digest).
 */
void peer_task_download_fd(struct peer *ctx, struct rpc_call *call, struct peer_download_req *req,
                           int out_fd);

/*
 * Cancel every running fetch and free the tasks (waiting calls get `unavailable`), except
 * those still writing outputs on workers: they free themselves once done.
 */
void peer_task_shutdown(struct peer *ctx);

/* Evict by TTL and quota (tasks not running). */
void peer_task_gc(struct peer *ctx);

/* Task status as JSON (StatTask); NULL if unknown. The caller deletes it. */
cJSON *peer_task_stat(struct peer *ctx, const char *task_id);

/*
 * A new running task id (canonical: its URL for the store) for what req asks (borrowed), in
 * ctx->tasks with no waiter and no source yet: its caller takes it to the swarm or the
 * origin. A partial copy in the store lends it its validators.
 */
struct peer_task *peer_task_new(struct peer *ctx, const char *id, const char *canonical,
                                const struct peer_download_req *req);

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
int peer_task_drop_storage(struct peer *ctx, const char *id);

/*
 * Drop every piece of t (P2P, not yet done): rows, data file and maps; outputs already
 * written start over from byte 0, or fail when they cannot (standard output). 0 or DF_E*
 * with t->why set.
 */
int peer_task_drop_pieces(struct peer_task *t);

/* Every piece is recorded: finish the task and serve its waiters. */
void peer_task_complete(struct peer_task *t);

/* Give up with a reason (NULL: the one a failed call of this API left); waiters get it. */
void peer_task_fail(struct peer_task *t, int rv, const char *why);

/*
 * The whole content arrived inline (a tiny task, from the scheduler): store it as the one
 * piece and finish the task, or fail it.
 */
void peer_task_inline_content(struct peer_task *t, const uint8_t *buf, size_t n);

/* Read len bytes of t's data file at off (the caller knows them verified). 0 or DF_E*. */
int peer_task_read(struct peer_task *t, void *buf, size_t len, uint64_t off);

/*
 * Start (or join) the task req asks for (borrowed) without a waiter, for a caller that follows
 * it with a listener and reads its verified bytes itself (the proxy): a running task, a
 * finished one from the cache, or a new one taken to the swarm or the origin. Returns 0 and
 * *out, held once for the caller (peer_task_unhold when done with it), or DF_EINVAL with a
 * message in err (a URL no task can have), or DF_ENOTFOUND when the content is not cached and
 * req disables back-to-source. With req->has_digest a cached copy is offered to the swarm
 * only once the caller says it passed (peer_task_content_verified).
 */
int peer_task_open(struct peer *ctx, const struct peer_download_req *req, struct peer_task **out,
                   struct df_error *err);

/* Keep t in memory (its state and data file) until the matching peer_task_unhold. */
void peer_task_hold(struct peer_task *t);

/* Undo a peer_task_hold; t may be freed (DONE or FAILED and nothing else holds it). */
void peer_task_unhold(struct peer_task *t);

/* The end of t's content verified without a gap from byte `from` on (from itself if none). */
uint64_t peer_task_verified_end(const struct peer_task *t, uint64_t from);

/*
 * The whole content of t, read by a caller of peer_task_open, matched req's digest: a cached
 * copy held back from the swarm may be offered now. Borrows req.
 */
void peer_task_content_verified(struct peer_task *t, const struct peer_download_req *req);

/*
 * t's content failed a whole-content digest its reader checked: drop its rows and data file,
 * never find or offer it again (t stays in memory while held). why is logged.
 */
void peer_task_reject(struct peer_task *t, const char *why);

/*
 * Delete task id from this peer's cache on request (DfdaemonUpload/DeleteTask): its rows and
 * data file go, the scheduler hears the peer left it, readers that opened the file finish.
 * Returns 0; DF_EAGAIN while it is being downloaded here (it ends first, then delete it);
 * DF_ENOTFOUND when it is not in the cache; or a store error. err is set on failure.
 */
int peer_task_delete(struct peer *ctx, const char *id, struct df_error *err);

/* Go back to source: probe the origin, then fetch pieces. */
void peer_task_back_to_source(struct peer_task *t);

/* Tell waiters and listeners the length is known. */
void peer_task_started(struct peer_task *t);

/* The active task id (a FAILED one only when no other is), or NULL. */
struct peer_task *peer_task_find(struct peer *ctx, const char *id);

/* Set up a fetch slot of t (its rate-limit timer): for the origin, or from_parent. */
void peer_task_fetch_init(struct peer_fetch *f, struct peer_task *t, bool from_parent);

/*
 * Write body bytes of f's piece (rate-limited, hashed); 0 or DF_E* with f->why set. A
 * failed write to the data file also sets t->disk_failed: the task cannot go on.
 */
int peer_task_fetch_write(struct peer_fetch *f, struct evbuffer *data);

/*
 * What a task tells those that follow it: every listener on the context hears of every task,
 * in the order the listeners were added. A callback may be NULL; none may free the task.
 */
struct peer_task_events {
    /* More bytes of a piece being received were written, or the fetch of one ended. */
    void (*bytes)(struct peer_task *t, void *arg);
    /* A piece was verified and recorded (parent_id: where from; NULL from the origin). */
    void (*piece)(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN],
                  const char *parent_id, void *arg);
    void (*done)(struct peer_task *t, void *arg);                    /* every piece is there */
    void (*failed)(struct peer_task *t, const char *why, void *arg); /* the task gave up */
    /* The length is known (the origin answered, or the scheduler relayed the geometry);
     * last, so that positional initializers of the others stay valid. */
    void (*started)(struct peer_task *t, void *arg);
};

/* A listener; the caller owns it and keeps it until peer_task_unlisten(). */
struct peer_task_listener {
    const struct peer_task_events *ev;
    void *arg;
    struct peer_task_listener *next; /* in ctx->task_listeners */
};

/* Add l (last) to ctx's listeners / take it off. */
void peer_task_listen(struct peer *ctx, struct peer_task_listener *l);
void peer_task_unlisten(struct peer *ctx, struct peer_task_listener *l);

/* More of a piece being received was written (or its fetch ended): tell the listeners. */
void peer_task_bytes_written(struct peer_task *t);

/*
 * Piece sources (the origin, parents) claim the pieces they fetch. A claim takes the first
 * piece from where the last one left off that is neither verified nor claimed and that want
 * (NULL: any) accepts; the piece is the claimer's until it releases it (its fetch failed, or
 * it is about to record it with peer_task_record_piece). false when there is none.
 */
bool peer_task_claim(struct peer_task *t, bool (*want)(uint64_t number, void *arg), void *arg,
                     uint64_t *number);
void peer_task_release(struct peer_task *t, uint64_t number);

/*
 * As peer_task_claim, but any piece want accepts alike: the (r mod count)-th of them, r a
 * random number. A child drawing from several parents so asks them for different parts of
 * the task than its siblings do, and holds pieces that others lack (issue 11). While an
 * in-order reader waits (t->in_order), it claims as peer_task_claim does: the first missing.
 */
bool peer_task_claim_spread(struct peer_task *t, bool (*want)(uint64_t number, void *arg),
                            void *arg, uint64_t r, uint64_t *number);

/* t's pieces come from the swarm from now on (from a state that probes the origin). */
void peer_task_join_swarm(struct peer_task *t);

/*
 * What the task core asks of the swarm side (the P2P module: scheduler, parents). It sets
 * ctx->swarm when it starts; without it a task goes to the origin and none of these is asked.
 */
struct peer_swarm_ops {
    /* Take t, which req (borrowed) asked for, to the swarm (0; it calls
     * peer_task_join_swarm), or DF_E*: fetch from the origin. */
    int (*start)(struct peer_task *t, const struct peer_download_req *req);
    /* t goes away: keep only what a finished task's parent registration needs. */
    void (*free)(struct peer_task *t);
    /* t fetches from the origin now that the geometry is known: tell the scheduler. */
    void (*source_started)(struct peer_task *t);
    /* t's geometry is going away: abandon the piece fetches in flight. */
    void (*fetches_cancel)(struct peer_task *t);
    /* A piece became fetchable again (a re-check dropped it): schedule fetches. */
    void (*kick)(struct peer_task *t);
    /* A piece recorded before passed its re-check: offer it to children (and the scheduler
     * when this peer fetches from the source). */
    void (*piece_rechecked)(struct peer_task *t, uint64_t number, const uint8_t md[DF_SHA256_LEN]);
    /* A task left the cache: stop offering it to the swarm. */
    void (*forget)(struct peer *ctx, const char *task_id);
    /* t's content failed its whole-content digest: leave the swarm for it, whether t still
     * has its swarm side or only a detached parent registration is left. */
    void (*evict)(struct peer_task *t);
    /* A finished task of the cache was asked for: unless the swarm side already holds it as
     * a parent, register it with the scheduler as one (after a restart of either side).
     * Borrows req. */
    void (*hold)(struct peer *ctx, const struct peer_download_req *req, const char *task_id,
                 uint64_t content_length, uint64_t piece_length, uint64_t piece_count);
    /* The parents t's bytes came from, into out (room for PEER_P2P_MAX_FROM; strings
     * borrowed from the swarm side, valid until it changes): how many were filled. */
    size_t (*bytes_from)(struct peer_task *t, struct proto_dfdaemon_download_from *out);
};

#endif
