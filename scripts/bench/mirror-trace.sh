#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Where the time of one cold mirror pull goes (issue 12): a blob of MIB random bytes in
# Debian's docker-registry, a scheduler, a seed and a peer (as scripts/bench-mirror.sh sets
# them up), then one GET of the blob through the peer's mirror by a small HTTP client that
# stamps the request, the status line, the first and the last byte of the body. The three
# processes log at debug for the modules that tell the story (p2p, proxy, sched), and the
# timeline is read from their logs, in ms from the request:
#   request sent, peer registered, seed triggered, seed's first/last origin piece, peer's
#   first ask to the seed, peer's first/last piece, response started, first/last byte out
#   (peer) and in (client); and the CPU time each process used meanwhile.
# Debug logging costs time itself: read the gaps, not the totals (bench-mirror.sh times).
# Usage: scripts/bench/mirror-trace.sh [MIB (128)] [BINARY (./dragonfly)] [RUNS (1)]
# Addresses: 127.0.44.x (the range of the mirror's cold-pull work), registry port 24510.
set -euo pipefail
cd "$(dirname "$0")/../.."

mib=${1:-128}
bin=${2:-./dragonfly}
runs=${3:-1}
for c in docker-registry curl python3; do
	command -v "$c" >/dev/null || { echo "mirror-trace: $c is required" >&2; exit 1; }
done
base=/dev/shm
[ "$(df -m --output=avail /dev/shm | tail -1)" -gt $((mib * 4)) ] || base=/tmp
dir=$(mktemp -d "$base/df-mirror-trace-XXXXXX")
ipb=127.0.44
reg=$ipb.10:24510
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] && echo "mirror-trace: logs kept in $dir" >&2 || rm -rf "$dir"
}
trap cleanup EXIT INT TERM

ready_str() { sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1"; }
wait_ready() {
	for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done
	echo "mirror-trace: $2 did not start" >&2
	exit 1
}

# ---- the registry, its storage written directly (a blob and its link in repository b/img)
regv2=$dir/regdata/docker/registry/v2
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n%s\n%s\n' \
	"storage: {filesystem: {rootdirectory: $dir/regdata}}" "http: {addr: $reg}" >"$dir/registry.yml"
add_blob() { # a new random blob: prints its sha256
	local d
	head -c $((mib * 1024 * 1024)) /dev/urandom >"$dir/blob"
	d=$(sha256sum "$dir/blob" | cut -d' ' -f1)
	mkdir -p "$regv2/blobs/sha256/${d:0:2}/$d" "$regv2/repositories/b/img/_layers/sha256/$d"
	mv "$dir/blob" "$regv2/blobs/sha256/${d:0:2}/$d/data"
	printf 'sha256:%s' "$d" >"$regv2/repositories/b/img/_layers/sha256/$d/link"
	echo "$d"
}
docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://$reg/v2/" && break; sleep 0.1; done

lg=(--log-level debug --log-debug p2p,proxy,sched)
"$bin" scheduler --plaintext --listen "$ipb.13:0" --metrics-listen "$ipb.13:0" --seed-wait 2s \
	--ready-file "$dir/sched.ready" --log-file "$dir/sched.log" "${lg[@]}" &
pids+=($!)
wait_ready "$dir/sched.ready" scheduler
sched=$(ready_str "$dir/sched.ready" rpc)
"$bin" peer --plaintext --seed --ip "$ipb.14" --rpc-port 0 --upload-port 0 --proxy-listen 0 \
	--data-dir "$dir/seed" --scheduler "$sched" --announce-interval 1s \
	--back-to-source-allow "$ipb.10" --ready-file "$dir/seed.ready" --log-file "$dir/seed.log" \
	"${lg[@]}" &
pids+=($!)
wait_ready "$dir/seed.ready" seed
"$bin" peer --plaintext --ip "$ipb.11" --rpc-port 0 --upload-port 0 --proxy-listen "$ipb.11:0" \
	--data-dir "$dir/peer" --scheduler "$sched" --announce-interval 1s \
	--registry-mirror "http://$reg" --back-to-source-allow "$ipb.10" \
	--ready-file "$dir/peer.ready" --log-file "$dir/peer.log" "${lg[@]}" &
pids+=($!)
wait_ready "$dir/peer.ready" peer
sleep 1.5 # the seed and the peer announced themselves
proxy=$(ready_str "$dir/peer.ready" proxy)

# GET host:port path: wall-clock ms of request sent, status line, first and last body byte
get() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
ms = lambda: time.time() * 1000
s = socket.create_connection((host, int(port)))
t0 = ms()
s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (sys.argv[2].encode(), sys.argv[1].encode()))
buf, th, tb, n = b"", None, None, 0
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    if th is None:
        th = ms()
    if b"\r\n\r\n" not in buf:
        buf += d
        if b"\r\n\r\n" in buf:
            d = buf.split(b"\r\n\r\n", 1)[1]
        else:
            continue
    if d and tb is None:
        tb = ms()
    n += len(d)
print("%.1f %.1f %.1f %.1f %d %s" % (t0, th, tb or 0, ms(), n, buf.split(b"\r\n", 1)[0].decode()))
PY
}

# the ms since the epoch of a log line's timestamp (the first line matching a regex, or
# the last with -l)
at() { # file regex [-l]
	local line
	if [ "${3:-}" = -l ]; then line=$(grep -E "$2" "$1" | tail -1 || true); else line=$(grep -m1 -E "$2" "$1" || true); fi
	[ -n "$line" ] || { echo -1; return; }
	echo $(($(date -d "${line%%Z *}Z" +%s%3N)))
}

# CPU ms (user + system) each process used so far: registry scheduler seed peer
cpu() {
	local p t=""
	for p in "${pids[@]}"; do
		t="$t $(awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$p/stat")"
	done
	echo "$t"
}

for r in $(seq "$runs"); do
	d=$(add_blob)
	for f in peer seed sched; do wc -l <"$dir/$f.log" >"$dir/$f.from"; done
	read -r direct_t0 direct_th direct_tb direct_te _ _ < <(get "$reg" "/v2/b/img/blobs/sha256:$d")
	read -r -a c0 < <(cpu)
	read -r t0 th tb te n status < <(get "$proxy" "/v2/b/img/blobs/sha256:$d")
	read -r -a c1 < <(cpu)
	sleep 0.3 # the last log lines are written
	for f in peer seed sched; do tail -n +$(($(cat "$dir/$f.from") + 1)) "$dir/$f.log" >"$dir/$f.run"; done
	row() { # label epoch-ms
		if [ "$2" -lt 0 ]; then printf '  %-44s %8s\n' "$1" "-"; else printf '  %-44s %8d ms\n' "$1" "$(($2 - ${t0%.*}))"; fi
	}
	echo "run $r: $mib MiB, $status, $n bytes through the mirror"
	printf '  %-44s %8.0f ms (status %.0f, first byte %.0f)\n' "direct from the registry: last byte" \
		"$(echo "$direct_te - $direct_t0" | bc -l)" "$(echo "$direct_th - $direct_t0" | bc -l)" \
		"$(echo "$direct_tb - $direct_t0" | bc -l)"
	row "client: request sent" "${t0%.*}"
	row "peer: task registered with the scheduler" "$(at "$dir/peer.run" 'IDLE -> REGISTERED')"
	row "scheduler: seed triggered" "$(at "$dir/sched.run" 'triggering seed')"
	row "seed: origin answered (length known)" "$(at "$dir/seed.run" 'REGISTERED -> SOURCE')"
	row "seed: first piece from the origin" "$(at "$dir/seed.run" 'piece [0-9]+ recorded')"
	row "seed: piece 0 from the origin" "$(at "$dir/seed.run" 'piece 0 recorded')"
	row "seed: last piece from the origin" "$(at "$dir/seed.run" 'piece [0-9]+ recorded' -l)"
	row "peer: the seed named as parent" "$(at "$dir/peer.run" 'UNLISTED -> LISTED')"
	row "peer: response started (status line)" "$(at "$dir/peer.run" 'response [0-9]+ started')"
	row "peer: first ask to the seed" "$(at "$dir/peer.run" 'piece [0-9]+ fetch from')"
	row "peer: first piece in" "$(at "$dir/peer.run" 'piece [0-9]+ recorded')"
	row "peer: piece 0 in" "$(at "$dir/peer.run" 'piece 0 recorded')"
	row "peer: first body bytes out" "$(at "$dir/peer.run" 'first bytes sent')"
	row "peer: last piece in" "$(at "$dir/peer.run" 'piece [0-9]+ recorded' -l)"
	row "peer: last body bytes out" "$(at "$dir/peer.run" 'last bytes sent')"
	row "client: status line" "${th%.*}"
	row "client: first body byte" "${tb%.*}"
	row "client: last body byte" "${te%.*}"
	printf '  CPU ms during the pull: registry %d, scheduler %d, seed %d, peer %d\n' \
		$((c1[0] - c0[0])) $((c1[1] - c0[1])) $((c1[2] - c0[2])) $((c1[3] - c0[3]))
	printf '  pieces fetched by the peer: %d\n' "$(grep -cE 'piece [0-9]+ recorded' "$dir/peer.run" || true)"
done
