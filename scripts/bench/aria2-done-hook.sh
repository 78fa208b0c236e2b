#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# aria2c --on-bt-download-complete hook for bench-swarm.sh: aria2 calls it when the torrent
# is complete and verified, before it starts seeding. Records the completion time in the
# file named by DFB_DONE (set by peer-fetch.sh); the client keeps running to seed.
# Arguments from aria2 (GID, number of files, path) are not needed.
set -u
[ -n "${DFB_DONE:-}" ] || exit 0
[ -e "$DFB_DONE" ] && exit 0
printf '%s\n' "$EPOCHREALTIME" >"$DFB_DONE.tmp" && mv -f "$DFB_DONE.tmp" "$DFB_DONE"
