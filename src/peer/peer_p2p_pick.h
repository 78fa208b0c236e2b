/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which parent a piece is asked of, when a child draws from several at once (issue 11).
 * Pure arithmetic over what the child measured of each parent, with the clock passed in,
 * so that the rules are unit-tested and the swarm simulator (test/sim) runs the same ones:
 *
 *  - every parent keeps the rate it delivered whole pieces at (bytes per ms, leaning to
 *    the latest figures);
 *  - a piece goes to the free parent expected to have it soonest, counting what it still
 *    has to send of the pieces it is sending, unless a busy parent that offers it would
 *    send it and everything the child still has to ask for before the free one had this
 *    piece: then it waits for the busy one. So a slow parent gets pieces while the rest
 *    is long, in proportion to what it delivers, and none it would finish last; a fast
 *    single parent (the even network's pipeline) is the case where one parent is enough;
 *  - a piece is asked of one parent only. When a child has nothing left to ask for (the
 *    last pieces, or all it lacks is in flight), a parent with nothing to do that would
 *    deliver a piece in flight at a clearly (2x) slower one in less than half the time
 *    the slow one still needs takes it over: the slow fetch is cancelled first (no strike:
 *    slow is not wrong), so two parents never write the same piece.
 */
#ifndef PEER_P2P_PICK_H
#define PEER_P2P_PICK_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Does a child drawing from `drawing` parents claim any piece they offer alike (spread)
 * rather than in order? With several, yes: siblings drawing from the same parents then
 * hold different pieces and give each other what they lack. With one, when that parent
 * offers more than PEER_PICK_SPREAD_LEAD pieces the child still has to ask for (`lead`:
 * the seed, a finished peer, a relay far ahead): its children would otherwise all hold
 * the same prefix, sent to each of them, with nothing to give one another. A pipeline's
 * relay a piece or two behind its parent claims in order, as its parent receives them.
 * (A reader waiting on the prefix, a proxy stream, makes every claim in order whatever
 * this says: peer_task_claim_spread.)
 */
#define PEER_PICK_SPREAD_LEAD 4
bool peer_pick_spreads(unsigned drawing, uint64_t lead);

/* What a child measured of one parent. */
struct peer_pick_stats {
    double rate;   /* bytes per ms of the whole pieces it delivered; 0: none measured yet */
    unsigned done; /* whole pieces measured */
};

/* What a candidate parent is doing for the child now. */
struct peer_pick_cand {
    const struct peer_pick_stats *st;
    uint64_t left; /* bytes still to come of the fetches in flight from it */
    bool free;     /* its queue is short enough to take another piece now */
};

/* A whole piece of len bytes arrived cost_ms after it was asked for. */
void peer_pick_measured(struct peer_pick_stats *st, uint64_t len, uint64_t cost_ms);

/*
 * The rate of the fastest measured parent among n (0 when none is measured): an unmeasured
 * parent is taken to be that fast, so that a new parent is tried, not starved.
 */
double peer_pick_ref(const struct peer_pick_cand *c, unsigned n);

/*
 * Expected ms until a piece of len bytes asked of c now has arrived: what it still sends,
 * then the piece, at its rate (ref when unmeasured). -1 when nothing is measured at all.
 */
double peer_pick_eta(const struct peer_pick_cand *c, double ref, uint64_t len);

/*
 * The candidate (index) a piece of len bytes goes to, rest: the bytes the child still has
 * to ask for after it. The free one expected to have it soonest, unless a busy one would
 * have sent its work, this piece and the rest sooner (then -1: the piece waits for it).
 * With nothing measured, the free one with least left. -1 when none is free.
 */
int peer_pick_choose(const struct peer_pick_cand *c, unsigned n, uint64_t len, uint64_t rest);

/*
 * The endgame: should a fetch of len bytes, pos of them received elapsed_ms after it was
 * asked of a parent, move to a free parent measured at st? Yes when st would deliver the
 * whole piece in less than half what the running fetch still needs at its own pace so far
 * (a fetch younger than min_ms, or a free parent not measured, is left alone).
 */
bool peer_pick_steal(const struct peer_pick_stats *st, uint64_t len, uint64_t pos,
                     uint64_t elapsed_ms, uint64_t min_ms);

#endif
