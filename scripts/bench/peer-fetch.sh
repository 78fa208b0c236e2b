#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs inside one peer host (network namespace + cgroup) for bench-swarm.sh.
#
#   peer-fetch.sh GO_FIFO DONE_FILE CMD [ARGS...]
#
# Blocks until the harness opens GO_FIFO for writing (every peer is released at the same
# instant), runs CMD, and on exit writes "<exit status>" to DONE_FILE.rc and, if CMD
# succeeded and DONE_FILE does not exist yet, "<epoch seconds with microseconds>" to
# DONE_FILE. A system whose fetch command keeps running after the download is complete
# (a BitTorrent client that stays to seed) writes DONE_FILE itself from a completion hook;
# DFB_DONE carries the path for such hooks.
set -u
go=$1 done=$2
shift 2
export DFB_DONE="$done"

: <"$go" # open() returns when the harness opens the FIFO: that is the start signal
"$@"
rc=$?
end=$EPOCHREALTIME
if [ "$rc" -eq 0 ] && [ ! -e "$done" ]; then
	printf '%s\n' "$end" >"$done.tmp" && mv -f "$done.tmp" "$done"
fi
printf '%s\n' "$rc" >"$done.rc.tmp" && mv -f "$done.rc.tmp" "$done.rc"
exit "$rc"
