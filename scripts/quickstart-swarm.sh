#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The swarm by hand (README "A swarm by hand"), after the quickstart: a local nginx origin, a
# scheduler, a seed peer and three peers on 127.0.0.x. All three peers `dragonfly get` the
# same 64 MiB file at once; the origin serves it once (to the seed) and the peers feed each
# other. Then a repeat comes from a peer's cache. The roles talk mutual TLS with
# certificates from `dragonfly cert` (README "Security"); PLAINTEXT=1 runs them with
# --plaintext instead.
# Everything runs in a temp dir and is stopped at the end.
set -eu
cd "$(dirname "$0")/.."
. scripts/quickstart-lib.sh
qs_build

dir=$(mktemp -d /tmp/dragonfly-swarm-XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

origin_start "$dir"

# tls HOST ROLE: the flags that give HOST its cluster certificate; with PLAINTEXT=1 the
# flag that chooses plaintext (no daemon that others can reach runs without TLS by chance).
if [ "${PLAINTEXT:-0}" != 1 ]; then
	./dragonfly cert ca --dir "$dir/tls/ca" >/dev/null
fi
tls() {
	if [ "${PLAINTEXT:-0}" = 1 ]; then
		echo --plaintext
		return 0
	fi
	./dragonfly cert issue --dir "$dir/tls/ca" --role "$2" --host "$1" --out "$dir/tls/$1" >/dev/null
	echo "--tls-cert $dir/tls/$1.crt --tls-key $dir/tls/$1.key --tls-ca $dir/tls/ca/ca.crt"
	[ "$2" = scheduler ] || echo "--hostname $1"
}

# start NAME ARGS...: run `dragonfly ARGS` in the background until its ready file exists.
start() {
	name=$1
	shift
	./dragonfly "$@" --ready-file "$dir/$name.ready" --log-file "$dir/$name.log" &
	pids="$pids $!"
	i=0
	while [ ! -s "$dir/$name.ready" ]; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || { echo "$name did not start:"; cat "$dir/$name.log"; exit 1; }
		sleep 0.1
	done
	echo "$name ready: $(cat "$dir/$name.ready")"
}

# (tls's output is a list of flags: it is split on purpose, and $dir has no spaces)
# shellcheck disable=SC2046
start scheduler scheduler --listen 127.0.0.10:8002 --metrics-listen 127.0.0.10:8000 \
	$(tls sched scheduler)
# The seed fetches from the origin because the scheduler asks it to, and a download another
# host asks for may not reach loopback unless allowed (backToSource.allow, see README
# "Back-to-source policy"): the origin here is nginx on 127.0.0.1, so allow exactly that.
# shellcheck disable=SC2046
start seed peer --seed --ip 127.0.0.11 --data-dir "$dir/seed" --scheduler 127.0.0.10:8002 \
	--back-to-source-allow 127.0.0.1 $(tls seed seed)
for i in 1 2 3; do
	# shellcheck disable=SC2046
	start "peer$i" peer --ip "127.0.0.2$i" --data-dir "$dir/peer$i" --scheduler 127.0.0.10:8002 \
		$(tls "peer$i" peer)
done

url="http://127.0.0.1:$port/file.bin"
echo "== three peers get $url at once"
for i in 1 2 3; do
	./dragonfly get "$url" -O "$dir/out$i.bin" --socket "$dir/peer$i/dfdaemon.sock" \
		--no-progress &
	gets="${gets:-} $!"
done
for p in $gets; do wait "$p"; done
for i in 1 2 3; do cmp "$dir/www/file.bin" "$dir/out$i.bin"; done
echo "all three outputs are byte-identical to the origin's file"
sent=$(origin_sent "$dir")
echo "origin sent $sent bytes for a $(stat -c %s "$dir/www/file.bin")-byte file"
echo "== peer1 again: from its cache"
./dragonfly get "$url" -O "$dir/again.bin" --socket "$dir/peer1/dfdaemon.sock" --no-progress
cmp "$dir/www/file.bin" "$dir/again.bin"
echo "== the scheduler's view"
curl -s http://127.0.0.10:8000/metrics | grep -E '^dragonfly_scheduler_(bytes|pieces)_from'
