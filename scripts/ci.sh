#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The whole test command: install dependencies, build, run every test in the release build
# (plus the CI-sized swarm benchmark and its uneven and churn scenarios as correctness
# checks, and the install, package and systemd unit checks) and again under ASan+UBSan,
# run each libFuzzer target for a bounded time, and end with one line "N passed, N failed".
# Exit status is non-zero on any failure.
set -u
cd "$(dirname "$0")/.." || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc)}
logdir=$(mktemp -d /tmp/df-ci-XXXXXX)
passed=0
failed=0

# step NAME CMD...: run a step; check suites are counted by their summary lines, any
# other step counts as one test.
step() {
	local name=$1 t0=$SECONDS
	shift
	echo "==> $name"
	"$@" >"$logdir/$name.log" 2>&1
	account "$name" $? $((SECONDS - t0))
}

# account NAME RC SECONDS: count and report a finished step from its log.
account() {
	local name=$1 log="$logdir/$1.log" rc=$2 p f
	read -r p f < <(awk '/^[0-9]+%: Checks: /{gsub(",", ""); c += $3; x += $5 + $7}
		END { print c - x + 0, x + 0 }' "$log")
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -eq 0 ]; then p=1; else f=1; fi
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	grep -E '^[0-9]+%: Checks: |^check-|^replay: ' "$log" | sed 's/^/    /'
	echo "    ($3 s)"
	if [ "$rc" -ne 0 ]; then
		echo "    FAILED ($name, exit $rc); last lines of $log:"
		tail -n 60 "$log" | sed 's/^/    | /'
	fi
	return "$rc"
}

step install-deps scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
step build make -j"$JOBS" || { echo "$passed passed, $((failed)) failed"; exit 1; }
step source-checks make check-src
step format-check make format-check
# make install, the .deb (lintian), the units' systemd-analyze verify and security scores.
step package make check-pkg
step unit make -j"$JOBS" check-unit
step fuzz-replay make -j"$JOBS" check-fuzz
step integration make -j"$JOBS" check-it
step console make check-console
# The swarm benchmark at CI size (N=4, 16 MiB, network namespaces): correctness, not timing.
step swarm-ci env DF_BIN="$PWD/dragonfly" scripts/bench-swarm.sh --ci
# Two of its scenarios, same size: a quarter of the peers at a tenth of the upload, and a
# quarter killed with kill -9 mid-transfer (every survivor must finish, every copy verify).
step swarm-ci-uneven env DF_BIN="$PWD/dragonfly" SCENARIO=uneven NS=4 scripts/bench-swarm.sh --ci
step swarm-ci-churn env DF_BIN="$PWD/dragonfly" SCENARIO=churn NS=6 scripts/bench-swarm.sh --ci
step san-unit make -j"$JOBS" VARIANT=debug SANITIZE=address,undefined check-unit
step san-fuzz-replay make -j"$JOBS" VARIANT=debug SANITIZE=address,undefined check-fuzz
step san-integration make -j"$JOBS" VARIANT=debug SANITIZE=address,undefined check-it
# Each target for FUZZ_SECONDS, JOBS of them at once (a libFuzzer run uses one core).
if step fuzz-build make -j"$JOBS" fuzz; then
	set -- build/fuzz/fuzz_*
	while [ $# -gt 0 ]; do
		lane=()
		while [ $# -gt 0 ] && [ ${#lane[@]} -lt "$JOBS" ]; do
			n=$(basename "$1" | sed 's/^fuzz_//')
			mkdir -p "$logdir/corpus-$n"
			("$1" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
				"$logdir/corpus-$n" "test/fuzz/corpus/$n" >"$logdir/fuzz-$n.log" 2>&1
			echo $? >"$logdir/fuzz-$n.rc") &
			lane+=("$n")
			shift
		done
		t0=$SECONDS
		wait
		for n in "${lane[@]}"; do
			echo "==> fuzz-$n"
			account "fuzz-$n" "$(cat "$logdir/fuzz-$n.rc")" $((SECONDS - t0))
		done
	done
fi
rm -rf "$logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
