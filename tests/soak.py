#!/usr/bin/env python3
"""make soak: runs the hostile-load suite (tests/integration/test_hostile.c)
for long and writes its figures into docs/RELIABILITY.md.

Each test of the suite prints one line on stdout,

    hostile: attack=NAME seconds=N peak_rss_growth_kb=N rss_bound_kb=N
             slowest_healthz_ms=N healthz_failures=N healthy_lost=N
             healthy_received=N healthy_sent=N ... result=pass|fail failed=...

and this script turns those lines into a table that replaces everything
between the markers <!-- soak:begin --> and <!-- soak:end --> of the document,
together with the command and the commit that produced it. Standard library
only.

    tests/soak.py [--build DIR] [--attack-seconds N] [--chaos-seconds N]
                  [--filter GLOB] [--note TEXT] [--doc FILE] [--log FILE]
    tests/soak.py --from-log FILE [--note TEXT] [--doc FILE]

--from-log regenerates the section from the log of an earlier run (or of
`meson test -v it_hostile`) without running anything. The exit status is the
suite's (1 when an attack failed or nothing was parsed); the document is
written whenever at least one line was parsed.
"""
import argparse
import datetime
import os
import platform
import re
import shlex
import subprocess
import sys

BEGIN = "<!-- soak:begin -->"
END = "<!-- soak:end -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^hostile: (attack=.*)$")
# the order; Criterion runs the tests by name
ORDER = ["pipeline", "sse_noread", "sub_unsub", "stream_noread", "ws_noread", "static_slow",
         "joiners", "joiners_ts", "under_limits", "chaos"]


def parse_lines(lines):
    """The key=value fields of every 'hostile: attack=' line, in order; a
    later line for the same attack (a re-run) replaces the earlier one."""
    runs = {}
    for line in lines:
        m = LINE.match(line.strip())
        if not m:
            continue
        fields = {}
        for word in m.group(1).split():
            key, sep, value = word.partition("=")
            if sep:
                fields[key] = value
        if "attack" in fields:
            runs[fields["attack"]] = fields
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(runs.values(), key=lambda f: (rank.get(f["attack"], len(ORDER)), f["attack"]))


def num(fields, key):
    try:
        return int(fields.get(key, ""))
    except ValueError:
        return None


def mib(kb):
    return "?" if kb is None else f"{kb / 1024:.1f} MiB"


def row(f):
    growth, bound = num(f, "peak_rss_growth_kb"), num(f, "rss_bound_kb")
    slowest, pfail = num(f, "slowest_healthz_ms"), num(f, "healthz_failures")
    lost, sent = num(f, "healthy_lost"), num(f, "healthy_sent")
    healthz = "?" if slowest is None else f"{slowest} ms"
    if pfail:
        healthz += f" ({pfail} unanswered)"
    healthy = "?" if lost is None else f"lost {lost} of {sent}"
    if f.get("healthy_max_latency_ms") and num(f, "healthy_received"):
        healthy += f", max latency {f['healthy_max_latency_ms']} ms"
    result = f.get("result", "?")
    if result == "fail" and f.get("failed", "none") != "none":
        result = "fail: " + f["failed"].replace(",", ", ")
    notes = []
    if f.get("stopped_early") == "1":
        notes.append("stopped at the safety ceiling")
    if f.get("killed") == "1":
        notes.append("server killed at the kill ceiling")
    if notes:
        result += " (" + "; ".join(notes) + ")"
    return (f"| {f['attack']} | {f.get('seconds', '?')} | {mib(growth)} | {mib(bound)} | "
            f"{healthz} | {healthy} | {result} |")


def git(*args):
    try:
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def section(runs, command, note):
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [BEGIN, ""]
    if note:
        out += [note, ""]
    out += [
        f"Run {when} on commit `{commit}`, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}:",
        "",
        "```",
        command,
        "```",
        "",
        "| attack | seconds | peak RSS growth | bound | slowest /healthz | "
        "healthy subscriber | result |",
        "|---|---|---|---|---|---|---|",
    ]
    out += [row(f) for f in runs]
    extras = []
    for f in runs:
        known = {"attack", "seconds", "peak_rss_growth_kb", "rss_bound_kb",
                 "slowest_healthz_ms", "healthz_failures", "healthy_lost", "healthy_sent",
                 "healthy_max_latency_ms", "result", "failed", "stopped_early", "killed"}
        rest = " ".join(f"{k}={v}" for k, v in f.items() if k not in known)
        if rest:
            extras.append(f"- {f['attack']}: {rest}")
    if extras:
        out += ["", "All figures of each line:", ""] + extras
    out += ["", END]
    return "\n".join(out)


def write_doc(doc, text):
    with open(doc, encoding="utf-8") as fh:
        old = fh.read()
    if old.count(BEGIN) != 1 or old.count(END) != 1 or old.index(BEGIN) > old.index(END):
        sys.exit(f"soak: {doc} needs exactly one {BEGIN} ... {END} section")
    new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    with open(doc, "w", encoding="utf-8") as fh:
        fh.write(new)


def run_suite(args):
    build = os.path.abspath(args.build)
    exe = os.path.join(build, "tests", "integration", "it_hostile")
    server = os.path.join(build, "gateway", "ringcast")
    for path in (exe, server):
        if not os.access(path, os.X_OK):
            sys.exit(f"soak: {path} is missing; build first (make build)")
    env = dict(os.environ, RINGCAST_BIN=server,
               RINGCAST_ATTACK_SECONDS=str(args.attack_seconds),
               RINGCAST_CHAOS_SECONDS=str(args.chaos_seconds))
    argv = [exe, "--jobs=1", "--verbose"]
    if args.filter:
        argv.append(f"--filter={args.filter}")
    shown = [f"RINGCAST_ATTACK_SECONDS={args.attack_seconds}",
             f"RINGCAST_CHAOS_SECONDS={args.chaos_seconds}",
             f"RINGCAST_BIN={os.path.relpath(server, ROOT)}",
             os.path.relpath(exe, ROOT)] + argv[1:]
    command = " ".join(shlex.quote(a) for a in shown)
    if os.environ.get("MAKELEVEL"):
        command = "make soak, which ran:\n" + command
    log = args.log or os.path.join(build, "soak", "hostile.log")
    os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    lines = []
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        for line in proc.stdout:
            out.write(line)
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
        status = proc.wait()
    print(f"soak: log in {log}")
    return lines, command, status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--attack-seconds", type=int, default=60)
    ap.add_argument("--chaos-seconds", type=int, default=600)
    ap.add_argument("--filter", help="Criterion --filter glob, e.g. 'hostile/pipeline'")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "RELIABILITY.md"))
    ap.add_argument("--log", help="where the run's output goes (default BUILD/soak/hostile.log)")
    ap.add_argument("--from-log", help="parse this log instead of running the suite")
    ap.add_argument("--note", default="", help="a paragraph put above the table")
    args = ap.parse_args()

    if args.from_log:
        with open(args.from_log, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
        command = f"(figures read from {args.from_log})"
        status = 0
    else:
        lines, command, status = run_suite(args)
    runs = parse_lines(lines)
    if not runs:
        print("soak: no 'hostile:' lines found; the document is unchanged", file=sys.stderr)
        return 1
    write_doc(args.doc, section(runs, command, args.note))
    failed = [f["attack"] for f in runs if f.get("result") != "pass"]
    print(f"soak: {len(runs)} attacks written to {args.doc}; "
          f"{len(failed)} failed{': ' + ', '.join(failed) if failed else ''}")
    return 1 if status or failed else 0


if __name__ == "__main__":
    sys.exit(main())
