/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evaluator: pure functions that score one candidate parent for one child, decide
 * whether a seed peer may be offered, and pick the seed host for a task by rendezvous
 * hashing. sched_state.c gathers the inputs from its tables; nothing here reads state, so
 * every rule is testable with plain values. The policy is described in sched_eval.c.
 */
#ifndef DF_SCHED_EVAL_H
#define DF_SCHED_EVAL_H

#include <stdbool.h>
#include <stdint.h>

/* What the evaluator knows about a (parent, child) pair that passed the filter. */
struct sched_eval_candidate {
    uint32_t useful;        /* pieces the parent has now that the child lacks */
    uint32_t child_missing; /* pieces the child lacks; 0 when the count is unknown */
    bool will_have;         /* a source still fetching: it will get what it lacks */
    uint32_t parent_finished;
    uint32_t piece_count; /* 0 when unknown */
    uint64_t upload_ok;   /* parent host's upload history */
    uint64_t upload_failed;
    uint32_t load;  /* child edges already served by the parent's host */
    uint32_t slots; /* the parent host's upload slots (>= 1) */
    bool is_seed;   /* the parent runs on a seed host */
    const char *parent_idc, *child_idc;
    const char *parent_location, *child_location; /* "a|b|c", up to 5 levels */
    double rate;      /* bytes/ms the parent is expected to give the child; 0: unknown */
    double rate_best; /* the best expected rate among the child's candidates; 0: unknown */
};

/* Score in [0, 1]: higher is a better parent. */
double sched_eval_score(const struct sched_eval_candidate *c);

/*
 * Whether a seed peer may take a new child (sched_eval.c, step 2): while it has fewer than
 * fanout children and holds pieces no normal peer has (unique; a seed still fetching counts
 * as having them); otherwise only for a starving child (no parent, waited long enough)
 * whose other usable candidates (nonseed) are none.
 */
bool sched_eval_seed_is_allowed(uint32_t seed_children, uint32_t fanout, bool unique,
                                uint32_t nonseed, bool starving);

/*
 * Upload measurement (sched_eval.c, step 5). A rate estimate folds in a sample (bytes/ms):
 * the first sets it, a higher one moves it half way up, a lower one an eighth of the way
 * down, so one piece that waited on a busy disk does not sink a fast host.
 */
double sched_eval_rate_update(double est, double sample);

/*
 * What a parent of upload capacity cap (bytes/ms, 0: unknown) gives one more child when it
 * already serves children, and it receives the task at inrate itself (0: unknown, or a
 * source: no limit). 0 when cap is unknown.
 */
double sched_eval_rate_expect(double cap, uint32_t children, double inrate);

/*
 * Should a child leave a parent that gives it got bytes/ms when another candidate is
 * expected to give alt? Only when it is clearly better: more than twice.
 */
bool sched_eval_rate_is_poor(double got, double alt);

/*
 * Is a child whose host uploads got bytes/ms slow enough for a newcomer that would get
 * alt from its parent to take its place (step 5)? When alt is more than 1.5 times got:
 * a relay at two thirds of the stream the place offers holds every peer behind it to
 * that. (Leaving a parent, rate_is_poor, asks for twice: that move costs a new stream.)
 */
bool sched_eval_rate_is_below(double got, double alt);

/*
 * A child's fair share of a swarm (step 5), bytes/ms: what every one of n receiving peers
 * gets when the uploads (up: the seed's and every normal host's, summed) are split evenly,
 * no more than the seed's own upload (seed_up) sends the content at. 0 when unknown.
 */
double sched_eval_fair_share(double seed_up, double up, uint32_t n);

/*
 * May a parent over its peer fanout take one more child (step 5)? When the child
 * receives clearly less than its fair share (inrate: its parents' measured delivery,
 * 0 with none) and the parent's host has at least half a fair share of measured
 * upload to spare.
 */
bool sched_eval_spare_ok(double inrate, double fair, double spare);

/*
 * May a child take a candidate parent, by their hosts' measured speed (step 5)? Not a
 * parent on a slow host (cand_slow) for a child on a slow host (child_slow) while nfast
 * candidates are on hosts not measured slow; any other pair.
 */
bool sched_eval_slow_pair_ok(bool child_slow, bool cand_slow, uint32_t nfast);

/* Same IDC: 1 when both are non-empty and equal ignoring case, else 0. */
double sched_eval_idc(const char *a, const char *b);

/* Location affinity: length of the common '|'-separated prefix (at most 5) over 5. */
double sched_eval_location(const char *a, const char *b);

/*
 * Rendezvous (highest random weight) hashing: the weight of host_id for task_id. The seed
 * host with the largest weight serves the task; adding or removing a seed host moves only
 * the tasks that it wins or won.
 */
uint64_t sched_eval_seed_weight(const char *task_id, const char *host_id);

#endif
