# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034 # SYS_* and FETCH are read by bench-swarm.sh
# bench-swarm.sh plug-in "aria2": the BitTorrent baseline of perf.md. opentracker (Debian's
# build is whitelist-only, so the torrent's info hash is whitelisted) and an aria2c seeder
# run on hs; the seeder holds the file and plays the origin role, so "origin bytes" are the
# seed host's veth egress (interface bytes incl. headers and BitTorrent messages, as
# perf.md's "seed egress"). Each peer runs one aria2c that stays to seed after it
# completes; its completion time is taken by aria2's --on-bt-download-complete hook
# (after the last piece is hash-checked, before seeding). aria2 defaults otherwise.

SYS_ORIGIN_HOW="seed host hs veth egress; the BT seeder is the origin"
SYS_SEED_HOST=hs
SYS_CLIENT_SERVER=0

BT_PORT=6881 # aria2 listen port (each host has its own namespace)
TRACKER_PORT=6969

# Options shared by the seeder and the leechers: no DHT/LPD (tracker only), no IPv6, no
# preallocation, quiet console, seed until killed (ratio 0 = no ratio limit).
ARIA2_COMMON=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --disable-ipv6=true
	--file-allocation=none --summary-interval=0 --console-log-level=warn
	--seed-ratio=0.0 --listen-port="$BT_PORT" --allow-overwrite=true --auto-file-renaming=false
	--on-bt-download-complete="$BENCH_DIR/aria2-done-hook.sh")

sys_packages() { echo aria2c aria2 opentracker opentracker mktorrent mktorrent; }

sys_check() {
	local kib=$PIECE_KIB
	# mktorrent takes the piece length as a power of two of at least 32 KiB.
	while ((kib > 1 && kib % 2 == 0)); do kib=$((kib / 2)); done
	((kib == 1 && PIECE_KIB >= 32)) || die "PIECE_KIB must be a power of two >= 32 (got $PIECE_KIB)" 2
}

TORRENT=""

sys_start() {
	local bt="$RUN/bt" log2=10 kib=$PIECE_KIB hash
	mkdir -p "$bt"
	while ((kib > 1)); do kib=$((kib / 2)) log2=$((log2 + 1)); done
	TORRENT="$bt/file.torrent"
	mktorrent -a "http://$IP_SEED:$TRACKER_PORT/announce" -l "$log2" -n file -o "$TORRENT" \
		"$PAYLOAD" >"$LOGDIR/mktorrent.log" 2>&1 || return 1
	hash=$(aria2c -S "$TORRENT" | awk '/^Info Hash:/ { print $3 }')
	[ -n "$hash" ] || return 1
	echo "$hash" >"$bt/whitelist.txt"
	# The tracker chroots to $bt and reads the whitelist from there.
	hstart hs tracker opentracker -i "$IP_SEED" -p "$TRACKER_PORT" -P "$TRACKER_PORT" \
		-d "$bt" -w whitelist.txt || return 1
	wait_listen hs "$TRACKER_PORT" || return 1
	# Seeder: -V hash-checks the payload; the hook marks it ready once it seeds.
	hstart hs seeder env DFB_DONE="$RUN/seed-ready" aria2c "${ARIA2_COMMON[@]}" -V \
		-d "$PAYLOAD_DIR" "$TORRENT" || return 1
	wait_file "$RUN/seed-ready" && wait_listen hs "$BT_PORT"
	sleep 1 # let the seeder's first announce reach the tracker
}

sys_fetch() { FETCH=(aria2c "${ARIA2_COMMON[@]}" -d "$(dirname "$2")" "$TORRENT"); }

sys_origin_bytes() { egress_of hs; }
