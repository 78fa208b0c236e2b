#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Dependencies point down only: common <- net <- rpc, common <- store, common <- proto, and
# roles use any of {rpc, store, net, proto, common}. A role never includes another role's files. Checks #include
# lines of every file under src/ and include/df/.
set -eu
cd "$(dirname "$0")/.."

layer_of_header() {
	case "$1" in
	df_* | log | xmalloc) echo common ;;
	net_*) echo net ;;
	rpc_*) echo rpc ;;
	store_*) echo store ;;
	proto_*) echo proto ;;
	roles) echo roles ;;
	*) echo unknown ;;
	esac
}

allowed() { # allowed DIR LAYER
	case "$1:$2" in
	*:common) return 0 ;;
	net:net | rpc:net | rpc:rpc | store:store | proto:proto) return 0 ;;
	peer:* | scheduler:* | manager:* | cli:*)
		case "$2" in net | rpc | store | proto | roles) return 0 ;; esac ;;
	main:roles) return 0 ;;
	esac
	return 1
}

bad=0
for f in $(find src include/df -name '*.[ch]' | sort); do
	case "$f" in
	src/main.c) dir=main ;;
	include/df/*) dir=$(layer_of_header "$(basename "$f" .h)") ;;
	src/*) dir=$(echo "$f" | cut -d/ -f2) ;;
	esac
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case "$inc" in
		df/*.h)
			layer=$(layer_of_header "$(basename "$inc" .h)")
			if [ "$layer" = unknown ] || ! allowed "$dir" "$layer"; then
				echo "check-layers: $f ($dir) may not include $inc ($layer)" >&2
				bad=1
			fi
			;;
		*/*)
			echo "check-layers: $f: include a shared header as \"df/...\", not \"$inc\"" >&2
			bad=1
			;;
		esac
	done
done
[ "$bad" -eq 0 ] && echo "check-layers: ok"
exit "$bad"
