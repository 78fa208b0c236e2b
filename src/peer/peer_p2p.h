/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The swarm side of the peer: scheduler clients, host announces, the parents a task's pieces
 * come from, and DfdaemonUpload (SyncPieces, DownloadTask from the scheduler). It follows
 * the task core (peer_task.h) as a listener and serves it as ctx->swarm.
 */
#ifndef PEER_P2P_H
#define PEER_P2P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"

/* Start: scheduler clients, the upload service's RPC methods, ctx->swarm. */
int peer_p2p_init(struct peer *ctx, struct df_error *err);
/*
 * Stop serving the swarm and leave the schedulers. Returns how many LeaveHost calls are in
 * flight (each ends within PEER_P2P_LEAVE_MS).
 */
int peer_p2p_stop(struct peer *ctx);
/*
 * Replace the schedulers (n addresses, in failover order; --manager's choice): tasks move to
 * the new set as their calls on the old one end. The same set again changes nothing. Returns
 * 0, or DF_EINVAL with a message in err (nothing changed then).
 */
int peer_p2p_set_schedulers(struct peer *ctx, char *const *addrs, size_t n, struct df_error *err);
/* LeaveHost calls started by peer_p2p_stop() still unanswered. */
int peer_p2p_leaving(const struct peer *ctx);
void peer_p2p_shutdown(struct peer *ctx);

/*
 * For /readyz: true when the peer has no scheduler (it works alone) or one of them answered
 * its last call; else false, with the first scheduler's address in why (size len).
 */
bool peer_p2p_sched_is_reachable(const struct peer *ctx, char *why, size_t len);

/*
 * The scheduler decides what a priority makes of a task's first download (LEVEL1 forbidden,
 * LEVEL2 no candidate: src/scheduler/sched_prio.c). A peer without a scheduler has nobody
 * to decide, so it keeps LEVEL1 and LEVEL2 from the origin itself: r is served only from
 * what this peer holds or is fetching (disable_back_to_source). With a scheduler: nothing.
 */
void peer_p2p_prioritize(const struct peer *ctx, struct peer_download_req *r);

/* A piece being fetched from a parent (for cut-through). */
struct peer_p2p_progress {
    uint64_t seq;     /* names the fetch attempt */
    uint64_t written; /* bytes from the piece start in the data file */
    uint64_t off, len;
};

/*
 * Where piece number of task_id stands: 1 verified here, 0 being fetched from a parent
 * (*out filled), -1 neither (not fetching, or the task is not running here).
 */
int peer_p2p_piece_progress(struct peer *ctx, const char *task_id, uint64_t number,
                            struct peer_p2p_progress *out);

#endif
