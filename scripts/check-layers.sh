#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Dependencies point down only: common <- net <- rpc, common <- store, common <- proto, and
# roles use any of {rpc, store, net, proto, common}. A role never includes another role's files. Checks #include
# lines of every file under src/ and include/df/.
#
# Within a role, its modules include one another without a circle. A module is a header of
# the role's directory (src/peer/peer_task.h is module peer_task) with the files whose name
# begins with the header's name and no longer one's (peer_task.c, peer_task_*.c): its own
# private files (sched_state_int.h is sched_state's). A file that no header names is a module of its own, and so is the role's
# <prefix>_main.c: it puts the modules together, and may include any. Circles still being
# taken apart are listed in $pending_circles as "<dir>: <modules, sorted>"; the list may only
# shrink, and an entry that is no circle any more must leave it.
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
	peer:* | scheduler:* | mgr:* | cli:*)
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
pending_circles=''

# module_of DIR FILE: the longest header name of DIR that FILE's name is, or begins with + "_"
module_of() {
	name=$(basename "$2" | sed 's/\.[ch]$//')
	case "$name" in *_main)
		echo "$name"
		return
		;;
	esac
	best=$name
	best_len=0
	for h in "$1"/*.h; do
		[ -e "$h" ] || continue
		m=$(basename "$h" .h)
		case "$m" in *_int) continue ;; esac # a module's private header, not a module
		case "$name" in
		"$m" | "$m"_*)
			if [ "${#m}" -gt "$best_len" ]; then
				best=$m
				best_len=${#m}
			fi
			;;
		esac
	done
	echo "$best"
}

# circles DIR: each set of modules of DIR that include one another in a circle, one sorted
# line each (module edges in, reachability by closure: a role has a few dozen modules at most)
circles() {
	for f in "$1"/*.[ch]; do
		[ -e "$f" ] || continue
		from=$(module_of "$1" "$f")
		for inc in $(sed -n 's/^#include "\([^"/]*\)".*/\1/p' "$f"); do
			[ -e "$1/$inc" ] || continue
			to=$(module_of "$1" "$inc")
			[ "$from" = "$to" ] || echo "$from $to"
		done
	done | awk '
	BEGIN { n = 0 }
	{ if (!($1 in id)) { id[$1] = n; name[n++] = $1 } if (!($2 in id)) { id[$2] = n; name[n++] = $2 }
	  r[id[$1], id[$2]] = 1 }
	END {
		for (k = 0; k < n; k++) for (i = 0; i < n; i++) if (r[i, k]) for (j = 0; j < n; j++)
			if (r[k, j]) r[i, j] = 1
		for (i = 0; i < n; i++) {
			if (seen[i] || !r[i, i]) continue
			line = ""
			for (j = 0; j < n; j++) if (r[i, j] && r[j, i]) { seen[j] = 1; line = line " " name[j] }
			print substr(line, 2)
		}
	}' | while read -r set; do
		echo "$set" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'
		echo
	done
}

found=
for d in src/*/; do
	d=${d%/}
	case "$d" in src/common | src/net | src/rpc | src/store | src/proto) continue ;; esac
	for set in $(circles "$d" | tr ' ' '+'); do
		entry="$d: $(echo "$set" | tr '+' ' ')"
		found="$found$entry
"
		if ! echo "$pending_circles" | grep -qxF "$entry"; then
			echo "check-layers: include circle among the modules of $entry" >&2
			bad=1
		fi
	done
done
echo "$pending_circles" | while read -r entry; do
	[ -n "$entry" ] || continue
	if ! echo "$found" | grep -qxF "$entry"; then
		echo "check-layers: \"$entry\" is no circle any more: drop it from pending_circles" >&2
		exit 1
	fi
done || bad=1

[ "$bad" -eq 0 ] && echo "check-layers: ok"
exit "$bad"
