#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every global symbol defined in our library carries its directory's prefix.
# Usage: check-symbols.sh build/<variant>/libdf.a
set -eu
lib=${1:?usage: check-symbols.sh LIB}

nm -A -g --defined-only "$lib" | awk '
$2 ~ /^[TDBRCV]$/ {
	n = split($1, part, ":"); obj = part[n - 1]; sym = $3
	ok = 0
	if (sym ~ /^df_/ || sym ~ /^log_/ || sym ~ /^x(malloc|calloc|realloc|strdup|strndup|asprintf)$/ ||
	    sym == "fatal" || sym == "fatalx") { if (obj !~ /^(net|rpc|store|proto|peer|sched|mgr|cli)_/) ok = 1 }
	if (sym ~ /^net_/ && obj ~ /^net_/) ok = 1
	if (sym ~ /^rpc_/ && obj ~ /^rpc_/) ok = 1
	if (sym ~ /^store_/ && obj ~ /^store_/) ok = 1
	if (sym ~ /^proto_/ && obj ~ /^proto_/) ok = 1
	if (sym ~ /^peer_/ && obj ~ /^peer_/) ok = 1
	if (sym ~ /^sched_/ && obj ~ /^sched_/) ok = 1
	if (sym ~ /^mgr_/ && obj ~ /^mgr_/) ok = 1
	if (sym ~ /^cli_/ && obj ~ /^cli_/) ok = 1
	if (!ok) { printf "check-symbols: %s exports unprefixed %s\n", obj, sym; bad = 1 }
}
END { if (bad) exit 1; print "check-symbols: ok" }'
