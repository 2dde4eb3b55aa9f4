#!/usr/bin/env python3
"""The NATS hop's cost, from perf/bench-cluster.sh output.

Usage: perf/cluster_table.py DIR > table.md

Reads DIR/<layout>/run<N>/{latency.json,ramp.json,cpu.txt} for the
layouts "one" (publisher and subscribers on one ringcast) and "nats"
(publisher on node A, subscribers on node B, one nats-server between) and
prints, per layout, min-max and median over runs of: latency p50 and p99 at
the fixed rate, CPU per delivery (every server process: ringcast, or A + B
+ nats-server, CPU-microseconds per delivery), messages lost, and the
ramp's highest sustained deliveries/s; then nats over one for the medians,
with, in brackets, the worst nats run over the best one run."""
import glob
import json
import os
import statistics
import sys


def cpu_us_per_delivery(run, received):
    """CPU-us of all the run's server processes over its deliveries."""
    try:
        with open(os.path.join(run, "cpu.txt")) as f:
            lines = [l.split() for l in f if l.strip()]
    except OSError:
        return None
    hz = next((int(l[1]) for l in lines if l[0] == "clk_tck"), 100)
    rows = [l for l in lines if l[0] != "clk_tck"]
    half = len(rows) // 2
    before = {p: int(t) for p, t in rows[:half]}
    after = {p: int(t) for p, t in rows[half:]}
    used = sum(after[p] - before.get(p, 0) for p in after)
    if not received:
        return None
    return used / hz * 1e6 / received


def per_process_us_per_msg(run, published):
    """CPU-us per published message of each server process, in the order
    bench-cluster.sh starts them (nats: nats-server, A, B)."""
    try:
        with open(os.path.join(run, "cpu.txt")) as f:
            lines = [l.split() for l in f if l.strip()]
    except OSError:
        return []
    hz = next((int(l[1]) for l in lines if l[0] == "clk_tck"), 100)
    rows = [l for l in lines if l[0] != "clk_tck"]
    half = len(rows) // 2
    after = {p: int(t) for p, t in rows[half:]}
    if not published:
        return []
    return [(after[p] - int(t)) / hz * 1e6 / published for p, t in rows[:half]]


def load(d, layout):
    out = []
    for run in sorted(glob.glob(os.path.join(d, layout, "run*"))):
        try:
            with open(os.path.join(run, "latency.json")) as f:
                lat = json.load(f)["result"]
        except (OSError, ValueError, KeyError):
            continue
        row = {
            "p50": lat["latency_us"]["p50"] / 1000,
            "p99": lat["latency_us"]["p99"] / 1000,
            "lost": lat.get("loss_pct", 0.0),
            "cpu": cpu_us_per_delivery(run, lat.get("received")),
            "procs": per_process_us_per_msg(run, lat.get("published")),
            "max": None,
        }
        try:
            with open(os.path.join(run, "ramp.json")) as f:
                ms = json.load(f).get("max_sustained") or {}
            row["max"] = ms.get("deliveries_per_sec")
        except (OSError, ValueError):
            pass
        out.append(row)
    return out


def cell(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    return f"{fmt(min(vals))}-{fmt(max(vals))} ({fmt(statistics.median(vals))})"


def ratio(a, b, worse_is_high=True):
    a = [v for v in a if v is not None]
    b = [v for v in b if v is not None]
    if not a or not b:
        return "-"
    med = statistics.median(a) / statistics.median(b)
    worst = (max(a) / min(b)) if worse_is_high else (min(a) / max(b))
    return f"{med:.2f} ({worst:.2f})"


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    cfg = {}
    for p in glob.glob(os.path.join(d, "*", "run*", "latency.json")):
        with open(p) as f:
            cfg = json.load(f).get("config", {})
        break
    rows = {l: load(d, l) for l in ("one", "nats")}
    print(f"{cfg.get('subscribers_opened', '?')} subscribers, {cfg.get('size', '?')}-byte "
          f"messages at {cfg.get('rate', '?')} msg/s for the latency and CPU columns; "
          f"runs: one {len(rows['one'])}, nats {len(rows['nats'])}; min-max (median)\n")
    print("| layout | p50 ms | p99 ms | CPU us/delivery, all servers | lost % | max deliveries/s |")
    print("|---|---|---|---|---|---|")
    f2 = lambda v: f"{v:.2f}"
    f0 = lambda v: f"{v:,.0f}"
    for l, rs in rows.items():
        print(f"| {l} | {cell([r['p50'] for r in rs], f2)} | {cell([r['p99'] for r in rs], f2)} | "
              f"{cell([r['cpu'] for r in rs], f2)} | {cell([r['lost'] for r in rs], lambda v: f'{v:.3f}')} | "
              f"{cell([r['max'] for r in rs], f0)} |")
    n, o = rows["nats"], rows["one"]
    print(f"| nats / one: median (worst over best) | {ratio([r['p50'] for r in n], [r['p50'] for r in o])} | "
          f"{ratio([r['p99'] for r in n], [r['p99'] for r in o])} | "
          f"{ratio([r['cpu'] for r in n], [r['cpu'] for r in o])} | - | "
          f"{ratio([r['max'] for r in n], [r['max'] for r in o], worse_is_high=False)} |")
    names = {"one": ["ringcast"], "nats": ["nats-server", "node A (publisher side)",
                                            "node B (subscriber side)"]}
    print("\nCPU-us per published message, by process, at the fixed rate; min-max (median):\n")
    print("| layout | process | CPU us/message |")
    print("|---|---|---|")
    for l, rs in rows.items():
        for i, name in enumerate(names[l]):
            vals = [r["procs"][i] for r in rs if len(r["procs"]) > i]
            print(f"| {l} | {name} | {cell(vals, lambda v: f'{v:.0f}')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
