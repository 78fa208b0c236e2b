#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark the manager's REST reads: start `dragonfly manager` (release build) on
# 127.0.1.250, register HOSTS schedulers through its RPC (UpdateScheduler, curl --parallel),
# sign in as root, then drive authenticated GET /api/v1/schedulers with h2load (HTTP/1.1,
# keep-alive) for a bounded time; print requests/s, latency percentiles (p99 from h2load's
# per-request log), the server's CPU per request and its RSS. Then keepalives: KeepAlive
# streams (Connect JSON over h2c) of KA_MSGS messages each for the registered schedulers,
# h2load for KA_DURATION seconds; print keepalives/s and the server's CPU per keepalive
# (KA_DURATION=0 skips it). Then the audit log's worst case: AUDIT_DURATION seconds of
# unauthenticated GETs, each a 401 the audit log records; print the rows written per second and
# the server's CPU per recorded request (AUDIT_DURATION=0 skips it). Stop the manager by its PID.
#
#   scripts/bench-manager.sh                    # defaults below
#   HOSTS=1000 DURATION=20 CONNS=16 scripts/bench-manager.sh
#   BIN=/other/build/dragonfly scripts/bench-manager.sh   # compare two builds
set -eu
cd "$(dirname "$0")/.."
. scripts/bench/h2load-lib.sh

HOSTS=${HOSTS:-1000}     # registered schedulers
DURATION=${DURATION:-10} # seconds measured
WARMUP=${WARMUP:-2}      # seconds before measuring
CONNS=${CONNS:-16}       # h2load -c (HTTP/1.1: one request in flight per connection)
THREADS=${THREADS:-1}    # h2load -t: leave the other core to the server
IP=${IP:-127.0.1.250}
KA_DURATION=${KA_DURATION:-5} # seconds of keepalives
KA_MSGS=${KA_MSGS:-100}       # keepalive messages per KeepAlive stream
KA_CONNS=${KA_CONNS:-4}       # h2load -c for the keepalives (one stream each at once)
AUDIT_DURATION=${AUDIT_DURATION:-5} # seconds of audited (refused) requests
BIN=${BIN:-./dragonfly}

command -v h2load >/dev/null || { echo "bench-manager: h2load not found (apt install nghttp2-client)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench-manager: curl not found" >&2; exit 1; }
if [ "$BIN" = ./dragonfly ]; then
	make -s -j2 VARIANT=release dragonfly >/dev/null 2>&1 || make -j2 VARIANT=release dragonfly
fi

tmp=$(mktemp -d /tmp/df-bench-mgr-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$BIN" manager --listen "$IP:0" --rpc-listen "$IP:0" --data-dir "$tmp/data" \
	--ready-file "$tmp/ready.json" --auth-password-iterations 1000 --log-level warn \
	>"$tmp/manager.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/ready.json" ]; do
	i=$((i + 1))
	if [ "$i" -gt 1000 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "bench-manager: the manager did not start" >&2
		cat "$tmp/manager.log" >&2
		exit 1
	fi
	sleep 0.01
done
rest=$(sed -n 's/.*"rest":"\([^"]*\)".*/\1/p' "$tmp/ready.json")
rpc=$(sed -n 's/.*"rpc":"\([^"]*\)".*/\1/p' "$tmp/ready.json")

# HOSTS registrations in one curl process (a config entry per request, 64 at once).
i=0
while [ "$i" -lt "$HOSTS" ]; do
	printf 'url = "http://%s/manager.v2.Manager/UpdateScheduler"\n' "$rpc"
	printf 'data = "{\\"hostname\\":\\"sched-%d\\",\\"ip\\":\\"10.%d.%d.%d\\",\\"port\\":8002,\\"schedulerClusterId\\":1}"\n' \
		"$i" $((i / 65536 % 256)) $((i / 256 % 256)) $((i % 256))
	printf 'header = "content-type: application/json"\noutput = "/dev/null"\n'
	i=$((i + 1))
	[ "$i" -lt "$HOSTS" ] && printf 'next\n'
done >"$tmp/reg.conf"
t0=$(date +%s.%N)
curl -s --no-progress-meter --http2-prior-knowledge --parallel --parallel-max 64 -K "$tmp/reg.conf"
t1=$(date +%s.%N)
token=$(curl -s -X POST "http://$rest/api/v1/users/signin" -H 'content-type: application/json' \
	-d '{"name":"root","password":"dragonfly"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
count=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $token" \
	"http://$rest/api/v1/schedulers?per_page=1" | sed -n 's/.*page=\([0-9]*\)&per_page=1>;rel=last.*/\1/p')
if [ "$count" != "$HOSTS" ]; then
	echo "bench-manager: $count schedulers registered, not $HOSTS" >&2
	exit 1
fi
awk -v n="$HOSTS" -v t="$(echo "$t1 - $t0" | bc)" 'BEGIN {
	printf "bench-manager: %d schedulers registered in %.2f s (%.0f UpdateScheduler/s)\n", n, t, n / t }'

cpu0=$(cpu_ticks "$pid")
echo "bench-manager: manager pid $pid on http://$rest; h2load --h1 -t $THREADS -c $CONNS," \
	"${WARMUP}s warm-up + ${DURATION}s of GET /api/v1/schedulers (10 of $HOSTS per page)"
h2load --h1 -t "$THREADS" -c "$CONNS" -D "$DURATION" --warm-up-time="$WARMUP" \
	-H "authorization: Bearer $token" --log-file="$tmp/req.log" \
	"http://$rest/api/v1/schedulers" >"$tmp/h2load.out" 2>&1 || {
	cat "$tmp/h2load.out" >&2
	exit 1
}
cpu1=$(cpu_ticks "$pid")
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
h2load_rate "$tmp/h2load.out"
rps=$rate
h2load_latencies bench-manager "$tmp/req.log"
awk -v rps="$rps" -v n="$n" -v bad="$bad" -v ticks=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" \
	-v secs=$((DURATION + WARMUP)) -v load="$(cut -d' ' -f1 /proc/loadavg)" -v p50="$(pct 50)" \
	-v p99="$(pct 99)" -v max="$(tail -n 1 "$tmp/lat")" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
	printf "bench-manager: %.0f req/s, %d requests (%d not 200), latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		rps, n, bad, p50 / 1000, p99 / 1000, max / 1000
	printf "bench-manager: server CPU %.1f us/request (%.0f%% of a core); RSS %.1f MiB (peak %.1f MiB); load average %s\n",
		ticks / hz * 1e6 / (rps * secs), ticks / hz * 100 / secs, rss / 1024, hwm / 1024, load
	ok = (rps >= 20000 && p99 <= 10000 && hwm <= 32 * 1024 && bad == 0)
	printf "bench-manager: goal >= 20000 req/s, p99 <= 10 ms, RSS <= 32 MiB: %s\n", ok ? "met" : "NOT met"
}'

if [ "$AUDIT_DURATION" -gt 0 ]; then
	# rows before and after, counted through the API (the Link header's last page at 1 a page)
	audits() {
		curl -s -D - -o /dev/null -H "Authorization: Bearer $token" \
			"http://$rest/api/v1/audits?per_page=1" | sed -n 's/.*page=\([0-9]*\)&per_page=1>;rel=last.*/\1/p'
	}
	rows0=$(audits)
	cpu0=$(cpu_ticks "$pid")
	h2load --h1 -t "$THREADS" -c "$CONNS" -D "$AUDIT_DURATION" \
		"http://$rest/api/v1/schedulers" >"$tmp/h2load-audit.out" 2>&1 || {
		cat "$tmp/h2load-audit.out" >&2
		exit 1
	}
	cpu1=$(cpu_ticks "$pid")
	sleep 0.2 # the last loop turn's rows
	rows1=$(audits)
	h2load_rate "$tmp/h2load-audit.out"
	awk -v rps="$rate" -v rows=$((rows1 - rows0)) -v ticks=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" \
		-v secs="$AUDIT_DURATION" 'BEGIN {
		printf "bench-manager: audit: %.0f refused req/s, %.0f audit rows/s written (%d); server CPU %.1f us/recorded request\n",
			rps, rows / secs, rows, (rps > 0 ? ticks / hz * 1e6 / (rps * secs) : 0)
	}'
fi

[ "$KA_DURATION" -gt 0 ] || exit 0
# A KeepAlive stream body: KA_MSGS Connect envelopes (flags 0, big-endian length, JSON) for
# sched-0 (a stream speaks for one host; several streams of one host may be open).
m='{"sourceType":"SCHEDULER_SOURCE","hostname":"sched-0","ip":"10.0.0.0","clusterId":1}'
n=${#m}
i=0
while [ "$i" -lt "$KA_MSGS" ]; do
	printf "\\000\\$(printf %03o $((n >> 24 & 255)))\\$(printf %03o $((n >> 16 & 255)))"
	printf "\\$(printf %03o $((n >> 8 & 255)))\\$(printf %03o $((n & 255)))%s" "$m"
	i=$((i + 1))
done >"$tmp/ka.bin"
# one stream first, checked: a clean end (the server answers an empty end-of-stream message)
curl -s --http2-prior-knowledge -H 'content-type: application/connect+json' \
	--data-binary @"$tmp/ka.bin" "http://$rpc/manager.v2.Manager/KeepAlive" >"$tmp/ka.out"
if grep -q '"error"' "$tmp/ka.out"; then
	echo "bench-manager: KeepAlive failed: $(tr -d '\000-\010' <"$tmp/ka.out")" >&2
	exit 1
fi
cpu0=$(cpu_ticks "$pid")
h2load -t "$THREADS" -c "$KA_CONNS" -m 1 -D "$KA_DURATION" -d "$tmp/ka.bin" \
	-H 'content-type: application/connect+json' \
	"http://$rpc/manager.v2.Manager/KeepAlive" >"$tmp/h2load-ka.out" 2>&1 || {
	cat "$tmp/h2load-ka.out" >&2
	exit 1
}
cpu1=$(cpu_ticks "$pid")
h2load_rate "$tmp/h2load-ka.out"
streams=$rate
awk -v s="$streams" -v m="$KA_MSGS" -v ticks=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" \
	-v secs="$KA_DURATION" -v c="$KA_CONNS" 'BEGIN {
	printf "bench-manager: %.0f keepalives/s (%.1f KeepAlive streams/s of %d messages, %d at once); server CPU %.1f us/keepalive\n",
		s * m, s, m, c, (s > 0 ? ticks / hz * 1e6 / (s * m * secs) : 0)
}'
