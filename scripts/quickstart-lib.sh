# shellcheck shell=sh
# SPDX-License-Identifier: Apache-2.0
# Sourced by the quickstarts (POSIX sh, from the top of the tree). qs_build installs the
# dependencies and builds. origin_start DIR serves a random 64 MiB DIR/www/file.bin from nginx
# on 127.0.0.1:$port (set here), logging the body bytes of each response to DIR/access.log;
# DIR/nginx.pid stops it. origin_sent DIR prints the body bytes sent so far.
qs_build() {
	sh scripts/install-deps.sh
	make -j"$(nproc)"
	./dragonfly version
}

origin_start() {
	chmod 755 "$1" # nginx workers read the origin files from here
	mkdir -p "$1/www"
	head -c $((64 * 1024 * 1024)) /dev/urandom >"$1/www/file.bin"
	port=$((20000 + $$ % 20000))
	cat >"$1/nginx.conf" <<CONF
worker_processes 1;
pid $1/nginx.pid;
error_log $1/nginx-error.log;
events { worker_connections 64; }
http {
    log_format bytes '\$body_bytes_sent';
    access_log $1/access.log bytes;
    sendfile on;
    server { listen 127.0.0.1:$port; root $1/www; }
}
CONF
	nginx -c "$1/nginx.conf"
}

origin_sent() {
	awk '{s += $1} END {print s + 0}' "$1/access.log"
}
