/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A simulated swarm driven through the real scheduler state (sched_state.c, sched_plan.c,
 * sched_eval.c): tasks of F pieces, each with its own seed host and N peers on their own
 * hosts, idle hosts that only announce, per-host upload rates, late joiners and deaths.
 * Time advances in fixed steps; a host's upload rate is shared fairly by its running
 * uploads, a child fetches one piece at a time from each parent the scheduler gave it
 * (store and forward) and reports every piece as a peer would. Every scheduler call is
 * timed on the thread's CPU clock and the heap is sampled with mallinfo2, so a run
 * reports completion against the Kumar-Ross bound, CPU per call and memory per peer.
 * Deterministic for a given rng seed (timings aside). Used by the unit test
 * test_sched_sim.c and by the tool test/tools/sched_sim.c.
 */
#ifndef DF_SIM_SWARM_H
#define DF_SIM_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../src/scheduler/sched_state.h"

/* Per-host upload rates, as multiples of the base rate (the seed's is seed_rate). */
enum sim_rates {
    SIM_RATES_EVEN = 0, /* every host 1 */
    SIM_RATES_UNEVEN,   /* a quarter of each task's peers (chosen at random) 0.1, the rest 1 */
    SIM_RATES_SKEWED,   /* log-uniform over 0.1..2 (10..200 Mbit/s at a 100 Mbit/s base) */
};

enum sim_join {
    SIM_JOIN_ALL = 0,   /* everyone registers at 0 */
    SIM_JOIN_HALF_LATE, /* half of each task's peers register once the others hold half */
};

/* Which piece a child asks a parent for. */
enum sim_pick {
    SIM_PICK_RAREST = 0, /* the rarest in the task among those the parent has */
    SIM_PICK_NEXT,       /* the next one in order (the peer's own claim, peer_task.c) */
    SIM_PICK_PEER,       /* the peer's claim: any alike or in order, as peer_pick_spreads
                          * says (peer_p2p_pick.h) */
};

/* How a child spreads its requests over its parents. */
enum sim_draw {
    SIM_DRAW_PICK = 0, /* the peer's rules (peer_p2p_pick.h): by expected arrival, endgame */
    SIM_DRAW_EACH,     /* one piece from every parent that has one, none moved */
};

/* Quarters of the bound the uplink use is reported by (sim_swarm_result.busy). */
#define SIM_BUSY_SLICES 16

/* The scheduler calls the run times, by kind. */
enum sim_op {
    SIM_OP_HOST = 0, /* AnnounceHost */
    SIM_OP_REGISTER, /* RegisterPeerRequest */
    SIM_OP_PIECE,    /* DownloadPiece(BackToSource)Finished */
    SIM_OP_PEER,     /* started, back-to-source started, finished, leave */
    SIM_OP_TICK,     /* sched_state_tick, once a second */
    SIM_OP_GC,       /* sched_state_gc, every ten seconds */
    SIM_OP_COUNT,
};

struct sim_swarm_params {
    uint32_t tasks;  /* each with its own seed host */
    uint32_t peers;  /* per task */
    uint32_t hosts;  /* normal hosts, >= tasks * peers; the others only announce */
    uint32_t pieces; /* per task */
    enum sim_rates rates;
    enum sim_join join;
    enum sim_pick pick;
    enum sim_draw draw;
    uint32_t deaths; /* peers of each task killed (kill -9: their streams close) ... */
    double death_at; /* ... at this fraction of the task's bound */
    double piece_ms; /* one piece at the base rate (4 MiB at 100 Mbit/s: 335.5 ms) */
    uint32_t steps;  /* time steps per piece_ms */
    double seed_rate, origin_rate; /* multiples of the base rate */
    uint32_t slots;                /* upload slots each host announces (0: the default) */
    double limit;                  /* give up at this multiple of the bound */
    uint64_t rng;                  /* non-zero */
    bool check_each_tick;          /* sched_state_check() after every tick too (tests) */
    FILE *trace; /* non-NULL: every PARENTS, a snapshot every piece time, each peer's end */
    struct sched_config cfg; /* the scheduler's; the table caps are raised to fit */
};

struct sim_op_stat {
    uint64_t calls;
    uint64_t ns, max_ns; /* thread CPU time, the clock's own cost taken off */
};

struct sim_swarm_result {
    uint32_t peers, done, dead, failed;  /* normal peers */
    double first_ms, median_ms, last_ms; /* completion of the peers that finished */
    double bound_ms;                     /* of the task with the worst last/bound */
    double worst_ratio, mean_ratio;      /* a task's last completion / its bound */
    uint64_t origin_fetches;             /* pieces, all tasks */
    uint64_t seed_uploads, peer_uploads;
    uint64_t parents_actions, fail_actions, blocked_actions, normal_back_to_source;
    uint32_t max_parents_seen;
    uint64_t moved; /* endgame moves of a piece in flight to a faster parent */
    /*
     * Uplink use, the Kumar-Ross condition (every host uploads at its full rate all the
     * time): the pieces' worth the hosts could have sent while their peer ran or held the
     * task (seeds once their peer registered, the killed until killed) and what they sent,
     * finished or not; and the share busy by quarters of the (worst) bound, the last
     * quarter taking the rest of the run.
     */
    double up_capacity, up_sent;
    double busy[SIM_BUSY_SLICES];
    uint32_t nbusy; /* slices the run reached */
    struct sim_op_stat ops[SIM_OP_COUNT];
    uint64_t clock_ns; /* the cost of one clock reading pair, taken off every call */
    size_t heap_hosts; /* scheduler heap once every host announced */
    size_t heap_peak;  /* the largest sampled scheduler heap */
    bool all_done;     /* every peer not killed finished */
    int check_rv;      /* sched_state_check(): the first failure, or 0 at the end */
    char err[256];     /* the first unexpected scheduler answer or check failure */
};

/* Defaults: one task of 16 peers on 16 hosts, 64 pieces, even rates, the scheduler's own
 * configuration. */
void sim_swarm_params_default(struct sim_swarm_params *p);

/* Names for the flags and the report: "even", "uneven", "skewed"; "all", "half"; ... */
const char *sim_rates_name(enum sim_rates r);
const char *sim_join_name(enum sim_join j);
const char *sim_pick_name(enum sim_pick k);
const char *sim_draw_name(enum sim_draw d);

/*
 * Run the swarm until every peer alive finished or the limit passed. Returns 0, DF_EINVAL
 * for bad parameters, or DF_EINTERNAL when the scheduler answered a call with an error or
 * its state check failed (r->err says which); r is filled in every case.
 */
int sim_swarm_run(const struct sim_swarm_params *p, struct sim_swarm_result *r);

/* Print the parameters and the figures, a few lines, to f. */
void sim_swarm_print(FILE *f, const struct sim_swarm_params *p, const struct sim_swarm_result *r);

#endif
