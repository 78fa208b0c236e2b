#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The six swarm scenarios through the scheduler simulator (sched_sim), each over several
# rng seeds: the mean and worst last/bound and the mean uplink use, one line a scenario.
# The figures a scheduler or peer-rule change is compared by (scripts/bench/README.md).
#
#   scripts/sim-swarm.sh [sched_sim options...]     e.g. --peer-fanout 2
#   SIM=path/to/sched_sim RNGS="1 2 3 4 5 6" scripts/sim-swarm.sh
set -eu

SIM=${SIM:-build/release/test/tools/sched_sim}
RNGS=${RNGS:-1 2 3 4 5 6}
[ -x "$SIM" ] || { echo "sim-swarm: $SIM not built (make tools)" >&2; exit 2; }

run() {
    name=$1
    shift
    for r in $RNGS; do
        "$SIM" --pick peer --draw pick "$@" --rng "$r" || [ $? -eq 1 ]
    done | awk -v n="$name" '
        /last\/bound/ { v = $0; sub(/.*last\/bound /, "", v); sub(/ .*/, "", v)
                        s += v; k++; if (v > m) m = v; l = l " " v }
        /uplinks busy/ { u = $0; sub(/.*uplinks busy /, "", u); sub(/%.*/, "", u); us += u }
        END { if (k == 0) { print n ": no result"; exit 1 }
              printf "%-7s last/bound mean %.3f worst %.3f, uplinks busy %.1f%% [%s ]\n",
                     n, s / k, m, us / k, l }'
}

run even --rates even "$@"
run uneven --rates uneven "$@"
run skewed --rates skewed "$@"
run late --join half "$@"
run deaths --deaths 4 "$@"
run wide48 --peers 48 "$@"
