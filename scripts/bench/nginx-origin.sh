# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Sourced by bench-swarm.sh plug-ins: the HTTP origin on h0 (nginx, sendfile) and its byte
# count. Origin bytes are the sum of nginx's $body_bytes_sent over requests for /file
# (partial bodies of aborted transfers included), read from its access log.

ORIGIN_LOG=""

# origin_start: nginx on h0 serving PAYLOAD_DIR at http://IP_ORIGIN/file.
origin_start() {
	local d="$RUN/nginx"
	mkdir -p "$d/tmp"
	ORIGIN_LOG="$d/access.log"
	cat >"$d/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
	log_format dfb '\$request_uri \$status \$body_bytes_sent \$request_time';
	access_log $ORIGIN_LOG dfb;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 30s;
	default_type application/octet-stream;
	server {
		listen $IP_ORIGIN:80;
		root $PAYLOAD_DIR;
		location / { }
	}
}
CONF
	hstart h0 nginx nginx -c "$d/nginx.conf" -p "$d" -e stderr || return 1
	wait_listen h0 80
}

# origin_bytes: body bytes nginx sent for /file.
origin_bytes() {
	[ -f "$ORIGIN_LOG" ] || {
		echo 0
		return
	}
	awk '$1 ~ /^\/file/ { s += $3 } END { printf "%.0f\n", s }' "$ORIGIN_LOG"
}
