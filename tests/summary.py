#!/usr/bin/env python3
"""Prints the closing lines for all meson test logs given: 'N passed, N failed,
N skipped', then the Criterion tests skipped inside executables that passed,
and last the tests that failed, each with the last lines of its output (CI
shows only the tail of the log, so the failures' names come last).

meson writes one JSON object per test to meson-logs/testlog.json; a test whose
result is OK counts as passed, SKIP as skipped, anything else as failed. A
Criterion executable with a skipped test (cr_skip_test, e.g. an io_uring-only
test in the epoll run) still passes as a whole; its '[SKIP] suite::test: why'
lines are listed so that a skip is reported as a skip."""
import json
import sys

passed = failed = skipped = 0
inner = []
failures = []
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                test = json.loads(line)
                result = test.get("result")
                if result == "OK":
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
                    out = (test.get("stdout") or "") + (test.get("stderr") or "")
                    tail = [l for l in out.splitlines() if l.strip()][-6:]
                    failures.append((f"{test.get('name')} ({result})", tail))
                for out in (test.get("stdout") or "", test.get("stderr") or ""):
                    for l in out.splitlines():
                        if l.startswith("[SKIP] "):
                            inner.append(f"{test.get('name')}: {l[7:]}")
    except FileNotFoundError:
        print(f"summary: missing {path}", file=sys.stderr)
        failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
if inner:
    print(f"Criterion tests skipped inside passing executables: {len(inner)}")
    for s in inner:
        print(f"  {s}")
if failures:
    print(f"failed: {len(failures)}")
    for name, tail in failures:
        print(f"  {name}")
        for l in tail:
            print(f"    | {l[:200]}")
sys.exit(1 if failed or passed == 0 else 0)
