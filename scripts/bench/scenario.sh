# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034 # SC_* are read by bench-swarm.sh
# Sourced by bench-swarm.sh: the named network scenarios (SCENARIO=...). A scenario decides
# each host's upload cap, which peers start late, which peers die mid-transfer, and how the
# run's Kumar-Ross bound is computed (scripts/bench/README.md, "Scenarios").
#
#   even     every host RATE (the original benchmark)
#   uneven   round(N/4) peers, spread over h1..hN (h4 h8 h12 h16 at N=16), upload RATE/10
#   skewed   peer uploads spread geometrically over SKEW_MBIT (10..200 Mbit/s), assigned to
#            the peers in a fixed shuffle (seed SKEW_SEED)
#   late     every host RATE; h(N/2+1)..hN start once h1..h(N/2) have received LATE_AT %
#            of their bytes (veth counters)
#   churn    every host RATE; round(N/4) peers (h2 h6 h10 h14 at N=16) get kill -9 once the
#            swarm has received CHURN_AT % of its bytes
#   wide     WIDE_N peers (48), every host WIDE_RATE (20mbit); NS is ignored

SCENARIOS_ALL="even uneven skewed late churn wide"

# The plan of the current run, set by sc_plan:
SC_HOST_BPS=0  # upload cap of h0, hs and hsch, bit/s (u_s is hs's)
SC_PEER_BPS=() # SC_PEER_BPS[i]: upload cap of peer hI, bit/s
SC_LATE_FROM=0 # first peer of the late half; 0 = every peer starts at once
SC_VICTIMS=()  # peers killed mid-transfer (churn)

# sc_is_known NAME: whether NAME is a scenario.
sc_is_known() { [[ " $SCENARIOS_ALL " == *" $1 "* ]]; }

# sc_ns SCENARIO: the peer counts a scenario runs at (wide has its own).
sc_ns() {
	if [ "$1" = wide ]; then echo "$WIDE_N"; else echo "$NS"; fi
}

# sc_quarter N: round(N/4), the number of slow (uneven) or killed (churn) peers.
sc_quarter() { echo $((($1 + 2) / 4)); }

# sc_spread N K OFFSET: K peer numbers spread evenly over 1..N, shifted by OFFSET.
sc_spread() {
	local n=$1 k=$2 off=$3 j
	for ((j = 0; j < k; j++)); do echo $(((j * n / k + off) % n + 1)); done
}

# sc_skew_rates N: N upload rates in bit/s, geometric from SKEW_MBIT's low to its high end
# (rounded to kbit/s), in a Fisher-Yates shuffle driven by a fixed LCG seed: the fast and
# slow peers do not follow the peer numbering (and so not the start-up order).
sc_skew_rates() {
	local n=$1 lo=${SKEW_MBIT%%-*} hi=${SKEW_MBIT##*-} s=$SKEW_SEED j k t mbps=()
	mapfile -t mbps < <(awk -v n="$n" -v lo="$lo" -v hi="$hi" 'BEGIN {
		for (j = 0; j < n; j++) {
			m = (n == 1) ? lo : lo * (hi / lo) ^ (j / (n - 1))
			printf "%d\n", int(m * 1000 + 0.5) * 1000
		}
	}')
	for ((j = n - 1; j > 0; j--)); do
		s=$(((s * 1103515245 + 12345) % 2147483648))
		k=$((s % (j + 1)))
		t=${mbps[j]} mbps[j]=${mbps[k]} mbps[k]=$t
	done
	printf '%s\n' "${mbps[@]}"
}

# sc_plan SCENARIO N: fill SC_* for a run of N peers.
sc_plan() {
	local sc=$1 n=$2 i v rates=()
	SC_HOST_BPS=$RATE_BPS SC_LATE_FROM=0 SC_VICTIMS=() SC_PEER_BPS=()
	[ "$sc" = wide ] && SC_HOST_BPS=$(rate_bps "$WIDE_RATE")
	for ((i = 1; i <= n; i++)); do SC_PEER_BPS[i]=$SC_HOST_BPS; done
	case $sc in
	uneven)
		for v in $(sc_spread "$n" "$(sc_quarter "$n")" 3); do
			SC_PEER_BPS[v]=$((SC_HOST_BPS / 10))
		done
		;;
	skewed)
		mapfile -t rates < <(sc_skew_rates "$n")
		for ((i = 1; i <= n; i++)); do SC_PEER_BPS[i]=${rates[i - 1]}; done
		;;
	late) ((n >= 2)) && SC_LATE_FROM=$((n / 2 + 1)) ;;
	churn) mapfile -t SC_VICTIMS < <(sc_spread "$n" "$(sc_quarter "$n")" 1) ;;
	esac
	return 0
}

# sc_is_victim I: whether peer hI is killed in this run.
sc_is_victim() {
	local v
	for v in "${SC_VICTIMS[@]}"; do [ "$v" = "$1" ] && return 0; done
	return 1
}

# sc_rates_str N: "h1=100 h2=10 ..." (Mbit/s) for the log and the table.
sc_rates_str() {
	local n=$1 i s=""
	for ((i = 1; i <= n; i++)); do
		s+="h$i=$(awk -v b="${SC_PEER_BPS[i]}" 'BEGIN { printf "%g", b / 1e6 }') "
	done
	echo "${s% }"
}

# sc_bound OFFSET_S NEED_BYTES SUM_BPS: the Kumar-Ross bound
#   max(F/u_s, OFFSET + NEED / (u_s + SUM))
# with u_s = hs's upload, SUM the uploads of the peers that can help and NEED the bytes
# still to be delivered at OFFSET seconds (downloads are uncapped: no F/d_min term).
# Prints "BOUND F/u_s AGGREGATE" in seconds.
sc_bound() {
	awk -v f="$FILE_BYTES" -v us="$SC_HOST_BPS" -v off="$1" -v need="$2" -v sum="$3" 'BEGIN {
		a = f * 8 / us; b = off + need * 8 / (us + sum)
		printf "%.3f %.3f %.3f\n", (a > b ? a : b), a, b
	}'
}

# sc_sum_bps [PEER...]: the summed upload of the given peers.
sc_sum_bps() {
	local i s=0
	for i in "$@"; do s=$((s + SC_PEER_BPS[i])); done
	echo "$s"
}
