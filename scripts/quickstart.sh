#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install, build, and show what exists working: a peer daemon on 127.0.0.1 downloads a file
# from a local nginx origin with `dragonfly get`, then serves the same file again from its
# cache without touching the origin. Everything runs in a temp dir and is stopped at the end.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
make -j"$(nproc)"
./dragonfly version

dir=$(mktemp -d /tmp/dragonfly-quickstart-XXXXXX)
chmod 755 "$dir" # nginx workers read the origin files from here
peer_pid=
cleanup() {
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir -p "$dir/www"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$dir/www/file.bin"
port=$((20000 + $$ % 20000))
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 64; }
http {
    access_log $dir/access.log;
    sendfile on;
    server { listen 127.0.0.1:$port; root $dir/www; }
}
CONF
nginx -c "$dir/nginx.conf"

./dragonfly peer --ip 127.0.0.1 --rpc-port 0 --upload-port 0 --data-dir "$dir/peer" \
	--ready-file "$dir/peer.ready" --log-file "$dir/peer.log" &
peer_pid=$!
i=0
while [ ! -s "$dir/peer.ready" ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "peer did not start:"; cat "$dir/peer.log"; exit 1; }
	sleep 0.1
done
echo "peer ready: $(cat "$dir/peer.ready")"

url="http://127.0.0.1:$port/file.bin"
echo "== first get: from the origin"
./dragonfly get "$url" -O "$dir/out1.bin" --socket "$dir/peer/dfdaemon.sock"
echo "== second get: from the peer's cache"
./dragonfly get "$url" -O "$dir/out2.bin" --socket "$dir/peer/dfdaemon.sock"
cmp "$dir/www/file.bin" "$dir/out1.bin"
cmp "$dir/www/file.bin" "$dir/out2.bin"
echo "both outputs are byte-identical to the origin's file"
echo "origin requests: $(wc -l <"$dir/access.log") (one probe plus one ranged GET per piece, once)"
upload=$(sed -n 's/.*"upload":"\([^"]*\)".*/\1/p' "$dir/peer.ready")
curl -s "http://$upload/metrics" | grep -v '^#'
