#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install, build, and run a one-machine cluster: `dragonfly up` runs a scheduler, a seed peer
# and a peer in one process (mutual TLS between them, certificates made on first start),
# then `dragonfly get` fetches a 64 MiB file from a local nginx origin through it and says
# where the bytes came from: the seed fetched the file from the origin once, the peer took it
# from the seed, and a repeat comes from the peer's cache. The cluster's data dir is a temp
# dir here (so the get names its socket); with the default, /var/lib/dragonfly, a plain
# `dragonfly get URL -O FILE` finds it. Everything is stopped and removed at the end.
set -eu
cd "$(dirname "$0")/.."
. scripts/quickstart-lib.sh
qs_build

dir=$(mktemp -d /tmp/dragonfly-quickstart-XXXXXX)
up=
cleanup() {
	[ -n "$up" ] && kill "$up" 2>/dev/null && wait "$up" 2>/dev/null
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

origin_start "$dir"

# The seed fetches from the origin because the scheduler asks it to, and a download another
# host asks for may not reach loopback unless allowed (README "Back-to-source policy"): the
# origin here is nginx on 127.0.0.1, so allow exactly that.
echo "== dragonfly up"
./dragonfly up --data-dir "$dir/cluster" --back-to-source-allow 127.0.0.1 \
	--ready-file "$dir/up.ready" --log-file "$dir/up.log" >"$dir/up.out" &
up=$!
i=0
while [ ! -s "$dir/up.ready" ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "dragonfly up did not start:"; cat "$dir/up.out" "$dir/up.log"; exit 1; }
	sleep 0.1
done
grep -v '^dragonfly cert:' "$dir/up.out"

url="http://127.0.0.1:$port/file.bin"
echo "== dragonfly get $url"
./dragonfly get "$url" -O "$dir/out.bin" --socket "$dir/cluster/dfdaemon.sock" --no-progress
cmp "$dir/www/file.bin" "$dir/out.bin"
echo "the output is byte-identical to the origin's file"
sent=$(origin_sent "$dir")
echo "origin sent $sent bytes for a $(stat -c %s "$dir/www/file.bin")-byte file (to the seed)"
echo "== again: from the peer's cache"
./dragonfly get "$url" -O "$dir/again.bin" --socket "$dir/cluster/dfdaemon.sock" --no-progress
cmp "$dir/www/file.bin" "$dir/again.bin"
echo "== the scheduler's view (its /metrics)"
curl -s http://127.0.0.1:8000/metrics | grep -E '^dragonfly_scheduler_(bytes|pieces)_from'
echo "== Ctrl-C (SIGTERM): every role stops cleanly"
kill -TERM "$up"
rc=0
wait "$up" || rc=$?
up=
echo "dragonfly up exited $rc"
[ "$rc" -eq 0 ]
