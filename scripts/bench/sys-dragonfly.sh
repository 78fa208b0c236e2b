# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034 # SYS_* and FETCH are read by bench-swarm.sh
#
# bench-swarm.sh plug-in "dragonfly": our binary (DF_BIN, default <repo>/dragonfly).
#
#   hsch  dragonfly scheduler                 (listens on IP_SCHED:8002)
#   hs    dragonfly peer --seed               (goes back to source; seed egress = hs veth)
#   hI    dragonfly peer                      (one daemon per peer host)
#   h0    nginx origin serving /file          (origin bytes = nginx $body_bytes_sent)
#
# Each daemon is started with --ready-file PATH and counts as ready once PATH holds a JSON
# object (written atomically once it listens). Then every peer host runs, at the same
# instant, `dragonfly get ORIGIN_URL -O OUT --no-progress ...` against its own daemon; the
# completion time is when that command exits 0. Daemons keep running (serving pieces) until
# the last peer is done.
#
# ALL FLAGS LIVE IN THE df_*_argv FUNCTIONS BELOW: adjust them there when the roles land.
# shellcheck source=scripts/bench/nginx-origin.sh
. "$BENCH_DIR/nginx-origin.sh"

SYS_ORIGIN_HOW="nginx \$body_bytes_sent on h0 (back-to-source)"
SYS_SEED_HOST=hs
SYS_CLIENT_SERVER=0

DF_SCHED_PORT=8002
# DF_TLS=1: mutual TLS between every role (RPC, pieces over https), with certificates made by
# `dragonfly cert` in WORK/tls; each host is certified under its bench name (hsch, hs, hI).
# DF_TLS=rpc: the same for RPC only, pieces over plain http (tls.pieces false).
DF_TLS=${DF_TLS:-0}
# DF_LOG_DEBUG=MODS: every daemon logs at debug level for these modules ("p2p,sched" or
# "all"), to trace a run (with KEEP=1 the logs stay in WORK/run/logs).
DF_LOG_DEBUG=${DF_LOG_DEBUG:-}
DF_LOG_FLAGS=()
[ -z "$DF_LOG_DEBUG" ] || DF_LOG_FLAGS=(--log-level debug --log-debug "$DF_LOG_DEBUG")

# --- flags, in one place ------------------------------------------------------------------

# df_tls_flags HOST [ROLE]: DF_TLS_FLAGS for HOST (--plaintext unless DF_TLS=1); issues its
# certificate for ROLE (default peer) on first use.
df_tls_flags() {
	local h=$1 role=${2:-peer} t="$WORK/tls"
	DF_TLS_FLAGS=(--plaintext) # without TLS, say so: daemons refuse to start otherwise
	[ "$DF_TLS" = 1 ] || [ "$DF_TLS" = rpc ] || return 0
	[ -f "$t/ca/ca.crt" ] || "$DF_BIN" cert ca --dir "$t/ca" >/dev/null || die "dragonfly cert ca failed" 3
	[ -f "$t/$h.crt" ] ||
		"$DF_BIN" cert issue --dir "$t/ca" --role "$role" --host "$h" --out "$t/$h" >/dev/null ||
		die "dragonfly cert issue $h failed" 3
	DF_TLS_FLAGS=(--tls-cert "$t/$h.crt" --tls-key "$t/$h.key" --tls-ca "$t/ca/ca.crt")
	[ "$role" = scheduler ] || DF_TLS_FLAGS+=(--hostname "$h")
	[ "$role" = scheduler ] || [ "$DF_TLS" != rpc ] || DF_TLS_FLAGS+=(--no-tls-pieces)
}
# df_scheduler_argv READY DATA: the scheduler on hsch.
df_scheduler_argv() {
	df_tls_flags hsch scheduler
	DF_ARGV=("$DF_BIN" scheduler --listen "$IP_SCHED:$DF_SCHED_PORT" --ready-file "$1"
		"${DF_TLS_FLAGS[@]}" "${DF_LOG_FLAGS[@]}")
}
# df_seed_argv READY DATA: the seed peer on hs (default ports 65006-65008). It goes back to
# source for the scheduler, so the origin is named in its back-to-source allow list (a
# private address is allowed by default; this keeps the run working if the origin moves to
# loopback or the policy tightens).
df_seed_argv() {
	df_tls_flags hs seed
	DF_ARGV=("$DF_BIN" peer --seed --scheduler "$IP_SCHED:$DF_SCHED_PORT" --ip "$IP_SEED"
		--back-to-source-allow "$IP_ORIGIN" --data-dir "$2" --ready-file "$1"
		"${DF_TLS_FLAGS[@]}" "${DF_LOG_FLAGS[@]}")
}
# df_peer_argv HOST READY DATA: the peer daemon of peer host HOST (default ports 65000-65002).
df_peer_argv() {
	df_tls_flags "$1" peer
	DF_ARGV=("$DF_BIN" peer --scheduler "$IP_SCHED:$DF_SCHED_PORT" --ip "$(host_ip "$1")"
		--data-dir "$3" --ready-file "$2" "${DF_TLS_FLAGS[@]}" "${DF_LOG_FLAGS[@]}")
}
# df_get_argv DATA OUT: the download on a peer host, talking to that host's daemon. The
# daemon's CLI endpoint is assumed to be the unix socket DATA/dfdaemon.sock (all hosts
# share one mount namespace, so a fixed global socket path would collide).
df_get_argv() {
	DF_ARGV=("$DF_BIN" get "$ORIGIN_URL" -O "$2" --no-progress --socket "$1/dfdaemon.sock")
}

# -------------------------------------------------------------------------------------------

sys_packages() { echo nginx nginx-light; }

# sys_check: the binary must exist and list the roles this benchmark drives.
sys_check() {
	local help
	[ -x "$DF_BIN" ] || die "dragonfly binary not found at $DF_BIN (build it with make, or set DF_BIN)" 3
	help=$("$DF_BIN" --help 2>&1) || true
	local sub
	for sub in scheduler peer get; do
		if ! grep -Eq "^[[:space:]]+$sub([[:space:]]|$)" <<<"$help"; then
			die "dragonfly peer/scheduler not available in this build ($DF_BIN --help lists no '$sub' subcommand)" 3
		fi
	done
}

# df_start_daemon HOST NAME: start the DF_ARGV built for HOST, wait for its ready file.
df_start_daemon() {
	local h=$1 name=$2 ready=$3
	hstart "$h" "$name" "${DF_ARGV[@]}" || return 1
	if ! wait_file "$ready"; then
		log "dragonfly $name on $h not ready; see $LOGDIR/$name.log"
		return 1
	fi
}

sys_start() {
	local n=$1 i d
	origin_start || return 1
	d="$WORK/hsch/df"
	mkdir -p "$d"
	df_scheduler_argv "$d/ready.json" "$d"
	df_start_daemon hsch scheduler "$d/ready.json" || return 1
	d="$WORK/hs/df"
	mkdir -p "$d"
	df_seed_argv "$d/ready.json" "$d"
	df_start_daemon hs seed "$d/ready.json" || return 1
	for ((i = 1; i <= n; i++)); do
		d="$WORK/h$i/df"
		mkdir -p "$d"
		df_peer_argv "h$i" "$d/ready.json" "$d"
		df_start_daemon "h$i" "peer-h$i" "$d/ready.json" || return 1
	done
}

sys_fetch() {
	df_get_argv "$WORK/h$1/df" "$2"
	FETCH=("${DF_ARGV[@]}")
}

sys_origin_bytes() { origin_bytes; }
