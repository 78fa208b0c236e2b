#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The wire contract is spelled once, in src/proto: no message kind ("...Request",
# "...Response") and no method path ("/scheduler.v2...", "/dfdaemon.v2...", "/manager.v2...")
# as a string literal in any other file under src/ or include/df/. Files still being moved
# onto src/proto are listed in $pending with the number of lines of such literals they may
# keep; the count may only go down, and a file leaves the list when it reaches 0.
set -eu
cd "$(dirname "$0")/.."

pending=''
pattern='"[a-z][A-Za-z]*(Request|Response)"|"/(scheduler|dfdaemon|manager)\.v2'

bad=0
for f in $(find src include/df -name '*.[ch]' | sort); do
	case "$f" in src/proto/* | include/df/proto_*) continue ;; esac
	n=$(grep -cE "$pattern" "$f" || true)
	allowed=$(echo "$pending" | awk -v f="$f" '$1 == f { print $2 }')
	if [ "$n" -gt "${allowed:-0}" ]; then
		echo "check-proto: $f spells $n wire names (allowed ${allowed:-0}); use df/proto_*.h" >&2
		grep -nE "$pattern" "$f" | sed 's/^/  /' >&2
		bad=1
	fi
done
[ "$bad" -eq 0 ] && echo "check-proto: ok"
exit "$bad"
