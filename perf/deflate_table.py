#!/usr/bin/env python3
"""Pools the "run ..." lines of deflate-bench outputs (perf/deflate_bench.c)
and prints one Markdown table: per payload and point, the median and
min-max of ns per message and MB/s over every run in every file, the
number of runs, and the compressed ratio (the same in every run).

    perf/deflate_table.py FILE...
"""
import statistics
import sys


def main():
    points = {}
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            for line in f:
                w = line.split()
                if len(w) != 11 or w[0] != "run":
                    continue
                key = (w[2], w[3], w[4])
                p = points.setdefault(key, {"ns": [], "mbs": [], "ratio": w[10]})
                p["ns"].append(float(w[6]))
                p["mbs"].append(float(w[8]))
    print("| payload | op | library | runs | ns/msg median (min–max) "
          "| MB/s median (min–max) | compressed/original |")
    print("|---|---|---|---|---|---|---|")
    for (payload, op, lib), p in points.items():
        ns, mbs = p["ns"], p["mbs"]
        print(f"| {payload} | {op} | {lib.replace('-L', ' L')} | {len(ns)} "
              f"| {statistics.median(ns):.0f} ({min(ns):.0f}–{max(ns):.0f}) "
              f"| {statistics.median(mbs):.1f} ({min(mbs):.1f}–{max(mbs):.1f}) "
              f"| {p['ratio']} |")


if __name__ == "__main__":
    main()
