#!/usr/bin/env python3
"""Prints one closing line for all meson test logs given: 'N passed, N failed'.

meson writes one JSON object per test to meson-logs/testlog.json; a test whose
result is OK counts as passed, SKIP as skipped, anything else as failed."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                result = json.loads(line).get("result")
                if result == "OK":
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        print(f"summary: missing {path}", file=sys.stderr)
        failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
