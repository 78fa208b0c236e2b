#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Who sent which pieces to whom, per time bin, from a traced bench-swarm run.

A run made with KEEP=1 DF_LOG_DEBUG=p2p keeps every peer's log in WORK/run/logs; each
"piece N fetch from ADDR" line and the "piece N recorded" line after it are one piece
received from a parent. Printed, one column a bin of --bin seconds from the first fetch:

  up      pieces each host (S: the seed) sent, and the total
  seed    pieces the seed sent that no peer had had from it before (new) and again (resent)
  held    pieces each peer held at the end of each bin
  est     with DF_LOG_DEBUG=p2p,sched: the scheduler's estimate of each host's upload at
          the end of each bin, Mbit/s (- not measured yet)

and then the seed's children in turn, with the pieces each had from it (new + again), and
the peers in the order they had their last piece, seconds after the first piece.

  scripts/bench/swarm-trace.py [--bin 2] /dev/shm/dfbench/run/logs
"""
import argparse
import collections
import glob
import os
import re
import sys

LINE = re.compile(r"T(\d+):(\d+):([\d.]+)Z .*piece (\d+) (?:fetch from (\S+)|recorded)")
EST = re.compile(r"T(\d+):(\d+):([\d.]+)Z .*sched: host (\S+) upload estimate \S+ -> ([\d.]+) Mbit/s")


def seconds(m):
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])


def host_name(addr):
    """h<I> for 10.231.0.(10+I), S for the seed host (scripts/bench-swarm.sh's plan)."""
    last = int(addr.rsplit(".", 1)[1])
    return "S" if last == 5 else "h%d" % (last - 10)


def read_peer(path):
    """[(seconds, piece, parent name)] of the pieces one peer received, in order."""
    got, asked = [], {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            t = seconds(m)
            piece = int(m[4])
            if m[5]:
                asked[piece] = host_name(m[5])
            elif piece in asked:
                got.append((t, piece, asked.pop(piece)))
    return got


def read_estimates(path):
    """{host name: [(seconds, Mbit/s)]} from the scheduler's log (empty without it)."""
    est = collections.defaultdict(list)
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            for line in f:
                m = EST.search(line)
                if m:
                    est[host_name(m[4].split("-")[0])].append((seconds(m), float(m[5])))
    return est


def row(label, values):
    return "%-9s| %s" % (label, " ".join("%3d" % v for v in values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=float, default=2.0, help="seconds a column (2)")
    ap.add_argument("logs", help="WORK/run/logs of a KEEP=1 DF_LOG_DEBUG=p2p run")
    a = ap.parse_args()
    peers = {}
    for path in glob.glob(os.path.join(a.logs, "peer-h*.log")):
        name = re.search(r"peer-(h\d+)\.log$", path)[1]
        peers[name] = read_peer(path)
    if not any(peers.values()):
        sys.exit("swarm-trace: no piece lines in %s (run with KEEP=1 DF_LOG_DEBUG=p2p)" % a.logs)
    t0 = min(g[0][0] for g in peers.values() if g)
    nbins = int((max(g[-1][0] for g in peers.values() if g) - t0) // a.bin) + 1
    order = sorted(peers, key=lambda n: int(n[1:]))
    up = collections.defaultdict(lambda: [0] * nbins)
    fresh, resent, seen = [0] * nbins, [0] * nbins, set()
    children = []  # [name, new, again] of the seed's children in turn
    for t, piece, parent, child in sorted(x + (n,) for n, g in peers.items() for x in g):
        b = int((t - t0) / a.bin)
        up[parent][b] += 1
        if parent == "S":
            again = piece in seen
            (resent if again else fresh)[b] += 1
            seen.add(piece)
            if not children or children[-1][0] != child:
                children.append([child, 0, 0])
            children[-1][2 if again else 1] += 1
    print("bins of %g s from the first piece" % a.bin)
    for name in ["S"] + order:
        if name in up:
            print(row(name + " up", up[name]) + " | %d" % sum(up[name]))
    print(row("all up", [sum(up[n][b] for n in up) for b in range(nbins)]))
    print(row("S new", fresh))
    print(row("S resent", resent))
    for name in order:
        held, n = [], 0
        for b in range(nbins):
            n += sum(1 for t, _, _ in peers[name] if int((t - t0) / a.bin) == b)
            held.append(n)
        print(row(name + " held", held))
    est = read_estimates(os.path.join(a.logs, "scheduler.log"))
    for name in ["S"] + order if est else []:
        cells = []
        for b in range(nbins):
            before = [v for t, v in est.get(name, []) if t < t0 + (b + 1) * a.bin]
            cells.append("%3.0f" % before[-1] if before else "  -")
        print("%-9s| %s" % (name + " est", " ".join(cells)))
    print("seed's children in turn (new + again):",
          ", ".join("%s %d+%d" % (c, n, g) for c, n, g in children))
    last = sorted((g[-1][0] - t0, name) for name, g in peers.items() if g)
    print("last piece (s):", ", ".join("%s %.2f" % (name, t) for t, name in last))


if __name__ == "__main__":
    main()
