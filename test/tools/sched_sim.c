/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_sim: run a simulated swarm through the real scheduler state (test/sim/sim_swarm.c)
 * and print completion against the Kumar-Ross bound, the scheduler's CPU per call and its
 * memory per peer. Every figure is in simulated time except the CPU times, which are the
 * scheduler's own on this thread. Exit status: 0 every peer alive finished, 1 not (or the
 * scheduler answered an error), 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/sim_swarm.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: sched_sim [options]\n"
               "  --tasks T          tasks, each with its own seed host (1)\n"
               "  --peers N          peers per task (16)\n"
               "  --hosts H          normal hosts, >= T*N; the rest only announce (T*N)\n"
               "  --pieces F         pieces per task (64)\n"
               "  --rates R          even | uneven (a quarter at 1/10) | skewed (log-uniform "
               "0.1..2) (even)\n"
               "  --join J           all | half (half join when the others hold half) (all)\n"
               "  --deaths K         peers per task killed (kill -9) ... (0)\n"
               "  --death-at X       ... at this fraction of the bound (0.5)\n"
               "  --pick P           rarest | next | peer (the peer's own: any alike, as\n"
               "                     peer_pick_spreads says): the piece a child asks a parent\n"
               "                     for (rarest)\n"
               "  --draw D           pick | each: the peer's rules over its parents (by expected\n"
               "                     arrival, endgame), or a piece from every parent (pick)\n"
               "  --piece-ms MS      one piece at the base rate (335.5: 4 MiB at 100 Mbit/s)\n"
               "  --steps S          time steps per piece (10)\n"
               "  --seed-rate U      the seed's upload, in base rates (1)\n"
               "  --origin-rate U    the origin's rate to a source peer (4)\n"
               "  --slots S          upload slots announced per host (0: the scheduler's 200)\n"
               "  --parents P        scheduler maxParents (4)\n"
               "  --peer-fanout P    scheduler peerFanout (1; 0: no limit)\n"
               "  --seed-fanout P    scheduler seedFanout (1)\n"
               "  --limit X          give up at X times the bound (20)\n"
               "  --rng N            random seed (24301)\n"
               "  --trace            print every PARENTS, a snapshot of every peer each piece\n"
               "                     time (held/parents/fetching/uploading) and each one's end\n");
}

/* An unsigned option in [lo, hi]; false when it is not one. */
static bool
opt_uint(const char *s, unsigned long lo, unsigned long hi, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool
opt_double(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (*s == '\0' || *end != '\0')
        return false;
    *out = v;
    return true;
}

int
main(int argc, char **argv)
{
    enum {
        O_TASKS = 1,
        O_PEERS,
        O_HOSTS,
        O_PIECES,
        O_RATES,
        O_JOIN,
        O_DEATHS,
        O_DEATH_AT,
        O_PICK,
        O_DRAW,
        O_PIECE_MS,
        O_STEPS,
        O_SEED_RATE,
        O_ORIGIN_RATE,
        O_SLOTS,
        O_PARENTS,
        O_PEER_FANOUT,
        O_SEED_FANOUT,
        O_LIMIT,
        O_RNG,
        O_TRACE,
        O_HELP
    };
    static const struct option opts[] = {
            {"tasks", required_argument, NULL, O_TASKS},
            {"peers", required_argument, NULL, O_PEERS},
            {"hosts", required_argument, NULL, O_HOSTS},
            {"pieces", required_argument, NULL, O_PIECES},
            {"rates", required_argument, NULL, O_RATES},
            {"join", required_argument, NULL, O_JOIN},
            {"deaths", required_argument, NULL, O_DEATHS},
            {"death-at", required_argument, NULL, O_DEATH_AT},
            {"pick", required_argument, NULL, O_PICK},
            {"draw", required_argument, NULL, O_DRAW},
            {"piece-ms", required_argument, NULL, O_PIECE_MS},
            {"steps", required_argument, NULL, O_STEPS},
            {"seed-rate", required_argument, NULL, O_SEED_RATE},
            {"origin-rate", required_argument, NULL, O_ORIGIN_RATE},
            {"slots", required_argument, NULL, O_SLOTS},
            {"parents", required_argument, NULL, O_PARENTS},
            {"peer-fanout", required_argument, NULL, O_PEER_FANOUT},
            {"seed-fanout", required_argument, NULL, O_SEED_FANOUT},
            {"limit", required_argument, NULL, O_LIMIT},
            {"rng", required_argument, NULL, O_RNG},
            {"trace", no_argument, NULL, O_TRACE},
            {"help", no_argument, NULL, O_HELP},
            {NULL, 0, NULL, 0},
    };
    struct sim_swarm_params p;
    struct sim_swarm_result r;
    bool hosts_set = false, ok = true;
    uint32_t rng;
    int c, rv;

    sim_swarm_params_default(&p);
    while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_TASKS:
            ok = opt_uint(optarg, 1, 1000, &p.tasks);
            break;
        case O_PEERS:
            ok = opt_uint(optarg, 1, 100000, &p.peers);
            break;
        case O_HOSTS:
            ok = opt_uint(optarg, 1, 1000000, &p.hosts);
            hosts_set = true;
            break;
        case O_PIECES:
            ok = opt_uint(optarg, 2, 1u << 18, &p.pieces);
            break;
        case O_RATES:
            if (strcmp(optarg, "even") == 0)
                p.rates = SIM_RATES_EVEN;
            else if (strcmp(optarg, "uneven") == 0)
                p.rates = SIM_RATES_UNEVEN;
            else if (strcmp(optarg, "skewed") == 0)
                p.rates = SIM_RATES_SKEWED;
            else
                ok = false;
            break;
        case O_JOIN:
            ok = strcmp(optarg, "all") == 0 || strcmp(optarg, "half") == 0;
            p.join = strcmp(optarg, "half") == 0 ? SIM_JOIN_HALF_LATE : SIM_JOIN_ALL;
            break;
        case O_DEATHS:
            ok = opt_uint(optarg, 0, 100000, &p.deaths);
            break;
        case O_DEATH_AT:
            ok = opt_double(optarg, &p.death_at);
            break;
        case O_PICK:
            ok = strcmp(optarg, "rarest") == 0 || strcmp(optarg, "next") == 0 ||
                 strcmp(optarg, "peer") == 0;
            p.pick = strcmp(optarg, "next") == 0   ? SIM_PICK_NEXT
                     : strcmp(optarg, "peer") == 0 ? SIM_PICK_PEER
                                                   : SIM_PICK_RAREST;
            break;
        case O_DRAW:
            ok = strcmp(optarg, "pick") == 0 || strcmp(optarg, "each") == 0;
            p.draw = strcmp(optarg, "each") == 0 ? SIM_DRAW_EACH : SIM_DRAW_PICK;
            break;
        case O_PIECE_MS:
            ok = opt_double(optarg, &p.piece_ms);
            break;
        case O_STEPS:
            ok = opt_uint(optarg, 1, 1000, &p.steps);
            break;
        case O_SEED_RATE:
            ok = opt_double(optarg, &p.seed_rate);
            break;
        case O_ORIGIN_RATE:
            ok = opt_double(optarg, &p.origin_rate);
            break;
        case O_SLOTS:
            ok = opt_uint(optarg, 0, 100000, &p.slots);
            break;
        case O_PARENTS:
            ok = opt_uint(optarg, 1, SCHED_PARENTS_MAX, &p.cfg.max_parents);
            break;
        case O_PEER_FANOUT:
            ok = opt_uint(optarg, 0, 100000, &p.cfg.peer_fanout);
            break;
        case O_SEED_FANOUT:
            ok = opt_uint(optarg, 0, 100000, &p.cfg.seed_fanout);
            break;
        case O_LIMIT:
            ok = opt_double(optarg, &p.limit);
            break;
        case O_RNG:
            ok = opt_uint(optarg, 1, UINT32_MAX, &rng);
            p.rng = rng;
            break;
        case O_TRACE:
            p.trace = stdout;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            ok = false;
            break;
        }
    }
    if (!ok || optind != argc) {
        if (!ok && optind <= argc && c != '?')
            fprintf(stderr, "sched_sim: bad value for %s\n", argv[optind - 1]);
        usage(stderr);
        return 2;
    }
    if (!hosts_set)
        p.hosts = p.tasks * p.peers;
    rv = sim_swarm_run(&p, &r);
    if (rv == DF_EINVAL) {
        fprintf(stderr, "sched_sim: %s\n", r.err);
        return 2;
    }
    sim_swarm_print(stdout, &p, &r);
    return rv == 0 && r.all_done ? 0 : 1;
}
