#!/usr/bin/env python3
"""Server CPU per delivery at a fixed rate, from bench-peers.sh output.

Usage: perf/cpu_table.py DIR [DIR...] > table.md

Each DIR is a perf/bench-peers.sh output directory (one scenario, run with
--latency-only at a fixed rate below every server's saturation); the script
reads DIR/<server>/run<N>/latency.json and prints one markdown table: for
each scenario and server, the server's CPU-seconds per million deliveries
(its CPU time over the measured window divided by the deliveries in it),
min-max over runs and the median, with the median share of a core it used, the share of messages lost, and ratios of
ringcast's median to each other server's, and of ringcast's epoll backend
to the epoll-batched peer, of subscribers with position labels (?meta=1)
to plain ones, and of two workers woken by MSG_RING to two
woken by eventfd, the default (below 1: the first one needs less CPU per
delivery) with, in brackets, its worst run over the other's best. At a fixed rate every server does the same work, so this compares
cost per delivery where a ramp's maximum would compare the load generator.
"""
import glob
import json
import os
import statistics
import sys

ORDER = ["ringcast", "ringcast-meta", "ringcast-z", "uws-z", "ringcast-w1", "ringcast-w2", "ringcast-w2-msgring", "ringcast-ref", "ringcast-ref-w2", "ringcast-nobatch", "ringcast-epoll", "epoll-batched",
         "epoll-naive", "uws", "uws-cpp", "lws", "ws", "nchan"]


def runs(d):
    """{server: [(cpu_s_per_million, lost_pct, rate, subs, size)]} of one dir."""
    out = {}
    for path in sorted(glob.glob(os.path.join(d, "*", "run*", "latency.json"))):
        server = path.split(os.sep)[-3]
        try:
            with open(path) as f:
                j = json.load(f)
        except (OSError, ValueError):
            continue
        r, cfg = j.get("result", {}), j.get("config", {})
        got = r.get("received") or 0
        cpu = (r.get("server") or {}).get("cpu_secs")
        if not got or cpu is None:
            continue
        exp = r.get("expected") or got
        out.setdefault(server, []).append(
            (cpu / got * 1e6, 100.0 * (exp - got) / exp if exp else 0.0,
             cfg.get("rate"), cfg.get("subscribers_requested"), cfg.get("size"),
             (r.get("server") or {}).get("cpu_pct_of_core") or 0.0))
    return out


def rng(vals, dec=2):
    lo, hi = min(vals), max(vals)
    return ("%.*f" % (dec, lo)) if lo == hi else ("%.*f–%.*f" % (dec, lo, dec, hi))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows, servers = [], []
    for d in sys.argv[1:]:
        by = runs(d)
        for s in by:
            if s not in servers:
                servers.append(s)
        rows.append((os.path.basename(os.path.normpath(d)), by))
    if not servers:
        print("cpu_table: no latency.json with server CPU under " + " ".join(sys.argv[1:]),
              file=sys.stderr)
        return 1
    servers.sort(key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
    pairs = [("ringcast", s) for s in servers
             if s not in ("ringcast", "ringcast-meta", "ringcast-z", "uws-z") and "ringcast" in servers]
    if "ringcast" in servers and "ringcast-meta" in servers:
        pairs.append(("ringcast-meta", "ringcast"))
    if "ringcast" in servers and "ringcast-z" in servers:
        pairs.append(("ringcast-z", "ringcast"))
    if "ringcast-z" in servers and "uws-z" in servers:
        pairs.append(("ringcast-z", "uws-z"))
    if "ringcast-epoll" in servers and "epoll-batched" in servers:
        pairs.append(("ringcast-epoll", "epoll-batched"))
    if "ringcast-w2" in servers and "ringcast-w2-msgring" in servers:
        pairs.append(("ringcast-w2-msgring", "ringcast-w2"))
    if "ringcast-w2" in servers and "ringcast-ref-w2" in servers:
        pairs.append(("ringcast-w2", "ringcast-ref-w2"))
    print("Server CPU-seconds per million deliveries at a fixed rate: min–max over runs "
          "(median; and the median share of one core the server used: near 100 % it was "
          "saturated, batched more messages per send and its figure is only 1/rate). `a/b` columns: a's median over b's, and in brackets a's worst run "
          "over b's best; below 1, a spends less CPU per delivery than b.")
    print()
    print("| scenario | rate (msg/s) | runs | " + " | ".join(servers) + " | " +
          " | ".join("%s/%s" % p for p in pairs) + " | lost (%) |")
    print("|---" * (4 + len(servers) + len(pairs)) + "|")
    for name, by in rows:
        any_run = next(iter(by.values()))[0]
        _, _, rate, subs, size, _ = any_run
        cells, med = [], {}
        for s in servers:
            v = [x[0] for x in by.get(s, [])]
            med[s] = statistics.median(v) if v else None
            pct = [x[5] for x in by.get(s, [])]
            cells.append("%s (%.2f; %.0f %%)" % (rng(v), med[s], statistics.median(pct))
                         if v else "-")
        ratios = []
        for a_name, b_name in pairs:
            a, b = by.get(a_name, []), by.get(b_name, [])
            if a and b:
                worst = max(x[0] for x in a)
                best = min(x[0] for x in b)
                ratios.append("%.2f (%.2f)" % (med[a_name] / med[b_name], worst / best))
            else:
                ratios.append("-")
        lost = max(x[1] for v in by.values() for x in v)
        nruns = max(len(v) for v in by.values())
        print("| %s (%s × %s B) | %s | %d | %s | %s | %s |" %
              (name, subs, size, rate, nruns, " | ".join(cells), " | ".join(ratios),
               "%.3f" % lost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
