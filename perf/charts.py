#!/usr/bin/env python3
"""Tables and charts from a perf/bench-matrix.sh output directory.

Usage: perf/charts.py OUT_DIR

Reads OUT_DIR/<scenario>/summary.json and OUT_DIR/<scenario>-rep/summary.json
(one entry per server run, written by bench-peers.sh), the runs' latency.json files, and OUT_DIR/idle<N>/summary.json;
writes OUT_DIR/matrix.md (markdown tables: max sustained deliveries/s with
ringcast's ratio to each peer, p99 latency at 50 msg/s, idle bytes per
subscriber) and, with gnuplot, OUT_DIR/throughput.png (max deliveries/s
against subscribers, one line per server, one panel per message size) and
OUT_DIR/latency_cdf.png (latency CDF of every server at 1,000 subscribers x
64 B, 50 msg/s).
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys

SCEN = {  # name: (subscribers, size, channels)
    "s100x64": (100, 64, 1), "s1000x64": (1000, 64, 1), "s10000x64": (10000, 64, 1),
    "s100x1k": (100, 1024, 1), "s1000x1k": (1000, 1024, 1), "s10000x1k": (10000, 1024, 1),
    "s100x16k": (100, 16384, 1), "s1000x16k": (1000, 16384, 1), "s10000x16k": (10000, 16384, 1),
    "ch100x100": (10000, 64, 100),
}
# One colour per server in every chart.
COLOUR = {"ringcast": "#d62728", "ringcast-w1": "#c49c94", "ringcast-w2": "#bcbd22", "ringcast-nobatch": "#ff9896", "ringcast-epoll": "#ff7f0e",
          "ringcast-ref": "#e377c2",
          "epoll-batched": "#1f77b4",
          "epoll-naive": "#aec7e8", "uws": "#2ca02c", "uws-cpp": "#98df8a", "lws": "#9467bd",
          "ws": "#8c564b", "nchan": "#7f7f7f"}
ORDER = ["ringcast", "ringcast-w1", "ringcast-w2", "ringcast-w2-msgring", "ringcast-ref", "ringcast-nobatch", "ringcast-epoll", "epoll-batched", "epoll-naive", "uws", "uws-cpp", "lws", "ws", "nchan"]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def runs_by_server(summary):
    out = {}
    for r in summary or []:
        out.setdefault(r["server"], []).append(r)
    return out


def servers_in(all_runs):
    seen = {s for runs in all_runs.values() for s in runs}
    return [s for s in ORDER if s in seen] + sorted(seen - set(ORDER))


def ok(r):
    return r.get("status") == "ok"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt_range(vals, scale, dec):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    lo, hi = min(vals) / scale, max(vals) / scale
    return ("%.*f" % (dec, lo)) if lo == hi else ("%.*f–%.*f" % (dec, lo, dec, hi))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    scen = {}
    for name in SCEN:
        # OUT/NAME (every server) and OUT/NAME-rep (more runs of some)
        s = []
        for d in (name, name + "-rep"):
            s += load(os.path.join(out, d, "summary.json")) or []
        if s:
            scen[name] = runs_by_server(s)
    servers = servers_in(scen)
    md = ["# bench-matrix results", "",
          "Max sustained deliveries/s (millions; loss < 0.1 %, p99 < 50 ms, 250 ms at 10,000 "
          "subscribers), min–max over runs; `rc/` columns are ringcast's median over the peer's "
          "median, and in brackets ringcast's worst run over the peer's best.", ""]
    peers = [s for s in servers if s != "ringcast"]
    md.append("| scenario | " + " | ".join(servers) + " | " +
              " | ".join("rc/" + p for p in peers) + " |")
    md.append("|---" * (1 + len(servers) + len(peers)) + "|")
    medians = {}
    lows, highs = {}, {}
    for name, runs in scen.items():
        subs, size, ch = SCEN[name]
        row = ["%s (%d × %d B%s)" % (name, subs, size, ", %d ch" % ch if ch > 1 else "")]
        for s in servers:
            vals = [r.get("max_deliveries_per_sec") for r in runs.get(s, []) if ok(r)]
            medians[(name, s)] = med(vals)
            got = [v for v in vals if v is not None]
            lows[(name, s)] = min(got) if got else None
            highs[(name, s)] = max(got) if got else None
            bad = [r["status"] for r in runs.get(s, []) if not ok(r)]
            cell = fmt_range(vals, 1e6, 2) if vals else ("failed: " + bad[0] if bad else "-")
            row.append(cell)
        rc = medians.get((name, "ringcast"))
        worst = lows.get((name, "ringcast"))
        for p in peers:
            pm, best = medians.get((name, p)), highs.get((name, p))
            row.append("%.2f (%.2f)" % (rc / pm, worst / best) if rc and pm and best else "-")
        md.append("| " + " | ".join(row) + " |")
    # ringcast's two backends: the epoll one against the epoll-batched peer
    # (target >= 1.0) and the io_uring one against the epoll one (>= 1.3).
    be = [(n, medians.get((n, "ringcast-epoll")), medians.get((n, "epoll-batched")),
           medians.get((n, "ringcast"))) for n in scen if medians.get((n, "ringcast-epoll"))]
    if be:
        md += ["", "ringcast's backends (medians): the epoll backend over the epoll-batched "
               "peer, and the io_uring backend over the epoll backend; in brackets the worst "
               "run of the first over the best of the second:", "",
               "| scenario | ringcast-epoll / epoll-batched | ringcast (io_uring) / ringcast-epoll |",
               "|---|---|---|"]

        def ratio(n, a, b):
            if not medians.get((n, a)) or not medians.get((n, b)):
                return "-"
            return "%.2f (%.2f)" % (medians[(n, a)] / medians[(n, b)], lows[(n, a)] / highs[(n, b)])
        for n, ep, pb, rc in be:
            md.append("| %s | %s | %s |" % (n, ratio(n, "ringcast-epoll", "epoll-batched"),
                                            ratio(n, "ringcast", "ringcast-epoll")))
    md += ["", "p50 / p99 latency (ms) in the latency run at 50 msg/s, min–max over runs:", ""]
    md.append("| scenario | " + " | ".join(servers) + " |")
    md.append("|---" * (1 + len(servers)) + "|")
    for name, runs in scen.items():
        row = [name]
        for s in servers:
            rs = [r for r in runs.get(s, []) if ok(r)]
            if not rs:
                row.append("-")
                continue
            row.append("%s / %s" % (fmt_range([r.get("p50_us") for r in rs], 1000, 1),
                                    fmt_range([r.get("p99_us") for r in rs], 1000, 1)))
        md.append("| " + " | ".join(row) + " |")
    idle_rows = []
    for n in (10000, 19000):
        s = load(os.path.join(out, "idle%d" % n, "summary.json"))
        if not s:
            continue
        for srv, runs in runs_by_server(s).items():
            for r in runs:
                base, rss = r.get("base_rss_kb"), r.get("latency_rss_kb")
                if ok(r) and base and rss:
                    idle_rows.append((srv, n, base, rss, (rss - base) * 1024.0 / n))
    if idle_rows:
        md += ["", "Idle memory: server VmRSS at start and with N idle subscribers connected:", "",
               "| server | subscribers | RSS at start (MB) | RSS with them (MB) | bytes per subscriber |",
               "|---|---|---|---|---|"]
        for srv, n, base, rss, per in sorted(idle_rows, key=lambda x: (ORDER.index(x[0]) if x[0] in ORDER else 99, x[1])):
            md.append("| %s | %d | %.1f | %.1f | %.0f |" % (srv, n, base / 1024, rss / 1024, per))
    with open(os.path.join(out, "matrix.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    charts(out, scen, servers, medians)
    return 0


def charts(out, scen, servers, medians):
    if not shutil.which("gnuplot"):
        print("charts: gnuplot not found; no PNGs", file=sys.stderr)
        return
    data = os.path.join(out, "chart-data")
    os.makedirs(data, exist_ok=True)
    # Throughput against subscribers: one file per (size, server).
    panels = []
    for size, label in ((64, "64 B"), (1024, "1 KiB"), (16384, "16 KiB")):
        plots = []
        for s in servers:
            pts = []
            for name, (subs, sz, ch) in SCEN.items():
                if sz == size and ch == 1 and medians.get((name, s)):
                    pts.append((subs, medians[(name, s)] / 1e6))
            if pts:
                fn = os.path.join(data, "tp-%d-%s.dat" % (size, s))
                with open(fn, "w") as f:
                    for x, y in sorted(pts):
                        f.write("%d %.4f\n" % (x, y))
                plots.append("'%s' using 1:2 with linespoints lw 2 lc rgb '%s' title '%s'" %
                             (fn, COLOUR.get(s, "#000000"), s))
        if plots:
            panels.append("set title 'max sustained deliveries/s, %s messages'\nplot %s\n" %
                          (label, ", ".join(plots)))
    if panels:
        gp = ["set terminal pngcairo size 1500,%d font ',10'" % (420 * len(panels)),
              "set output '%s'" % os.path.join(out, "throughput.png"),
              "set multiplot layout %d,1" % len(panels),
              "set logscale x", "set xlabel 'subscribers'", "set ylabel 'million deliveries/s'",
              "set key outside right", "set grid", "set yrange [0:*]"] + panels + ["unset multiplot"]
        subprocess.run(["gnuplot"], input="\n".join(gp), text=True, check=False)
    # Latency CDF at 1,000 x 64 B, 50 msg/s: run 1 of each server.
    plots = []
    for s in servers:
        lat = load(os.path.join(out, "s1000x64", s, "run1", "latency.json"))
        cdf = (lat or {}).get("result", {}).get("latency_cdf_us")
        if not cdf:
            continue
        fn = os.path.join(data, "cdf-%s.dat" % s)
        with open(fn, "w") as f:
            for p, v in cdf:
                f.write("%.3f %g\n" % (max(v, 1) / 1000.0, p))
        plots.append("'%s' using 1:2 with linespoints lw 2 lc rgb '%s' title '%s'" %
                     (fn, COLOUR.get(s, "#000000"), s))
    if plots:
        gp = ["set terminal pngcairo size 1100,650 font ',10'",
              "set output '%s'" % os.path.join(out, "latency_cdf.png"),
              "set title 'latency CDF, 1,000 subscribers x 64 B at 50 msg/s (run 1)'",
              "set logscale x", "set xlabel 'latency (ms)'", "set ylabel 'percentile'",
              "set key bottom right", "set grid", "set yrange [0:100]",
              "plot " + ", ".join(plots)]
        subprocess.run(["gnuplot"], input="\n".join(gp), text=True, check=False)


if __name__ == "__main__":
    sys.exit(main())
