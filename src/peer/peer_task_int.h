/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The task core's private header, shared by its four files: peer_task.c (state, listeners,
 * storage, entry points), peer_task_origin.c (fetch slots, body writes, the origin),
 * peer_task_hash.c (hash jobs on workers) and peer_task_out.c (waiters and outputs).
 * Nothing outside them includes it. Loop thread only.
 */
#ifndef PEER_TASK_INT_H
#define PEER_TASK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/rpc_server.h"
#include "peer.h"
#include "peer_task.h"

/* What a hash job does with its piece. */
enum peer_hash_kind {
    PEER_HASH_SOURCE,  /* a piece fetched from the source: its hash is recorded */
    PEER_HASH_RECHECK, /* a piece recorded before: its hash must equal the recorded digest */
    PEER_HASH_SEAL,    /* a DONE task: fsync the data file, then seal the rows to its stamp */
};

/* Installed on a call before finishing it: the waiter is gone. */
extern const struct rpc_call_cbs peer_no_cbs;

/* ---- peer_task.c */

/* The one writer of t->state (line: the caller's, for the debug log). */
void peer_task_set_state(struct peer_task *t, enum peer_task_state s, int line);
#define PEER_TASK_SET_STATE(t, s) peer_task_set_state((t), (s), __LINE__)

/* The peer's monotonic clock in ns (its injected clock in tests). */
uint64_t peer_task_mono_ns(const struct peer *ctx);

/* t fetches from the origin now that its geometry is known: the swarm side is told. */
void peer_task_swarm_source_started(struct peer_task *t);

/* Cancel t's fetches, their retry and rate timers, and the probe: every slot is idle. */
void peer_task_stop_fetches(struct peer_task *t);

/* Free t when it is DONE or FAILED and no waiter, output job or hash job is left. */
void peer_task_maybe_free(struct peer_task *t);

/* Drop t's piece maps and geometry (the fetches using them are stopped first). */
void peer_task_release_geometry(struct peer_task *t);

/* ---- peer_task_origin.c */

/* Start fetching missing pieces again: a re-check dropped one. */
void peer_task_kick(struct peer_task *t);

/* ---- peer_task_hash.c */

/* Start the next queued re-checks, a few at a time. 0 or DF_ENOMEM. */
int peer_task_recheck_next(struct peer_task *t);

/*
 * Queue a job of kind for piece number ([off, off + len) of the data file; want: the
 * recorded digest of a re-check, else NULL). 0 or DF_E* with t->why set.
 */
int peer_task_hash_submit(struct peer_task *t, enum peer_hash_kind kind, uint64_t number,
                          uint64_t off, uint64_t len, const uint8_t *want);

/* t goes away while its hash jobs run: they finish on their own and free themselves. */
void peer_task_hash_orphan(struct peer_task *t);

/* ---- peer_task_out.c */

/* Tell w's caller that the task started (its length is known). */
void peer_waiter_started(struct peer_waiter *w);

/* Send progress to each of t's waiters, at most every 100 ms each (force: now). */
void peer_task_progress(struct peer_task *t, bool force);

/* Free w (off its task's list already), closing its output if it is still open. */
void peer_waiter_free(struct peer_waiter *w);

/* Stop writing w's output: a running job ends at its next chunk, and the descriptor is
 * closed once no job uses it. */
void peer_waiter_output_stop(struct peer_waiter *w);

/* w's call went away: the task goes on for the cache; the output is not written. */
void peer_waiter_call_cancel_cb(struct rpc_call *call, enum rpc_code why, void *arg);

/* More of t is verified (or all of it): outputs follow. */
void peer_task_outputs_kick(struct peer_task *t);

/* The task is DONE: a cache-only waiter is answered now, an output once it is written. */
void peer_waiter_materialize(struct peer_waiter *w);

/* Restart w's output from byte 0 (its task dropped its pieces). 0, or -1: it cannot be. */
int peer_waiter_output_rewind(struct peer_waiter *w);

/* Shutdown of t while outputs are written: stop fetching, answer its gets, end their jobs
 * early; the next peer_task_shutdown() frees t once the jobs are done. */
void peer_task_stop_outputs(struct peer_task *t);

#endif
