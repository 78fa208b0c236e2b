#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# What common and net provide is written once: no second clock, base64, hash map,
# Prometheus text writer or path router in the tree. Each rule is a pattern that only the
# shared module may contain; a hit elsewhere names the module to use instead.
set -eu
cd "$(dirname "$0")/.."

bad=0

# rule PATTERN OWNER WHAT [DIR...]: grep -E PATTERN over the DIRs (default src/ and include/),
# except in OWNER files
rule() {
	pat=$1 owner=$2 what=$3
	shift 3
	[ $# -gt 0 ] || set -- src include
	hits=$(grep -rnE -- "$pat" "$@" | grep -vE "^($owner):" || true)
	if [ -n "$hits" ]; then
		printf '%s\n' "$hits" | sed "s|^|check-reuse: |; s|\$| ($what)|" >&2
		bad=1
	fi
}

rule 'clock_gettime|gettimeofday' 'src/common/df_time\.c' 'read clocks with df_time_*'
rule 'mbedtls_base64_|EVP_(En|De)codeBlock|ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' \
	'src/common/df_b64\.c' 'use df_b64'
rule '^[a-z0-9_]+_map_(put|get|del)\(' 'src/common/df_map\.c' 'use df_map'
rule '# (HELP|TYPE) ' 'src/common/df_metrics\.c' 'register metrics with df_metrics'
# Roles pick a request's handler with net_route, not by comparing its path themselves.
rule 'net_http_req_path\(' '' 'route with net_route' $(ls -d src/peer src/scheduler src/mgr src/cli 2>/dev/null)

[ "$bad" -eq 0 ] && echo "check-reuse: ok"
exit "$bad"
