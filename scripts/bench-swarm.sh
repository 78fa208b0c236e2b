#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# bench-swarm.sh: swarm distribution benchmark (method and topology: scripts/bench/README.md).
#
# One origin host (h0), a seed host (hs), a scheduler host (hsch) and N peer hosts
# (h1..hN), each in its own network namespace, joined by a bridge that lives in a namespace
# of its own. Every host's upload (its veth egress) is capped with tc tbf; downloads are not
# capped. One random file on tmpfs; by default all peers start at the same instant.
# Reported per run: each peer's completion time, last peer / Kumar-Ross bound (per-host
# upload rates), origin bytes / F, seed-host egress / F, CPU ns per delivered byte (all
# hosts' cgroups), peak RSS and RssAnon per peer, and how many copies matched the payload's
# SHA-256.
#
# Usage (as root):
#   SYSTEM=curl|aria2|dragonfly NS="4 8 16" FILE_MIB=256 RATE=100mbit REPEAT=1 \
#       scripts/bench-swarm.sh
#   SYSTEM="aria2 dragonfly" SCENARIO=all NS=16 FILE_MIB=128 scripts/bench-swarm.sh
#   scripts/bench-swarm.sh --ci          # or CI=1: N=4, 16 MiB, 50mbit, correctness only
#   SCENARIO=churn NS=6 scripts/bench-swarm.sh --ci
#   scripts/bench-swarm.sh --help
#
# SCENARIO names the networks (scripts/bench/scenario.sh): even (every host RATE; the
# default), uneven (a quarter of the peers upload at RATE/10), skewed (peer uploads spread
# over 10-200 Mbit/s), late (half the peers start when the first half is 50 % done), churn
# (a quarter of the peers killed with kill -9 mid-transfer; the survivors are measured) and
# wide (48 peers, every host 20 Mbit/s). SYSTEM may list several systems ("aria2
# dragonfly"): each scenario runs every system in turn, in one sitting, and a summary table
# closes the output. The plug-ins are scripts/bench/sys-<name>.sh.
#
# Exit status: 0 all runs ok; 1 a copy was wrong, a run failed or timed out (or churn
# finished before its kill); 2 usage error or missing root; 3 a system is not available
# (e.g. the dragonfly binary has no peer/scheduler roles yet).
#
# Safety: traffic only flows between namespaces this script creates. The addresses
# (10.231.0.0/24) exist only inside them, the bridge namespace is not connected to the
# root namespace and no host has a default route. Everything is torn down on exit (trap),
# processes are killed by PID (those inside our namespaces and cgroups), and a stale
# set-up from an interrupted run is removed first, so re-runs are idempotent.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$REPO/scripts/bench"
# shellcheck source=scripts/bench/scenario.sh
. "$BENCH_DIR/scenario.sh"

usage() {
	sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	cat <<'EOF'
Environment (defaults in brackets):
  SYSTEM      systems to run, space separated [curl]; CI mode: [dragonfly]
  SCENARIO    networks, space separated, or "all" [even]: even uneven skewed late churn
              wide (scripts/bench/README.md, "Scenarios")
  NS          peer counts [4 8 16]; CI mode: [4]; wide ignores it (WIDE_N)
  FILE_MIB    payload size in MiB [256]; CI mode: [16]
  RATE        upload cap per host, tc units kbit|mbit|gbit [100mbit]; CI mode: [50mbit]
  REPEAT      runs per (system, N) [1]
  PIECE_KIB   BitTorrent piece size for aria2 [256]
  TIMEOUT     seconds per run [from the run's bound: client-server 2*N*bound+60, even
              6*bound+60, the other scenarios 10*bound+60]
  TBF_BURST   tbf bucket size [128kb];  TBF_LATENCY  tbf queue latency [50ms]
  WORK        tmpfs work dir (payload, copies, logs) [/dev/shm/dfbench]
  RESULTS     where results and failed-run logs are kept [/tmp/dfbench-results/<date>]
  DF_BIN      dragonfly binary [<repo>/dragonfly]
  NS_PREFIX   network namespace names start with NS_PREFIX- (a run removes stale ones
              of its own prefix only) [dfb]
  DF_TLS      dragonfly: 1 = mutual TLS between all roles, pieces over https; rpc = mTLS
              for RPC only, pieces over plain http; 0 = --plaintext [0]
  DF_LOG_DEBUG  dragonfly: debug logs of these modules ("p2p", "all") from every daemon;
              with KEEP=1, scripts/bench/swarm-trace.py WORK/run/logs tells who sent what
  SKEW_MBIT   skewed: lowest-highest peer upload in Mbit/s [10-200]
  SKEW_SEED   skewed: seed of the shuffle that assigns the rates to peers [11]
  LATE_AT     late: % of the first half's bytes received that releases the second half [50]
  CHURN_AT    churn: % of the swarm's bytes received when the victims are killed [50]
  WIDE_N      wide: peer count [48];  WIDE_RATE  wide: upload cap of every host [20mbit]
  KEEP=1      keep WORK after the run (debugging)
  SAMPLE_S    RSS sampling interval in seconds [0.2]
  CPU_ACCT=proc  use /proc sampling instead of cgroups for per-host CPU (testing)
EOF
}

# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $1"
	exit "${2:-1}"
}

# need CMD PKG [CMD PKG ...]: apt-get install the Debian package of every missing command.
# CI machines start empty; apt-get update runs once, only when something is missing.
APT_UPDATED=0
need() {
	local missing=()
	while (($# >= 2)); do
		command -v "$1" >/dev/null 2>&1 || missing+=("$2")
		shift 2
	done
	((${#missing[@]})) || return 0
	command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get"
	log "installing ${missing[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ((APT_UPDATED == 0)); then
		apt-get update -qq >/dev/null || die "apt-get update failed"
		APT_UPDATED=1
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

# fdiv A B [DECIMALS]: A / B as a decimal string (awk does the floating point).
# "-" when either side is unknown ("-" or empty) or B is zero.
fdiv() {
	awk -v a="$1" -v b="$2" -v d="${3:-2}" \
		'BEGIN { if (a == "-" || a == "" || b == "-" || b == "" || b == 0) print "-"; else printf "%.*f\n", d, a / b }'
}

# rate_bps RATE: tc rate (e.g. 100mbit) in bits per second. Only bit units: tc reads
# "mbps" as megabytes per second, which is an easy mistake to make here.
rate_bps() {
	local r=${1,,}
	case $r in
	*gbit) echo $((${r%gbit} * 1000000000)) ;;
	*mbit) echo $((${r%mbit} * 1000000)) ;;
	*kbit) echo $((${r%kbit} * 1000)) ;;
	*bit) echo $((${r%bit})) ;;
	*) die "RATE must be <integer>kbit|mbit|gbit (got '$1')" 2 ;;
	esac
}

# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------

CI_MODE=${CI:-0}
[ "$CI_MODE" = true ] && CI_MODE=1
for arg in "$@"; do
	case $arg in
	--ci) CI_MODE=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument '$arg'" 2
		;;
	esac
done
if [ "$CI_MODE" = 1 ]; then
	SYSTEM=${SYSTEM:-dragonfly}
	NS=${NS:-4}
	FILE_MIB=${FILE_MIB:-16}
	RATE=${RATE:-50mbit}
	# Correctness only: a loaded 2-core CI machine may be many times slower than the bound
	# (2.7 s here), so the run gets minutes, not the 6 x bound + 60 s of a timing run.
	TIMEOUT=${TIMEOUT:-300}
	READY_TIMEOUT=${READY_TIMEOUT:-120}
else
	SYSTEM=${SYSTEM:-curl}
	NS=${NS:-4 8 16}
	FILE_MIB=${FILE_MIB:-256}
	RATE=${RATE:-100mbit}
fi
REPEAT=${REPEAT:-1}
SCENARIO=${SCENARIO:-even}
[ "$SCENARIO" = all ] && SCENARIO=$SCENARIOS_ALL
SKEW_MBIT=${SKEW_MBIT:-10-200}
SKEW_SEED=${SKEW_SEED:-11}
LATE_AT=${LATE_AT:-50}
CHURN_AT=${CHURN_AT:-50}
WIDE_N=${WIDE_N:-48}
WIDE_RATE=${WIDE_RATE:-20mbit}
PIECE_KIB=${PIECE_KIB:-256}
TIMEOUT=${TIMEOUT:-}
TBF_BURST=${TBF_BURST:-128kb}
TBF_LATENCY=${TBF_LATENCY:-50ms}
WORK=${WORK:-/dev/shm/dfbench}
RESULTS=${RESULTS:-/tmp/dfbench-results/$(date +%Y%m%d-%H%M%S)}
DF_BIN=${DF_BIN:-$REPO/dragonfly}
KEEP=${KEEP:-0}
SAMPLE_S=${SAMPLE_S:-0.2}
READY_TIMEOUT=${READY_TIMEOUT:-30}

if ! [[ $FILE_MIB =~ ^[0-9]+$ ]] || ((FILE_MIB == 0)); then
	die "FILE_MIB must be a positive integer" 2
fi
if ! [[ $REPEAT =~ ^[0-9]+$ ]] || ((REPEAT == 0)); then
	die "REPEAT must be a positive integer" 2
fi
for n in $NS $WIDE_N; do
	if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 200)); then
		die "NS entries and WIDE_N must be 1..200 (got '$n')" 2
	fi
done
for sc in $SCENARIO; do
	sc_is_known "$sc" || die "unknown scenario '$sc' (known: $SCENARIOS_ALL, or all)" 2
done
if ! [[ $SKEW_MBIT =~ ^[1-9][0-9]*-[1-9][0-9]*$ ]]; then
	die "SKEW_MBIT must be LOW-HIGH in whole Mbit/s (got '$SKEW_MBIT')" 2
fi
[[ $SKEW_SEED =~ ^[0-9]+$ ]] || die "SKEW_SEED must be a non-negative integer" 2
for v in "$LATE_AT" "$CHURN_AT"; do
	if ! [[ $v =~ ^[1-9][0-9]?$ ]]; then
		die "LATE_AT and CHURN_AT must be 1..99 (got '$v')" 2
	fi
done
[ -z "$TIMEOUT" ] || [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "TIMEOUT must be whole seconds" 2
RATE_BPS=$(rate_bps "$RATE")
rate_bps "$WIDE_RATE" >/dev/null
FILE_BYTES=$((FILE_MIB * 1048576))

# Topology: namespace names carry a prefix (NS_PREFIX) that nothing else on the machine uses;
# the address block is private and exists only inside these namespaces.
NSP=${NS_PREFIX:-dfb}
case $NSP in
"" | *[!a-z0-9]*) die "NS_PREFIX must be lowercase letters and digits (got '$NSP')" 2 ;;
esac
NET=10.231.0
BRNS=$NSP-br
host_ip() {
	case $1 in
	hsch) echo "$NET.4" ;;
	hs) echo "$NET.5" ;;
	h*) echo "$NET.$((10 + ${1#h}))" ;; # h0 = .10 (origin), hI = .(10+I)
	esac
}
# Used by the plug-ins:
# shellcheck disable=SC2034
IP_ORIGIN=$(host_ip h0)
# shellcheck disable=SC2034
IP_SEED=$(host_ip hs)
# shellcheck disable=SC2034
IP_SCHED=$(host_ip hsch)
# shellcheck disable=SC2034
ORIGIN_URL="http://$IP_ORIGIN/file"
PAYLOAD_DIR="$WORK/payload"
PAYLOAD="$PAYLOAD_DIR/file"

# ---------------------------------------------------------------------------------------
# Cleanup: every namespace and cgroup we own, every process inside them
# ---------------------------------------------------------------------------------------

CG_MODE=proc # cgroup2 | cgroup1 | proc (see pick_cgroups)
CG_BASE=""

# kill_pids SIGNAL PID...: signal the given PIDs, never our own shell.
kill_pids() {
	local sig=$1 p
	shift
	for p in "$@"; do
		[ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] || kill "-$sig" "$p" 2>/dev/null || true
	done
}

# our_pids: PIDs of every process inside our namespaces or cgroups.
our_pids() {
	local ns d
	for ns in $(ip netns list 2>/dev/null | awk -v p="^$NSP-" '$1 ~ p { print $1 }'); do
		ip netns pids "$ns" 2>/dev/null || true
	done
	if [ -n "$CG_BASE" ] && [ -d "$CG_BASE" ]; then
		for d in "$CG_BASE"/*/; do
			[ -f "$d/cgroup.procs" ] && cat "$d/cgroup.procs"
		done
	fi
	return 0
}

# stop_hosts: TERM, then KILL, everything inside our namespaces/cgroups.
stop_hosts() {
	local pids i
	mapfile -t pids < <(our_pids | sort -u)
	((${#pids[@]})) || return 0
	kill_pids TERM "${pids[@]}"
	for i in $(seq 30); do
		mapfile -t pids < <(our_pids | sort -u)
		((${#pids[@]})) || return 0
		sleep 0.1
	done
	kill_pids KILL "${pids[@]}"
	sleep 0.2
}

teardown_topology() {
	local ns d
	stop_hosts
	for ns in $(ip netns list 2>/dev/null | awk -v p="^$NSP-" '$1 ~ p { print $1 }'); do
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ -n "$CG_BASE" ] && [ -d "$CG_BASE" ]; then
		for d in "$CG_BASE"/*/; do rmdir "$d" 2>/dev/null || true; done
	fi
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	[ -n "${SAMPLER_PID:-}" ] && kill_pids TERM "$SAMPLER_PID"
	teardown_topology
	[ -n "$CG_BASE" ] && rmdir "$CG_BASE" 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		log "KEEP=1: work dir kept at $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}

# ---------------------------------------------------------------------------------------
# CPU accounting
# ---------------------------------------------------------------------------------------

# pick_cgroups: per-host CPU accounting. cgroup v2 (pure, or the "unified" hierarchy of a
# hybrid set-up): cpu.stat usage_usec; else cgroup v1 cpuacct.usage (ns); else /proc
# sampling of utime+stime of each host's processes (approximate: short-lived processes
# lose their last sampling interval).
pick_cgroups() {
	if [ "${CPU_ACCT:-}" = proc ]; then
		: # forced (testing the fallback)
	elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		CG_MODE=cgroup2 CG_BASE=/sys/fs/cgroup/dfbench
	elif [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
		CG_MODE=cgroup2 CG_BASE=/sys/fs/cgroup/unified/dfbench
	elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
		CG_MODE=cgroup1 CG_BASE=/sys/fs/cgroup/cpuacct/dfbench
	fi
	if [ "$CG_MODE" != proc ] && ! mkdir -p "$CG_BASE" 2>/dev/null; then
		log "cannot create $CG_BASE; falling back to /proc sampling for CPU"
		CG_MODE=proc CG_BASE=""
	fi
	log "CPU accounting: $CG_MODE${CG_BASE:+ ($CG_BASE)}"
}

# cg_cpu_ns HOST: CPU time used so far by the host's cgroup, in ns.
cg_cpu_ns() {
	local k v
	case $CG_MODE in
	cgroup2)
		while read -r k v; do
			[ "$k" = usage_usec ] && echo $((v * 1000)) && return 0
		done <"$CG_BASE/$1/cpu.stat"
		echo 0
		;;
	cgroup1) cat "$CG_BASE/$1/cpuacct.usage" ;;
	*) echo 0 ;;
	esac
}

# machine_cpu_ns: busy CPU time of the whole machine (all cores, incl. softirq) in ns.
machine_cpu_ns() {
	local hz
	hz=$(getconf CLK_TCK)
	awk -v hz="$hz" '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; printf "%.0f\n", b * 1e9 / hz; exit }' /proc/stat
}

# ---------------------------------------------------------------------------------------
# Topology
# ---------------------------------------------------------------------------------------

HOSTS=() # every host of the current run: h0 hs hsch h1..hN

# host_bps HOST: HOST's upload cap in bit/s in the current scenario (sc_plan).
host_bps() {
	case $1 in
	h0 | hs | hsch) echo "$SC_HOST_BPS" ;;
	*) echo "${SC_PEER_BPS[${1#h}]}" ;;
	esac
}

# build_topology N: bridge namespace + one namespace per host, veth to the bridge, tbf cap
# on the host side of every veth (= that host's upload), a cgroup per host.
build_topology() {
	local n=$1 h ns i
	HOSTS=(h0 hs hsch)
	for ((i = 1; i <= n; i++)); do HOSTS+=("h$i"); done

	ip netns add "$BRNS"
	ip -n "$BRNS" link set lo up
	ip -n "$BRNS" link add br0 type bridge
	ip -n "$BRNS" link set br0 up
	for h in "${HOSTS[@]}"; do
		ns=$NSP-$h
		ip netns add "$ns"
		# No IPv6 (no router solicitations or MLD chatter in the byte counters).
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
		ip -n "$BRNS" link add "b-$h" type veth peer name eth0 netns "$ns"
		ip -n "$BRNS" link set "b-$h" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$(host_ip "$h")/24" dev eth0
		ip -n "$ns" link set eth0 up
		# Upload cap. tbf sees GSO super-packets, so the rate applies to ~payload bytes.
		ip netns exec "$ns" tc qdisc replace dev eth0 root tbf rate "$(host_bps "$h")bit" \
			burst "$TBF_BURST" latency "$TBF_LATENCY"
		if [ "$CG_MODE" != proc ]; then
			mkdir -p "$CG_BASE/$h"
		fi
	done
}

# Enter a host: join its cgroup, then its namespace, then exec the command. The cgroup is
# joined first because `ip netns exec` mounts a fresh /sys, which hides /sys/fs/cgroup.
# Arguments: CGROUP_DIR ("" for none) NAMESPACE CMD...
# shellcheck disable=SC2016 # expanded by the inner shell
HOST_ENTER='[ -z "$1" ] || echo $$ >"$1/cgroup.procs" || exit 1; shift; exec ip netns exec "$@"'

host_cg() { [ "$CG_MODE" = proc ] || echo "$CG_BASE/$1"; }

# hexec HOST CMD...: run CMD in HOST's namespace and cgroup (foreground).
hexec() {
	local h=$1
	shift
	bash -c "$HOST_ENTER" _ "$(host_cg "$h")" "$NSP-$h" "$@" 7>&- 8>&- 9>&-
}

# hstart HOST NAME CMD...: start CMD in the background in HOST, output to LOGDIR/NAME.log.
# Sets HSTART_PID to the PID of CMD itself (bash, then ip netns exec, exec into it). The
# lock (fd 9) and the start FIFOs (fds 8 and 7) are not passed on: a daemon orphaned by a killed
# run must not keep the lock, or the next run could not clean it up.
HSTART_PID=""
hstart() {
	local h=$1 name=$2 cg
	shift 2
	cg=$(host_cg "$h")
	bash -c "$HOST_ENTER" _ "$cg" "$NSP-$h" "$@" >"$LOGDIR/$name.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
	HSTART_PID=$!
}

# wait_listen HOST PORT [SECONDS]: wait until something listens on TCP PORT in HOST.
wait_listen() {
	local h=$1 port=$2 t=${3:-$READY_TIMEOUT} i
	for ((i = 0; i < t * 10; i++)); do
		[ -n "$(ip netns exec "$NSP-$h" ss -Hltn "sport = :$port")" ] && return 0
		sleep 0.1
	done
	log "nothing listens on $h:$port after ${t}s"
	return 1
}

# wait_file PATH [SECONDS]: wait until PATH exists and is not empty.
wait_file() {
	local f=$1 t=${2:-$READY_TIMEOUT} i
	for ((i = 0; i < t * 10; i++)); do
		[ -s "$f" ] && return 0
		sleep 0.1
	done
	log "$f did not appear within ${t}s"
	return 1
}

# egress_bytes: "HOST BYTES" for every host: bytes its veth sent, read as what the bridge
# side received (includes Ethernet/IP/TCP headers once per GSO super-packet, and any
# protocol messages; no payload accounting).
egress_bytes() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	ip netns exec "$BRNS" bash -c \
		'for d in /sys/class/net/b-*; do echo "${d##*/b-} $(<"$d/statistics/rx_bytes")"; done'
}

# Veth egress per host at the start and at the end of the measured window.
declare -A EG0=() EG1=()
# egress_of HOST: bytes HOST sent during the measured window.
egress_of() { echo $((${EG1[$1]:-0} - ${EG0[$1]:-0})); }

# ---------------------------------------------------------------------------------------
# Sampler: peak RSS / RssAnon per host (and CPU per host in /proc mode)
# ---------------------------------------------------------------------------------------

# host_pids HOST: processes of HOST (cgroup members, or every process in its netns).
host_pids() {
	local p
	if [ "$CG_MODE" != proc ]; then
		[ -f "$CG_BASE/$1/cgroup.procs" ] && cat "$CG_BASE/$1/cgroup.procs"
		return 0
	fi
	for p in /proc/[0-9]*; do
		[[ $p/ns/net -ef /run/netns/$NSP-$1 ]] && echo "${p#/proc/}"
	done
	return 0
}

# sampler OUTFILE: until RUN/sampler.stop exists, every SAMPLE_S seconds read VmHWM and
# RssAnon of every process of every host. On stop, write "HOST HWM_KIB ANON_KIB CPU_NS":
# HWM = sum over the host's processes of each one's peak VmHWM; ANON = peak over samples
# of the host's summed RssAnon; CPU_NS only in /proc mode (utime+stime growth seen).
# The harness's own wrappers (listed in RUN/wrappers) are left out.
sampler() {
	local out=$1 h p k v hwm anon ticks sum key hz stat_f=()
	local -A peak_hwm=() peak_anon=() t0=() t1=() skip=() phost=()
	hz=$(getconf CLK_TCK)
	# Stops when told to, or when the harness is gone (killed without running its trap).
	while [ ! -e "$RUN/sampler.stop" ] && kill -0 "$$" 2>/dev/null; do
		skip=()
		if [ -f "$RUN/wrappers" ]; then
			while read -r p; do skip[$p]=1; done <"$RUN/wrappers"
		fi
		for h in "${HOSTS[@]}"; do
			sum=0
			for p in $(host_pids "$h"); do
				[ -n "${skip[$p]:-}" ] && continue
				hwm=0 anon=0
				while read -r k v _; do
					case $k in
					VmHWM:) hwm=$v ;;
					RssAnon:) anon=$v ;;
					esac
				done 2>/dev/null <"/proc/$p/status" || continue # the process may be gone
				key="$h:$p"
				phost[$key]=$h
				((hwm > ${peak_hwm[$key]:-0})) && peak_hwm[$key]=$hwm
				sum=$((sum + anon))
				if [ "$CG_MODE" = proc ] && read -r -a stat_f 2>/dev/null <"/proc/$p/stat"; then
					# fields 14/15 (utime/stime); comm has no spaces for our processes
					ticks=$((stat_f[13] + stat_f[14]))
					[ -n "${t0[$key]:-}" ] || t0[$key]=$ticks
					t1[$key]=$ticks
				fi
			done
			((sum > ${peak_anon[$h]:-0})) && peak_anon[$h]=$sum
		done
		sleep "$SAMPLE_S"
	done
	{
		for h in "${HOSTS[@]}"; do
			hwm=0 ticks=0
			for key in "${!phost[@]}"; do
				[ "${phost[$key]}" = "$h" ] || continue
				hwm=$((hwm + ${peak_hwm[$key]:-0}))
				[ -n "${t1[$key]:-}" ] && ticks=$((ticks + t1[$key] - t0[$key]))
			done
			echo "$h $hwm ${peak_anon[$h]:-0} $((ticks * 1000000000 / hz))"
		done
	} >"$out"
}

# ---------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------

# Set by plug-ins (scripts/bench/sys-*.sh):
#   sys_packages          print "CMD PKG" pairs the system needs (for need)
#   sys_check             fail (exit 3) if the system cannot run here
#   sys_start N           start origin/seed/tracker/scheduler/daemons and wait until ready
#   sys_fetch I OUT       set FETCH=(argv) for peer hI to download ORIGIN_URL into OUT
#   sys_origin_bytes      print the bytes the origin role sent (after the run)
#   SYS_ORIGIN_HOW        how origin bytes were measured (printed with the results)
#   SYS_SEED_HOST         host whose egress is "seed egress" ("" if not meaningful)
#   SYS_CLIENT_SERVER     1 if the time grows with N (longer default timeout)
FETCH=()

# load_system NAME: source the plug-in after clearing the previous one's hooks.
load_system() {
	local f="$BENCH_DIR/sys-$1.sh"
	[ -f "$f" ] || die "unknown system '$1' (no $f)" 2
	unset -f sys_packages sys_check sys_start sys_fetch sys_origin_bytes
	SYS_ORIGIN_HOW="" SYS_SEED_HOST="" SYS_CLIENT_SERVER=0
	# shellcheck source=/dev/null
	. "$f"
}

FAILED=0

# Live progress of the current run, read from each peer host's eth0 receive counter (what
# the bridge delivered to it: payload plus headers and protocol messages) through
# /proc/<its fetch wrapper>/net/dev, so the loop that watches a run does not fork.
WRAP=() # WRAP[i]: PID of hI's peer-fetch.sh (it runs inside hI's namespace)
RX0=()  # RX0[i]: hI's receive counter at the start line
RXV=0   # result of peer_rx_read
PROG=0  # result of progress

# peer_rx_read I: set RXV to hI's eth0 receive counter (0 if its wrapper is gone).
peer_rx_read() {
	local l
	RXV=0
	while read -r l; do
		[[ $l == eth0:* ]] || continue
		l=${l#eth0:}
		l=${l#"${l%%[! ]*}"}
		RXV=${l%% *}
		return 0
	done 2>/dev/null <"/proc/${WRAP[$1]}/net/dev"
	return 0
}

# progress FROM TO: set PROG to the bytes peers hFROM..hTO received since the start line,
# each counted up to F; a peer whose fetch is done counts F.
progress() {
	local i g
	PROG=0
	for ((i = $1; i <= $2; i++)); do
		if [ -e "$RUN/done-h$i" ]; then
			PROG=$((PROG + FILE_BYTES))
			continue
		fi
		peer_rx_read "$i"
		g=$((RXV - ${RX0[i]:-0}))
		((g > FILE_BYTES)) && g=$FILE_BYTES
		((g > 0)) && PROG=$((PROG + g))
	done
	return 0
}

# kill_host HOST: kill -9 every process of HOST (its daemon, its fetch and the wrapper).
kill_host() {
	local pids
	mapfile -t pids < <(host_pids "$1")
	((${#pids[@]})) && kill_pids KILL "${pids[@]}"
	return 0
}

# since T0: seconds from epoch time T0 to now, 2 decimals.
since() { awk -v e="$EPOCHREALTIME" -v s="$1" 'BEGIN { printf "%.2f", e - s }'; }

# run_one SCENARIO SYSTEM N REP: one measured run; appends a RESULT line to
# RESULTS/results.txt.
run_one() {
	local sc=$1 sys=$2 n=$3 rep=$4 i h t0 now deadline timeout status="ok" done_n bad v
	local -A cpu0=() cpu1=() tdone=() hwm=() anon=() pcpu=()
	local -a vrf=() surv=()
	local n1=0 released=1 t_late=- late_pct=- r_late=0 killed=0 t_kill=- need expect
	local bound b_fu b_agg rate_str load1
	EG0=() EG1=() WRAP=() RX0=()
	RUN="$WORK/run"
	LOGDIR="$RUN/logs"
	rm -rf "$RUN"
	mkdir -p "$LOGDIR"
	sc_plan "$sc" "$n"
	teardown_topology
	build_topology "$n"
	for ((i = 1; i <= n; i++)); do mkdir -p "$WORK/h$i/out" && rm -f "$WORK/h$i/out/"*; done
	rate_str=$(awk -v b="$SC_HOST_BPS" 'BEGIN { printf "%gmbit", b / 1e6 }')

	# The bound before the run: every peer present from the start to the end. late and
	# churn replace it with their own once the run has shown when the late half started
	# or the victims died.
	read -r bound b_fu b_agg < <(sc_bound 0 $((n * FILE_BYTES)) "$(sc_sum_bps $(seq "$n"))")
	if [ -n "$TIMEOUT" ]; then
		timeout=$TIMEOUT
	elif [ "$SYS_CLIENT_SERVER" = 1 ]; then
		timeout=$(awk -v b="$bound" -v n="$n" 'BEGIN { printf "%d", 2 * n * b + 60 }')
	elif [ "$sc" = even ]; then
		timeout=$(awk -v b="$bound" 'BEGIN { printf "%d", 6 * b + 60 }')
	else
		timeout=$(awk -v b="$bound" 'BEGIN { printf "%d", 10 * b + 60 }')
	fi
	load1=$(cut -d' ' -f1 /proc/loadavg) # other work on the box skews times and CPU figures
	log "run $sc/$sys N=$n rep $rep: F=$FILE_MIB MiB, seed/origin cap $rate_str, bound ${bound}s, timeout ${timeout}s, load $load1"
	[ "$sc" = uneven ] || [ "$sc" = skewed ] && log "peer uploads (Mbit/s): $(sc_rates_str "$n")"
	((SC_LATE_FROM)) && log "late half: h$SC_LATE_FROM..h$n, released at $LATE_AT % of h1..h$((SC_LATE_FROM - 1))'s bytes"
	((${#SC_VICTIMS[@]})) && log "victims: ${SC_VICTIMS[*]/#/h}, kill -9 at $CHURN_AT % of the swarm's bytes"

	if ! sys_start "$n"; then
		log "$sys: start-up failed; logs in $LOGDIR"
		finish_run "$sc" "$sys" "$n" "$rep" "start-failed"
		return
	fi

	# Arm every peer: each blocks on a start FIFO inside its own host and cgroup; the late
	# half (if any) on a second one.
	mkfifo "$RUN/go" "$RUN/go2"
	: >"$RUN/wrappers"
	for ((i = 1; i <= n; i++)); do
		FETCH=()
		sys_fetch "$i" "$WORK/h$i/out/file"
		v="$RUN/go"
		((SC_LATE_FROM && i >= SC_LATE_FROM)) && v="$RUN/go2"
		hstart "h$i" "fetch-h$i" "$BENCH_DIR/peer-fetch.sh" "$v" "$RUN/done-h$i" "${FETCH[@]}"
		WRAP[i]=$HSTART_PID
		echo "$HSTART_PID" >>"$RUN/wrappers"
	done
	sleep 0.3 # let every wrapper reach its open() of the FIFO

	# Counters at the start line.
	for h in "${HOSTS[@]}"; do cpu0[$h]=$(cg_cpu_ns "$h"); done
	while read -r h i; do EG0[$h]=$i; done < <(egress_bytes)
	for ((i = 1; i <= n; i++)); do
		peer_rx_read "$i"
		RX0[i]=$RXV
	done
	local m0 m1
	m0=$(machine_cpu_ns)
	sampler "$RUN/sampler.out" 7>&- 8>&- 9>&- &
	SAMPLER_PID=$!

	if ((SC_LATE_FROM)); then
		released=0 n1=$((SC_LATE_FROM - 1))
	fi
	t0=$EPOCHREALTIME
	exec 8>"$RUN/go" # releases every peer (of the first half) at once
	deadline=$(awk -v t="$t0" -v d="$timeout" 'BEGIN { printf "%.0f", t + d }')
	while :; do
		if ((released == 0)); then
			progress 1 "$n1"
			if ((PROG * 100 >= LATE_AT * n1 * FILE_BYTES)); then
				# Read-write open: never blocks, and counts as the writer the late
				# wrappers' open() for reading waits for.
				exec 7<>"$RUN/go2"
				released=1 t_late=$(since "$t0") r_late=$((n1 * FILE_BYTES - PROG))
				((r_late < 0)) && r_late=0
				late_pct=$(fdiv $((PROG * 100)) $((n1 * FILE_BYTES)) 1)
				log "late half released at ${t_late}s (first half at ${late_pct} % of its bytes)"
			fi
		fi
		if ((${#SC_VICTIMS[@]} && killed == 0)); then
			progress 1 "$n"
			if ((PROG * 100 >= CHURN_AT * n * FILE_BYTES)); then
				for v in "${SC_VICTIMS[@]}"; do kill_host "h$v"; done
				killed=${#SC_VICTIMS[@]} t_kill=$(since "$t0")
				log "kill -9 ${SC_VICTIMS[*]/#/h} at ${t_kill}s (swarm at $(fdiv $((PROG * 100)) $((n * FILE_BYTES)) 1) % of its bytes)"
			fi
		fi
		done_n=0 bad="" expect=$n
		((killed)) && expect=$((n - killed))
		for ((i = 1; i <= n; i++)); do
			((killed)) && sc_is_victim "$i" && continue
			if [ -e "$RUN/done-h$i" ]; then
				done_n=$((done_n + 1))
			elif [ -e "$RUN/done-h$i.rc" ]; then
				bad="h$i exited with status $(<"$RUN/done-h$i.rc")"
			fi
		done
		((done_n == expect)) && break
		if [ -n "$bad" ]; then
			status="failed"
			log "$bad"
			break
		fi
		now=${EPOCHREALTIME%.*}
		if ((now >= deadline)); then
			status="timeout"
			log "timeout after ${timeout}s: $done_n of $expect peers done"
			break
		fi
		sleep 0.05
	done
	exec 8>&- 7>&-
	if ((${#SC_VICTIMS[@]} && killed == 0)) && [ "$status" = ok ]; then
		status="untriggered" # the swarm finished before the victims could be killed
		log "churn: every peer finished before the kill; nothing was measured"
	fi

	# Counters at the finish line.
	for h in "${HOSTS[@]}"; do cpu1[$h]=$(cg_cpu_ns "$h"); done
	while read -r h i; do EG1[$h]=$i; done < <(egress_bytes)
	m1=$(machine_cpu_ns)
	touch "$RUN/sampler.stop"
	wait "$SAMPLER_PID" || true
	SAMPLER_PID=""
	while read -r h i v c; do
		hwm[$h]=$i anon[$h]=$v pcpu[$h]=$c
	done <"$RUN/sampler.out"

	stop_hosts # origin bytes come from logs that are complete once the servers stopped

	# The survivors (every peer unless churn killed some) are the ones measured.
	for ((i = 1; i <= n; i++)); do
		((killed)) && sc_is_victim "$i" && continue
		surv+=("$i")
	done

	# Verify every survivor's copy against the payload digest.
	local ok=0 sums=() line f ns=${#surv[@]}
	for i in "${surv[@]}"; do sums+=("$WORK/h$i/out/file"); done
	local -A sum_of=()
	while read -r line f; do sum_of[$f]=$line; done < <(sha256sum "${sums[@]}" 2>/dev/null || true)
	for ((i = 1; i <= n; i++)); do
		f="$WORK/h$i/out/file"
		if ((killed)) && sc_is_victim "$i"; then
			vrf[i]=killed
		elif [ "${sum_of[$f]:-}" = "$PAYLOAD_SHA" ]; then
			ok=$((ok + 1)) vrf[i]=ok
		else
			vrf[i]=BAD
		fi
		if [ -e "$RUN/done-h$i" ]; then
			tdone[h$i]=$(awk -v e="$(<"$RUN/done-h$i")" -v s="$t0" 'BEGIN { printf "%.2f", e - s }')
		else
			tdone[h$i]=-
		fi
	done
	if [ "$status" = ok ] && ((ok != ns)); then status="corrupt"; fi

	# The scenario's bound (scripts/bench/README.md, "Scenarios").
	if [ "$t_late" != - ]; then
		# From the release on, the late half needs everything and the first half what it
		# lacked; every peer can upload.
		read -r bound b_fu b_agg < <(sc_bound "$t_late" $((r_late + (n - n1) * FILE_BYTES)) \
			"$(sc_sum_bps $(seq "$n"))")
	elif ((killed)); then
		# The survivors need N'F; the victims uploaded at most u_k * t_kill before they died.
		need=$(awk -v nf=$((ns * FILE_BYTES)) -v u="$(sc_sum_bps "${SC_VICTIMS[@]}")" -v t="$t_kill" \
			'BEGIN { x = nf - u / 8 * t; printf "%.0f", (x > 0 ? x : 0) }')
		read -r bound b_fu b_agg < <(sc_bound 0 "$need" "$(sc_sum_bps "${surv[@]}")")
	fi

	# Figures.
	local cpu_total=0 origin seed_f="-" times=() last first median late_last="-"
	for h in "${HOSTS[@]}"; do
		if [ "$CG_MODE" = proc ]; then
			cpu_total=$((cpu_total + ${pcpu[$h]:-0}))
		else
			cpu_total=$((cpu_total + cpu1[$h] - cpu0[$h]))
		fi
	done
	origin=$(sys_origin_bytes)
	if [ -n "$SYS_SEED_HOST" ]; then
		seed_f=$(fdiv "$(egress_of "$SYS_SEED_HOST")" "$FILE_BYTES" 3)
	fi
	mapfile -t times < <(for i in "${surv[@]}"; do echo "${tdone[h$i]}"; done | grep -v '^-$' | sort -n)
	if ((${#times[@]} == ns && ns > 0)); then
		first=${times[0]} last=${times[ns - 1]} median=${times[ns / 2]}
		[ "$t_late" != - ] && late_last=$(awk -v l="$last" -v t="$t_late" 'BEGIN { printf "%.2f", l - t }')
	else
		first=- last=- median=-
	fi
	local delivered=$((ns * FILE_BYTES)) maxhwm=0 maxanon=0
	for ((i = 1; i <= n; i++)); do
		((${hwm[h$i]:-0} > maxhwm)) && maxhwm=${hwm[h$i]}
		((${anon[h$i]:-0} > maxanon)) && maxanon=${anon[h$i]}
	done

	# Table.
	{
		echo
		echo "== $sc: $sys  N=$n  run $rep/$REPEAT  F=$FILE_MIB MiB  seed/origin cap $rate_str  bound ${bound}s (F/u_s ${b_fu}s, aggregate ${b_agg}s)  load1 at start $load1  status=$status"
		printf '%-6s %8s %9s %10s %10s %9s %s\n' host up_Mbit time_s rss_MiB anon_MiB cpu_s sha256
		for h in "${HOSTS[@]}"; do
			local c
			if [ "$CG_MODE" = proc ]; then c=${pcpu[$h]:-0}; else c=$((cpu1[$h] - cpu0[$h])); fi
			case $h in
			h0 | hs | hsch)
				printf '%-6s %8s %9s %10s %10s %9s %s\n' "$h" "$(fdiv "$(host_bps "$h")" 1e6 1)" - \
					"$(fdiv "${hwm[$h]:-0}" 1024 1)" "$(fdiv "${anon[$h]:-0}" 1024 1)" "$(fdiv "$c" 1e9 2)" \
					"egress $(fdiv "$(egress_of "$h")" "$FILE_BYTES" 3) x F"
				;;
			*)
				printf '%-6s %8s %9s %10s %10s %9s %s\n' "$h" "$(fdiv "$(host_bps "$h")" 1e6 1)" "${tdone[$h]}" \
					"$(fdiv "${hwm[$h]:-0}" 1024 1)" "$(fdiv "${anon[$h]:-0}" 1024 1)" "$(fdiv "$c" 1e9 2)" \
					"${vrf[${h#h}]}"
				;;
			esac
		done
		if ((SC_LATE_FROM)); then
			echo "late half h$SC_LATE_FROM..h$n released at ${t_late}s (first half at ${late_pct} % of its bytes, ${r_late} B left); last peer ${late_last}s after the release"
		fi
		if ((${#SC_VICTIMS[@]})); then
			echo "killed ${SC_VICTIMS[*]/#/h} with kill -9 at ${t_kill}s; survivors $ns of $n measured"
		fi
		echo "last peer ${last}s = $(fdiv "$last" "$bound" 3) x bound (first ${first}s, median ${median}s)"
		echo "origin $(fdiv "$origin" "$FILE_BYTES" 3) x F ($SYS_ORIGIN_HOW); seed egress ${seed_f} x F${SYS_SEED_HOST:+ ($SYS_SEED_HOST veth)}"
		echo "CPU all hosts $(fdiv "$cpu_total" 1e9 2) s = $(fdiv "$cpu_total" "$delivered" 2) ns/B delivered;" \
			"machine $(fdiv $((m1 - m0)) 1e9 2) s = $(fdiv $((m1 - m0)) "$delivered" 2) ns/B (includes other load on this box)"
		echo "peer peak RSS max $(fdiv "$maxhwm" 1024 1) MiB, RssAnon max $(fdiv "$maxanon" 1024 1) MiB; verified $ok/$ns"
		echo "RESULT scenario=$sc system=$sys n=$n rep=$rep file_mib=$FILE_MIB rate=$rate_str status=$status" \
			"first_s=$first median_s=$median last_s=$last bound_s=$bound ratio=$(fdiv "$last" "$bound" 3)" \
			"bound_fu_s=$b_fu late_s=$t_late killed=$killed kill_s=$t_kill" \
			"origin_f=$(fdiv "$origin" "$FILE_BYTES" 3) seed_f=$seed_f ns_per_b=$(fdiv "$cpu_total" "$delivered" 2)" \
			"machine_ns_per_b=$(fdiv $((m1 - m0)) "$delivered" 2) cpu_s=$(fdiv "$cpu_total" 1e9 2)" \
			"rss_mib=$(fdiv "$maxhwm" 1024 1) anon_mib=$(fdiv "$maxanon" 1024 1) verified=$ok/$ns load1=$load1"
	} | tee -a "$RESULTS/results.txt"

	finish_run "$sc" "$sys" "$n" "$rep" "$status"
}

# finish_run SCENARIO SYSTEM N REP STATUS: keep logs of a failed run, free the copies.
finish_run() {
	local sc=$1 sys=$2 n=$3 rep=$4 st=$5 i d
	d="$RESULTS/logs-$sc-$sys-n$n-r$rep"
	if [ "$st" != ok ]; then
		FAILED=1
		if [ "$st" = start-failed ]; then
			echo "RESULT scenario=$sc system=$sys n=$n rep=$rep file_mib=$FILE_MIB status=$st" |
				tee -a "$RESULTS/results.txt"
		fi
		mkdir -p "$d"
		cp -r "$LOGDIR/." "$d/" 2>/dev/null || true
		log "logs of the failed run: $d"
	fi
	stop_hosts
	# Every run starts cold: a seed that kept the file from the previous run would serve
	# it from its cache instead of fetching it (and measure something else).
	for ((i = 1; i <= n; i++)); do rm -rf "${WORK:?}/h$i"; done
	rm -rf "${WORK:?}/hs" "${WORK:?}/hsch"
}

# summary: one line per (scenario, system, N) over all repeats, from the RESULT lines, in
# the order they ran (the systems of one scenario side by side).
summary() {
	echo
	echo "== summary ($(date '+%Y-%m-%d %H:%M'), F=$FILE_MIB MiB; last/bound = last survivor / the scenario's Kumar-Ross bound; 2-core box shared with other work: expect noise)"
	awk '
	/^RESULT / {
		delete r
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
		if (r["scenario"] == "") r["scenario"] = "even"
		k = r["scenario"] " " r["system"] " " r["n"]
		if (!(k in runs)) order[++nk] = k
		runs[k]++
		split(r["verified"], v, "/"); okc[k] += v[1]; tot[k] += (v[2] == "" ? r["n"] : v[2])
		if (r["status"] != "ok") bad[k]++
		if (r["last_s"] != "-" && r["last_s"] != "") {
			m[k]++; last[k] += r["last_s"]; ratio[k] += r["ratio"]; bnd[k] += r["bound_s"]
			if (!(k in lo) || r["last_s"] < lo[k]) lo[k] = r["last_s"]
			if (!(k in hi) || r["last_s"] > hi[k]) hi[k] = r["last_s"]
			of[k] += r["origin_f"]; sf[k] += r["seed_f"]; ns[k] += r["ns_per_b"]
			if (r["rss_mib"] > rss[k]) rss[k] = r["rss_mib"]
			if (r["anon_mib"] > an[k]) an[k] = r["anon_mib"]
			sfm[k] = (r["seed_f"] == "-") ? "-" : ""
		}
	}
	END {
		fmt = "%-8s %-10s %3s %4s %-22s %8s %9s %9s %9s %8s %14s %9s %s\n"
		printf fmt, "scenario", "system", "N", "runs", "last s mean (min-max)", "bound s", "last/bnd", "origin/F", "seed/F", "ns/B", "RSS (anon) MiB", "verified", "failed"
		for (j = 1; j <= nk; j++) {
			k = order[j]; split(k, s, " ")
			if (m[k]) {
				printf fmt, s[1], s[2], s[3], runs[k],
					sprintf("%.2f (%.2f-%.2f)", last[k] / m[k], lo[k], hi[k]), sprintf("%.2f", bnd[k] / m[k]),
					sprintf("%.3f", ratio[k] / m[k]), sprintf("%.3f", of[k] / m[k]),
					(sfm[k] == "-" ? "-" : sprintf("%.3f", sf[k] / m[k])), sprintf("%.2f", ns[k] / m[k]),
					sprintf("%.1f (%.1f)", rss[k], an[k]), okc[k] "/" tot[k], bad[k] + 0
			} else {
				printf fmt, s[1], s[2], s[3], runs[k], "-", "-", "-", "-", "-", "-", "-", okc[k] "/" tot[k], bad[k] + 0
			}
		}
	}' "$RESULTS/results.txt"
}

# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

main() {
	# Nothing in a run may use a proxy (they would be outside the namespaces anyway).
	unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY
	local sc sys n rep
	if [ "$(id -u)" -ne 0 ]; then
		die "must run as root: it creates network namespaces, veth pairs, tc qdiscs and cgroups (try: sudo $0)" 2
	fi
	[ "$(uname -s)" = Linux ] || die "Linux only" 2

	# Load every requested plug-in first so a missing system fails before any set-up.
	need ip iproute2 tc iproute2 ss iproute2 sysctl procps sha256sum coreutils \
		flock util-linux awk mawk getconf libc-bin
	for sys in $SYSTEM; do
		load_system "$sys"
		# shellcheck disable=SC2046
		need $(sys_packages)
		sys_check
	done

	# One run at a time on this machine (the namespaces and addresses are fixed): a second
	# run waits for the first (LOCK_WAIT seconds at most), so two test runs on one machine
	# take turns instead of failing.
	mkdir -p /run/lock
	exec 9>/run/lock/dfbench-swarm.lock
	if ! flock -n 9; then
		log "another bench-swarm.sh run holds /run/lock/dfbench-swarm.lock: waiting (up to ${LOCK_WAIT:-3600} s)"
		flock -w "${LOCK_WAIT:-3600}" 9 ||
			die "another bench-swarm.sh run still holds /run/lock/dfbench-swarm.lock" 2
	fi

	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pick_cgroups
	teardown_topology # a stale set-up from an interrupted run

	mkdir -p "$RESULTS" "$PAYLOAD_DIR"
	chmod 755 "$WORK" "$PAYLOAD_DIR"
	[ "$(stat -f -c %T "$WORK")" = tmpfs ] || log "warning: $WORK is not on tmpfs"
	log "payload: $FILE_MIB MiB of random bytes in $PAYLOAD"
	head -c "$FILE_BYTES" /dev/urandom >"$PAYLOAD"
	chmod 644 "$PAYLOAD"
	PAYLOAD_SHA=$(sha256sum "$PAYLOAD" | awk '{ print $1 }')
	{
		echo "# bench-swarm $(date -Is) systems=[$SYSTEM] scenarios=[$SCENARIO] NS=[$NS] file_mib=$FILE_MIB rate=$RATE repeat=$REPEAT"
		echo "# kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), cpu accounting $CG_MODE"
	} >>"$RESULTS/results.txt"

	# Systems innermost: the runs of one (scenario, N) sit next to each other in time.
	for sc in $SCENARIO; do
		for n in $(sc_ns "$sc"); do
			for ((rep = 1; rep <= REPEAT; rep++)); do
				for sys in $SYSTEM; do
					load_system "$sys"
					run_one "$sc" "$sys" "$n" "$rep"
				done
			done
		done
	done
	teardown_topology
	summary | tee -a "$RESULTS/results.txt"
	log "results: $RESULTS/results.txt"
	return "$FAILED"
}

main
