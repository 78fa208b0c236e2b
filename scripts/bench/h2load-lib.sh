# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=sh disable=SC2034,SC2154  # sets n, bad, rate for the caller; $tmp is the caller's
# What the h2load benchmarks (scripts/bench-rpc.sh, scripts/bench-manager.sh) read the same
# way. Sourced (POSIX sh); uses the caller's $tmp.

# The CPU a process has used so far (utime + stime, in clock ticks): unlike req/s it hardly
# depends on what else runs on the machine.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# h2load's summary lines of output file $1, then its rate in req/s in $rate.
h2load_rate() {
	grep -E '^finished in|^requests:|^status codes:' "$1"
	rate=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$1")
}

# The per-request durations of h2load's --log-file $2 (microseconds, third column) sorted
# into $tmp/lat; $n requests, $bad of them not 200. No request logged: $1 says so, exit 1.
h2load_latencies() {
	cut -f3 "$2" | sort -n >"$tmp/lat"
	n=$(wc -l <"$tmp/lat")
	bad=$(cut -f2 "$2" | grep -vc '^200$' || true)
	if [ "$n" -eq 0 ]; then
		echo "$1: no requests logged" >&2
		exit 1
	fi
}

# The $1-th percentile of $tmp/lat (after h2load_latencies).
pct() { sed -n "$(((n * $1 + 99) / 100))p" "$tmp/lat"; }
