#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark the RPC server: start rpc_testd (release build) on 127.0.0.1, drive
# test.v1.Echo/Unary with h2load for a bounded time, print requests/s and latency
# percentiles (p99 from h2load's per-request log), and stop the server by its PID.
#
#   scripts/bench-rpc.sh            # defaults below
#   DURATION=20 CONNS=8 STREAMS=32 THREADS=1 scripts/bench-rpc.sh
#   TLS=1 scripts/bench-rpc.sh      # h2 over TLS, a certificate from `dragonfly cert`
#                                   # (h2load presents none: server-side TLS cost only)
set -eu
cd "$(dirname "$0")/.."
. scripts/bench/h2load-lib.sh

DURATION=${DURATION:-10}  # seconds measured
WARMUP=${WARMUP:-2}       # seconds before measuring
CONNS=${CONNS:-8}         # h2load -c
STREAMS=${STREAMS:-32}    # h2load -m: concurrent streams per connection
THREADS=${THREADS:-1}     # h2load -t: leave the other core to the server
TLS=${TLS:-0}             # 1: h2 over TLS
TESTD=build/release/test/tools/rpc_testd

command -v h2load >/dev/null || { echo "bench-rpc: h2load not found (apt install nghttp2-client)" >&2; exit 1; }
make -s -j2 VARIANT=release "$TESTD" >/dev/null

tmp=$(mktemp -d /tmp/df-bench-rpc-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

scheme=http
set --
if [ "$TLS" = 1 ]; then
	make -s -j2 dragonfly >/dev/null
	./dragonfly cert ca --dir "$tmp/ca" >/dev/null
	./dragonfly cert issue --dir "$tmp/ca" --role scheduler --host localhost --out "$tmp/srv" >/dev/null
	set -- --tls-cert "$tmp/srv.crt" --tls-key "$tmp/srv.key"
	scheme=https
fi
"$TESTD" --listen 127.0.0.1:0 --ready-file "$tmp/ready.json" "$@" >"$tmp/testd.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/ready.json" ]; do
	i=$((i + 1))
	if [ "$i" -gt 500 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "bench-rpc: rpc_testd did not start" >&2
		cat "$tmp/testd.log" >&2
		exit 1
	fi
	sleep 0.01
done
addr=$(sed -n 's/.*"rpc":"\([^"]*\)".*/\1/p' "$tmp/ready.json")
printf '{"message":"hello, dragonfly"}' >"$tmp/body.json"

cpu0=$(cpu_ticks "$pid")
echo "bench-rpc: rpc_testd pid $pid on $scheme://$addr; h2load -t $THREADS -c $CONNS -m $STREAMS," \
	"${WARMUP}s warm-up + ${DURATION}s"
h2load -t "$THREADS" -c "$CONNS" -m "$STREAMS" -D "$DURATION" --warm-up-time="$WARMUP" \
	-H 'content-type: application/json' -d "$tmp/body.json" --log-file="$tmp/req.log" \
	"$scheme://$addr/test.v1.Echo/Unary" >"$tmp/h2load.out" 2>&1 || {
	cat "$tmp/h2load.out" >&2
	exit 1
}
cpu1=$(cpu_ticks "$pid")
h2load_rate "$tmp/h2load.out"
rps=$rate
h2load_latencies bench-rpc "$tmp/req.log"
awk -v rps="$rps" -v n="$n" -v bad="$bad" -v ticks=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" \
	-v secs=$((DURATION + WARMUP)) -v load="$(cut -d' ' -f1 /proc/loadavg)" -v p50="$(pct 50)" -v p90="$(pct 90)" \
	-v p99="$(pct 99)" -v max="$(tail -n 1 "$tmp/lat")" 'BEGIN {
	printf "bench-rpc: %.0f req/s, %d requests (%d not 200), latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		rps, n, bad, p50 / 1000, p90 / 1000, p99 / 1000, max / 1000
	# warm-up requests are not in the log: assume they ran at the measured rate
	printf "bench-rpc: server CPU %.1f us/request (%.0f%% of a core); load average %s\n",
		ticks / hz * 1e6 / (rps * secs), ticks / hz * 100 / secs, load
	ok = (rps >= 50000 && p99 <= 5000 && bad == 0)
	printf "bench-rpc: goal >= 50000 req/s with p99 <= 5 ms: %s\n", ok ? "met" : "NOT met"
}'
