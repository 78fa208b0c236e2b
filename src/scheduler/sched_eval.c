/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parent scoring. The weights start from Dragonfly2's evaluator (finished pieces, upload
 * success, free upload slots, host type, IDC and location affinity), reshaped for the swarm
 * goals: origin and seed send each piece about once; every uplink busy.
 *
 * Scheduling policy (the filter lives in sched_state.c, the numbers here):
 *
 *  1. Filter. A candidate parent is another peer of the task, on another host, that is
 *     not the child's descendant (the task graph stays a DAG), not on the child's
 *     block-list, on a host that announced within 2x the announce interval and is not
 *     failing most uploads, whose host has a free upload slot (child edges < slots), and
 *     that can give something: it holds pieces the child lacks, or it is a source (a
 *     back-to-source peer, a running seed peer) that will. A running normal peer with no
 *     piece and no parent is not a candidate: it has nothing and nothing is coming.
 *
 *  2. Seed protection. Every child pulling from the seed makes the seed send the same
 *     pieces many times and leaves the peers' uplinks idle. So a seed peer takes a new
 *     child only while it has fewer than `seed_fanout` children (1 by default: one child
 *     keeps a seed's uplink busy) and holds pieces that no normal peer holds (or is still
 *     fetching from the origin). Everyone else is fed by peers that hold or are receiving
 *     the seed's pieces, and those peers feed each other: the seed's pieces fan out once.
 *     The seed is also the parent of last resort, for a child that has had no parent and
 *     no other candidate for `seed_wait`; such an edge is dropped as soon as the child has
 *     another parent. (In the 16-peer simulation, taking the seed sooner than ~3 stall
 *     timeouts raised seed egress from 1.00x to 1.06-1.27x without finishing sooner.)
 *
 *  2b. Peer fanout. With equal uplinks a DAG distributes at the Kumar-Ross bound only as a
 *     chain: the first peer can only be fed by the seed, the second only by the first, and
 *     so on, and an uplink split between two children halves both. So a normal peer takes
 *     a new child in a task only while it has fewer than `peer_fanout` children (1 by
 *     default), unless the child has no parent and no other candidate. A peer that was
 *     given parents counts as running at once, so peers that register together line up
 *     behind the seed in one step. With 1 MiB pieces a hop costs ~one piece time
 *     (84 ms at 100 Mbit/s). 0 lifts the limit.
 *
 *  3. Score, in [0, 1] (the sum below over 1.6):
 *       0.60 rate      what the parent is expected to give the child (step 5) over the best
 *                      candidate's expectation (1 while nothing is measured)
 *       0.35 useful    pieces the parent can give now / pieces the child lacks
 *                      (a source still fetching counts as half of "everything")
 *       0.20 free      1 - load/slots of the parent host: children spread across parents
 *       0.10 success   upload success ratio of the parent host (1 with no history)
 *       0.10 progress  finished-piece ratio of the parent
 *       0.10 normal    1 for a normal host, 0 for a seed host (the inverted seed bonus:
 *                      a seed is the parent of last resort, see 2)
 *       0.10 idc       same IDC
 *       0.05 location  common location prefix
 *     The best `max_parents` are kept (one for SMALL tasks).
 *
 *  4. Re-plan. A child's parent set is revised when a parent fails or leaves, is struck
 *     out (max_strikes piece failures: blocked for the task and reported), stalls (no piece
 *     for stall_timeout: it sits out one stall timeout and, if it had pieces to give, is
 *     struck), or has nothing more to give (the child holds all it has, and it is neither a
 *     source nor a receiving peer at least as far along as the child). Revision keeps the
 *     good parents and fills the free places, so piece streams that work are not torn
 *     down; PARENTS carries the whole new set and is emitted only when the set changed,
 *     an emptied set too (the peer drops the parents it is no longer given).
 *     Peers without parents are re-planned on every tick until wait_timeout, then sent back
 *     to source (within max_back_to_source) or failed.
 *
 *  5. Measure, then place. A child reports a piece it got whole from a parent with its cost
 *     (ms from asking the parent to holding it; a cut-through relay goes at the parent's
 *     own download pace, so it carries no cost), so each edge has a rate, and each host
 *     an estimate of its upload capacity: the edge's piece rate times the child edges
 *     that delivered alongside it (they shared the uplink), leaning to the highest recent
 *     figure (sched_eval_rate_update). A relayed piece that ends more than two typical
 *     piece times after its parent had it whole went at the parent's upload pace for
 *     that tail, and measures it as a piece over the tail (not toward a host measured
 *     slow, whose own full uplink slows what it receives). A parent that has pieces for a
 *     child but sent none for eight typical piece times (three when it holds four or more
 *     the child lacks: a relay that keeps up stays a piece or two ahead, a slow one piles
 *     up what it gets) is measured too: it gives at most one piece over that silence,
 *     counted from when it had those pieces (a relay starved by its own parents is not
 *     silent); not when the child's other parents fed it half the typical rate
 *     meanwhile: a child asks each parent only for what the others do not bring, so that
 *     silence says nothing of the uplink; not toward a child on a host measured slow,
 *     and an estimate a silence set is dropped when the child's host is measured slow
 *     later (its full uplink slowed what it received). The task keeps its typical piece
 *     rate. Placement uses the estimates so:
 *      - a candidate is expected to give a new child its capacity split over its child
 *        edges and the newcomer, no more than it receives itself while receiving (unknown
 *        capacity: the task's typical rate); that is the heaviest term of the score, so
 *        fast hosts are chosen first;
 *      - a full parent (at its fanout) still takes a child in place of a child measured
 *        clearly (1.5x, sched_eval_rate_is_below; under a seed 3x, as the seed resends
 *        what the newcomer lacks) slower than what the parent would give the newcomer,
 *        and 1.5x slower than the newcomer's own host if that is measured: the displaced
 *        one is planned again at once. So the pipeline sorts itself by upload: fast
 *        hosts near the source, slow ones at its tail, as leaves;
 *      - a child leaves a parent that gives it clearly (2x) less than a candidate with
 *        room (or with a slow child to displace) would, at its 1st/2nd/4th/... timed piece
 *        or the next tick, long before stall_timeout; with max_parents > 1 it keeps the
 *        parents that deliver and adds others, so a slow one costs only its share;
 *      - a host measured slow takes no parent over every fanout for seed_wait (it would
 *        halve a fast parent's stream): it waits for one with room (the tail of the
 *        pipeline, a peer that finished), and such waiters are tried by the tick only;
 *      - but a parent one child over its fanout still takes one such slow child, a leaf,
 *        if none of its children is one yet: a leaf so draws from several fast parents
 *        at once, a share of each, instead of waiting for the pipeline's tail, and the
 *        peer spreads its requests over them by what each delivers (peer_p2p_pick.h);
 *      - with peer_fanout, a plan adds one parent at most: the next comes with the next
 *        plan, once this one's place is known (peers registering together line up);
 *      - a slow host's child takes no parent on a slow host while a candidate on one not
 *        measured slow exists (sched_eval_slow_pair_ok): two slow hosts make a leaf that
 *        draws at a tenth of the rate and finishes last;
 *      - a child short of its fair share (the seed's and hosts' uploads over the peers
 *        receiving, no more than the seed's upload: the Kumar-Ross rate) takes one more
 *        parent at a time, up to max_parents, from a peer over its fanout whose host has
 *        upload to spare (sched_eval_spare_ok: the child gets under half its share from
 *        parents all measured, the host's estimate less what its recently delivering
 *        child edges get is half a share or more): a fast host's child count so follows
 *        its spare upload, where the fanout alone kept it at one child;
 *      - a seed under its fanout also takes a child lacking a piece that at most a quarter
 *        of the task's normal peers hold: once one peer holds everything, an idle seed
 *        still serves the pieces the swarm is short of (step 2 alone left it idle while
 *        the whole swarm waited in the tail on that one peer);
 *      - a finished peer with room (it finished, or the child it fed did) becomes at
 *        once one more parent, up to max_parents, of the running peer that needs the
 *        longest to finish (the pieces it lacks over what its parents deliver): the
 *        tail of the pipeline catches up on the uplinks of its head, where the tick
 *        handed them to the first peers it planned, mostly ones nearly done;
 *      - the head of a pipeline (a normal peer the seed feeds) takes no child over its
 *        fanout, neither a slow leaf nor a child short of its fair share: every piece
 *        enters the swarm through its uplink, once, and a second child there halves what
 *        all the peers behind it get, while everyone drew from the one peer holding the
 *        most (in the simulation the head served up to eight children at a time).
 *     On an even network no estimate is clearly below another, so none of this moves an
 *     edge and the pipeline of step 2b stays. In the simulation (sched_sim, 16 peers, 64
 *     pieces, mean of 6 seeds) the last peer's time over the bound went from 3.65 to 2.15
 *     (uneven) and 3.20 to 2.14 (skewed) with the measurements; with leaves on several
 *     parents, one new parent per plan and the peer's own piece choice (--pick peer,
 *     --draw pick) to 1.67 and 1.67, and even from 1.23 to 1.18; with the seed serving
 *     rare pieces 1.52 and 1.54, with fast parents for slow leaves 1.48 and 1.52; once
 *     an emptied set was sent (the simulated peer obeys it) 1.54 and 1.53, with fair-share
 *     parents 1.50 and 1.50, with the
 *     lead rule 1.45 and 1.44; with finished parents to the peer furthest behind 1.44 and
 *     1.45, even 1.14; with no child over the fanout at the head 1.37 and 1.46; with the
 *     peer's claims spread from one parent well ahead (peer_p2p_pick.h) 1.35 and 1.42;
 *     with places changing hands at 1.5x (3x under a seed) 1.36 and 1.40.
 *
 *  Limit of the DAG. While the graph's order stays fixed, the first peer can only get
 *  pieces from the seed, the second only from the seed and the first, and so on: if the seed
 *  sends each piece once, the swarm degenerates into a chain and the last of N peers lags
 *  N-1 piece times (1 + 15/64 = 1.23x the Kumar-Ross bound for 16 peers and 64 pieces).
 *  Dropping parents that have nothing more to give lets the order change over time; the
 *  simulation (test_sched_sim.c) measures 1.25-1.30x with seed egress 1.00x. Going below
 *  needs per-piece re-planning or allowing short-lived reverse edges.
 */
#include "sched_eval.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <xxhash.h>

#define W_USEFUL   0.35
#define W_FREE     0.20
#define W_SUCCESS  0.10
#define W_PROGRESS 0.10
#define W_NORMAL   0.10
#define W_IDC      0.10
#define W_LOCATION 0.05
#define W_RATE     0.60
#define W_SUM      1.60

#define LOCATION_LEVELS 5

double
sched_eval_idc(const char *a, const char *b)
{
    if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
        return 0.0;
    return strcasecmp(a, b) == 0 ? 1.0 : 0.0;
}

double
sched_eval_location(const char *a, const char *b)
{
    int same = 0;

    if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
        return 0.0;
    while (same < LOCATION_LEVELS) {
        size_t la = strcspn(a, "|"), lb = strcspn(b, "|");

        if (la != lb || strncasecmp(a, b, la) != 0)
            break;
        same++;
        if (a[la] == '\0' || b[lb] == '\0')
            break;
        a += la + 1;
        b += lb + 1;
    }
    return (double)same / LOCATION_LEVELS;
}

double
sched_eval_score(const struct sched_eval_candidate *c)
{
    double useful = 0.0, free_ratio = 0.0, success = 1.0, progress = 0.0, rate = 1.0, score;
    uint32_t slots = c->slots > 0 ? c->slots : 1;

    if (c->child_missing > 0)
        useful = (double)c->useful / (double)c->child_missing;
    else if (c->useful > 0)
        useful = 1.0;
    if (useful > 1.0)
        useful = 1.0;
    if (c->will_have && useful < 0.5)
        useful = 0.5;
    if (c->load < slots)
        free_ratio = 1.0 - (double)c->load / (double)slots;
    if (c->upload_ok + c->upload_failed > 0)
        success = (double)c->upload_ok / (double)(c->upload_ok + c->upload_failed);
    if (c->piece_count > 0)
        progress = (double)c->parent_finished / (double)c->piece_count;
    if (progress > 1.0)
        progress = 1.0;
    if (c->rate > 0 && c->rate_best > 0)
        rate = c->rate < c->rate_best ? c->rate / c->rate_best : 1.0;
    score = W_RATE * rate + W_USEFUL * useful + W_FREE * free_ratio + W_SUCCESS * success +
            W_PROGRESS * progress + W_NORMAL * (c->is_seed ? 0.0 : 1.0) +
            W_IDC * sched_eval_idc(c->parent_idc, c->child_idc) +
            W_LOCATION * sched_eval_location(c->parent_location, c->child_location);
    return score / W_SUM;
}

double
sched_eval_rate_update(double est, double sample)
{
    if (!(sample > 0))
        return est;
    if (!(est > 0))
        return sample;
    return est + (sample - est) * (sample > est ? 0.5 : 0.125);
}

double
sched_eval_rate_expect(double cap, uint32_t children, double inrate)
{
    double r;

    if (!(cap > 0))
        return 0.0;
    r = cap / ((double)children + 1.0);
    return inrate > 0 && inrate < r ? inrate : r;
}

bool
sched_eval_rate_is_poor(double got, double alt)
{
    return got > 0 && alt > 2.0 * got;
}

bool
sched_eval_rate_is_below(double got, double alt)
{
    return got > 0 && alt > 1.5 * got;
}

double
sched_eval_fair_share(double seed_up, double up, uint32_t n)
{
    double share;

    if (!(up > 0) || n == 0)
        return 0.0;
    share = up / (double)n;
    return seed_up > 0 && seed_up < share ? seed_up : share;
}

bool
sched_eval_spare_ok(double inrate, double fair, double spare)
{
    return fair > 0 && 2.0 * inrate < fair && 2.0 * spare >= fair;
}

bool
sched_eval_slow_pair_ok(bool child_slow, bool cand_slow, uint32_t nfast)
{
    return !child_slow || !cand_slow || nfast == 0;
}

bool
sched_eval_seed_is_allowed(uint32_t seed_children, uint32_t fanout, bool unique, uint32_t nonseed,
                           bool starving)
{
    if (seed_children < fanout && unique)
        return true;
    return nonseed == 0 && starving;
}

uint64_t
sched_eval_seed_weight(const char *task_id, const char *host_id)
{
    /* The task's hash seeds the host's: a pair hashes differently from its concatenation. */
    return XXH3_64bits_withSeed(host_id, strlen(host_id), XXH3_64bits(task_id, strlen(task_id)));
}
