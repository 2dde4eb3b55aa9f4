#!/usr/bin/env python3
"""Fold `perf script` call stacks and draw them as an SVG flame graph.

Usage: perf script -i perf.data | flamegraph.py --folded OUT.folded --svg OUT.svg
                                                [--title TEXT] [--comm NAME]

perf script prints one block per sample: a header line (command, pid, time,
event) and then one frame per line, innermost first, ending at a blank line.
Folding turns each block into "outer;...;inner" and counts identical stacks;
the folded file is also what speedscope (https://www.speedscope.app) imports,
for interactive viewing. The SVG is self-contained: width is proportional to
samples, each box has a tooltip with its share; no script, no external files.
Written for ringcast because it is small and has no dependencies; Debian 12
packages no flame graph renderer.
"""
import argparse
import collections
import html
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def fold(lines, comm=None):
    """Yields folded stacks, one per sample: outermost frame first."""
    stacks = collections.Counter()
    header, frames = None, []

    def flush():
        if header is not None and frames:
            if comm is None or header.split()[0] == comm:
                stacks[";".join(reversed(frames))] += 1

    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            header, frames = None, []
            continue
        if header is None:
            header = line
            continue
        m = FRAME.match(line)
        if not m:
            continue
        sym, dso = m.group(1), m.group(2)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        if sym == "[unknown]":
            sym = "[" + dso.rsplit("/", 1)[-1] + "]"
        frames.append(sym.replace(";", ":"))
    flush()
    return stacks


def build_tree(stacks):
    root = {"n": 0, "kids": {}}
    for stack, count in stacks.items():
        node = root
        node["n"] += count
        for frame in stack.split(";"):
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += count
    return root


def color(name):
    # Warm colours, stable per name; kernel frames a little cooler.
    h = sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 1000 / 1000.0
    if name.startswith(("__x64", "do_", "tcp_", "ip_", "io_", "__sys", "entry_", "sock_")) or "[kernel" in name:
        return "rgb(%d,%d,%d)" % (220, 120 + int(80 * h), 60)
    return "rgb(%d,%d,%d)" % (230, 90 + int(110 * h), 40 + int(30 * h))


def svg(root, title, width=1400, row=16):
    total = root["n"] or 1
    boxes = []
    depth_max = [0]

    def walk(node, name, x, depth):
        w = node["n"] / total * width
        if w < 0.3:
            return
        depth_max[0] = max(depth_max[0], depth)
        if name is not None:
            boxes.append((x, depth, w, name, node["n"]))
        cx = x
        for kid_name, kid in sorted(node["kids"].items()):
            walk(kid, kid_name, cx, depth + (0 if name is None else 1))
            cx += kid["n"] / total * width

    walk(root, None, 0.0, 0)
    height = (depth_max[0] + 3) * row + 30
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="monospace" font-size="11">' % (width, height),
           '<rect width="100%%" height="100%%" fill="#fdf8f0"/>',
           '<text x="%d" y="18" font-size="14" text-anchor="middle">%s (%d samples)</text>'
           % (width // 2, html.escape(title), total)]
    for x, depth, w, name, n in boxes:
        y = height - (depth + 2) * row
        pct = 100.0 * n / total
        label = name if w > 7 * len(name) else name[: max(0, int(w / 7) - 2)] + ".." if w > 30 else ""
        out.append('<g><title>%s: %d samples (%.2f%%)</title>'
                   '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="#fff" stroke-width="0.5"/>'
                   '<text x="%.1f" y="%d">%s</text></g>'
                   % (html.escape(name), n, pct, x, y, w, row - 1, color(name), x + 2, y + row - 4,
                      html.escape(label)))
    out.append("</svg>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folded", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--title", default="ringcast")
    ap.add_argument("--comm", default=None, help="keep samples of this command only")
    a = ap.parse_args()
    stacks = fold(sys.stdin, a.comm)
    if not stacks:
        print("flamegraph: no stacks in the input", file=sys.stderr)
        return 1
    with open(a.folded, "w") as f:
        for stack, count in sorted(stacks.items()):
            f.write("%s %d\n" % (stack, count))
    with open(a.svg, "w") as f:
        f.write(svg(build_tree(stacks), a.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
