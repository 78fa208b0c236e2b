#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Single-host download benchmark: a file served by a local nginx (sendfile) is fetched by
# `dragonfly get` through a fresh peer and by `curl -o`, alternating, RUNS times each. Prints
# both throughputs, their ratio, the CPU seconds each spent, and the peer's memory: idle
# RSS, and peak RSS / anonymous RSS sampled during the transfers. Each run also gets the URL
# a second time (get-hit: from the cache, so only the cost of writing the output).
# Usage: scripts/bench-get.sh [SIZE_MIB (1024)] [RUNS (3)] [BINARY (./dragonfly)] [DIR]
# (DIR: where the files live; default /dev/shm when it has room, else /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=${1:-1024}
runs=${2:-3}
bin=${3:-./dragonfly}
[ -x "$bin" ] || make -j"$(nproc)" >/dev/null
command -v nginx >/dev/null || { echo "bench-get: nginx is required (scripts/install-deps.sh)" >&2; exit 1; }

base=${4:-/dev/shm}
[ -n "${4:-}" ] || [ "$(df -m --output=avail /dev/shm | tail -1)" -gt $((size_mib * 4)) ] || base=/tmp
dir=$(mktemp -d "$base/df-bench-get-XXXXXX")
chmod 755 "$dir"
peer_pid=
cleanup() {
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null || true
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir -p "$dir/www"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$dir/www/file"
port=$((30000 + $$ % 20000))
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 64; }
http { access_log off; sendfile on; server { listen 127.0.0.1:$port; root $dir/www; } }
CONF
nginx -c "$dir/nginx.conf"

"$bin" peer --ip 127.0.0.1 --rpc-port 0 --upload-port 0 --proxy-listen 0 --data-dir "$dir/peer" \
	--ready-file "$dir/ready" --log-file "$dir/peer.log" &
peer_pid=$!
for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done
[ -s "$dir/ready" ] || { echo "bench-get: peer did not start" >&2; cat "$dir/peer.log"; exit 1; }
sleep 0.5
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$peer_pid/status")

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime in clock ticks
hz=$(getconf CLK_TCK)
sample() { # keep the peer's largest anonymous RSS in $dir/anon while pid $1 runs
	while kill -0 "$1" 2>/dev/null; do
		a=$(awk '/RssAnon/ {print $2}' "/proc/$peer_pid/status")
		[ "$a" -gt "$(cat "$dir/anon")" ] && echo "$a" >"$dir/anon"
		sleep 0.05
	done
}
echo 0 >"$dir/anon"

url="http://127.0.0.1:$port/file"
bytes=$((size_mib * 1024 * 1024))
printf '%-6s %-10s %10s %10s\n' run tool 'MiB/s' 'cpu s'
get_total=0
hit_total=0
curl_total=0
get_cpu_total=0
curl_cpu_total=0
for i in $(seq "$runs"); do
	rm -rf "$dir/peer/content" "$dir/out" "$dir/out2" "$dir/curl.out"
	c0=$(cpu_of "$peer_pid")
	t0=$(date +%s.%N)
	"$bin" get "$url?run=$i" -O "$dir/out" --socket "$dir/peer/dfdaemon.sock" \
		--no-progress 2>/dev/null &
	gpid=$!
	sample "$gpid" &
	spid=$!
	wait "$gpid"
	t1=$(date +%s.%N)
	wait "$spid" || true
	c1=$(cpu_of "$peer_pid")
	cmp -s "$dir/out" "$dir/www/file" || { echo "bench-get: wrong bytes from dragonfly get" >&2; exit 1; }
	g=$(echo "$bytes / ($t1 - $t0) / 1048576" | bc -l)
	gc=$(echo "($c1 - $c0) / $hz" | bc -l)
	printf '%-6s %-10s %10.1f %10.2f\n' "$i" get "$g" "$gc"
	c0=$(cpu_of "$peer_pid")
	t0=$(date +%s.%N)
	"$bin" get "$url?run=$i" -O "$dir/out2" --socket "$dir/peer/dfdaemon.sock" --no-progress \
		2>/dev/null
	t1=$(date +%s.%N)
	c1=$(cpu_of "$peer_pid")
	cmp -s "$dir/out2" "$dir/www/file" || { echo "bench-get: wrong bytes from a cache hit" >&2; exit 1; }
	h=$(echo "$t1 - $t0" | bc -l)
	printf '%-6s %-10s %10.1f %10.2f  (%.2f s)\n' "$i" get-hit "$(echo "$bytes / $h / 1048576" | bc -l)" \
		"$(echo "($c1 - $c0) / $hz" | bc -l)" "$h"
	hit_total=$(echo "$hit_total + $h" | bc -l)
	t0=$(date +%s.%N)
	curl -s -o "$dir/curl.out" "$url"
	t1=$(date +%s.%N)
	cc=$( (time -p curl -s -o /dev/null "$url") 2>&1 | awk '/user|sys/ {s += $2} END {print s}')
	c=$(echo "$bytes / ($t1 - $t0) / 1048576" | bc -l)
	printf '%-6s %-10s %10.1f %10.2f\n' "$i" curl "$c" "$cc"
	get_total=$(echo "$get_total + $g" | bc -l)
	curl_total=$(echo "$curl_total + $c" | bc -l)
	get_cpu_total=$(echo "$get_cpu_total + $gc" | bc -l)
	curl_cpu_total=$(echo "$curl_cpu_total + $cc" | bc -l)
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$peer_pid/status")
printf '\nsize %d MiB, %d runs each\n' "$size_mib" "$runs"
printf 'dragonfly get: %.1f MiB/s mean, peer CPU %.2f s per run = %.2f ns/B (goal <= 0.8)\n' \
	"$(echo "$get_total / $runs" | bc -l)" "$(echo "$get_cpu_total / $runs" | bc -l)" \
	"$(echo "$get_cpu_total / $runs / $bytes * 1000000000" | bc -l)"
printf 'cache hit:     %.2f s mean\n' "$(echo "$hit_total / $runs" | bc -l)"
printf 'curl -o:       %.1f MiB/s mean, curl CPU %.2f s per run = %.2f ns/B\n' \
	"$(echo "$curl_total / $runs" | bc -l)" "$(echo "$curl_cpu_total / $runs" | bc -l)" \
	"$(echo "$curl_cpu_total / $runs / $bytes * 1000000000" | bc -l)"
printf 'ratio get/curl: %.2f (goal >= 0.95, issue 11)\n' "$(echo "$get_total / $curl_total" | bc -l)"
printf 'peer idle RSS: %.1f MiB (goal <= 8); peak RSS %.1f MiB; peak anonymous RSS during transfers %.1f MiB (goal <= 32)\n' \
	"$(echo "$idle_rss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" \
	"$(echo "$(cat "$dir/anon") / 1024" | bc -l)"
