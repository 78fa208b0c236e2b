# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034 # SYS_* and FETCH are read by bench-swarm.sh
# bench-swarm.sh plug-in "curl": the client-server reference. nginx on h0 serves the file;
# every peer host runs curl against it at the same instant. Time grows as N*F/u_origin.
# shellcheck source=scripts/bench/nginx-origin.sh
. "$BENCH_DIR/nginx-origin.sh"

SYS_ORIGIN_HOW="nginx \$body_bytes_sent on h0"
SYS_SEED_HOST=""
SYS_CLIENT_SERVER=1

sys_packages() { echo nginx nginx-light curl curl; }
sys_check() { :; }
sys_start() { origin_start; }
sys_fetch() { FETCH=(curl -sS --fail --noproxy '*' -o "$2" "$ORIGIN_URL"); }
sys_origin_bytes() { origin_bytes; }
