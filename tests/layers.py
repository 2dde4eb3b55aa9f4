#!/usr/bin/env python3
"""gateway/'s folders form layers: a folder includes headers of its own and
of the folders below it only, never of a folder above it nor of the top
(main.c, server.c/.h), so there is no circle between them. Checks every
#include "..." of gateway/*/ against that order; exits 1 naming each
include that breaks it."""
import os
import re
import sys

# Lowest first. The top (gateway/ itself) may include anything.
LAYERS = ["config", "access", "base", "cluster", "ingest", "subscribe", "ops", "http"]


def main():
    root = os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "gateway")
    owner = {}
    for layer in LAYERS:
        for name in os.listdir(os.path.join(root, layer)):
            if name.endswith(".h"):
                owner[name] = layer
    for name in os.listdir(root):
        if name.endswith(".h"):
            owner[name] = "top"
    bad = []
    for layer in LAYERS:
        rank = LAYERS.index(layer)
        folder = os.path.join(root, layer)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                    if not m or m.group(1) not in owner:
                        continue
                    dep = owner[m.group(1)]
                    if dep == "top" or LAYERS.index(dep) > rank:
                        bad.append(f"gateway/{layer}/{name}:{lineno}: includes "
                                   f"{m.group(1)} of {dep}/, above {layer}/")
    for b in bad:
        print(b)
    print(f"layers: {len(bad)} include(s) against the order {' < '.join(LAYERS)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
