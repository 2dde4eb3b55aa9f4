#!/usr/bin/env bash
# udp_port_memory.sh: what an idle UDP port costs. Starts ringcast (one
# worker, no static files) with 1, 64 and 256 idle UDP ports, with the
# large buffers (--udp-large-bufs 16, the default) and without (0), and
# prints its resident memory, what it accounts for (ringcast_memory_bytes)
# and its open files. Loopback only; each server is ended by its PID.
#
# Usage: perf/udp_port_memory.sh [BUILD_DIR] > RESULT_FILE
set -euo pipefail
build=${1:-build}
bin="$build/gateway/ringcast"
[ -x "$bin" ] || { echo "not built: $bin" >&2; exit 1; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
echo "# large_bufs ports rss_kib memory_bytes open_fds"
for large in 16 0; do
	for n in 1 64 256; do
		args=(--workers 1 --listen 127.0.0.1:0 --static off --udp-large-bufs "$large")
		for ((i = 0; i < n; i++)); do args+=(--udp "127.0.0.1:0=c$i"); done
		"$bin" "${args[@]}" >"$out" 2>"$err" &
		pid=$!
		for _ in $(seq 100); do grep -q '^ready' "$out" && break; sleep 0.1; done
		port=$(grep -m1 '^listen http' "$out" | sed 's/.*://')
		sleep 0.5
		rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
		mem=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^ringcast_memory_bytes /{print $2}')
		fds=$(ls "/proc/$pid/fd" | wc -l)
		echo "$large $n $rss $mem $fds"
		kill "$pid"
		wait "$pid" || true
	done
done
