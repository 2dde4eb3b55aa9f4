#!/bin/sh
# RINGCAST_WRAPPER for make test-tsan. The harness runs WRAPPER BINARY ARGS;
# this runs the ThreadSanitizer build of the server ($RINGCAST_TSAN_BIN)
# with the same ARGS instead of BINARY, under the same PID (exec), so the
# tests' signals reach it. The test programs themselves are the plain
# build's: Criterion's runner does not start under ThreadSanitizer (its
# inheritable arena cannot be mapped where TSan's shadow memory lies).
shift
exec "$RINGCAST_TSAN_BIN" "$@"
