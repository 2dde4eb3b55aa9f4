#!/usr/bin/env bash
# bench-core.sh: the core ringcast benchmark scenario, end to end.
#
# Scenario: 1,000 WebSocket subscribers, 64-byte messages, one channel.
#   1. a fixed moderate rate, for latency;
#   2. --ramp, for the maximum sustained rate (loss < 0.1 %, p99 < 50 ms).
# The gateway runs pinned to one CPU and the bench to another, so neither
# steals cycles from the other and the CPU figures mean something.
#
# Usage: perf/bench-core.sh [-b BUILD_DIR] [-o OUT_DIR] [--subscribers N]
#                           [--rate R] [--duration SEC] [--ramp-start R]
#                           [--server-cpu C] [--bench-cpu C]
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -euo pipefail

build=build
out=""
subscribers=1000
rate=100		# latency run: 100 msg/s = 100k deliveries/s at 1,000 subscribers
duration=10
ramp_start=100
server_cpu=0
bench_cpu=1
size=64

usage() {
	sed -n '2,14s/^# \{0,1\}//p' "$0"
}

die() {
	echo "bench-core: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	-b|--build) build=${2:?}; shift 2 ;;
	-o|--out) out=${2:?}; shift 2 ;;
	--subscribers) subscribers=${2:?}; shift 2 ;;
	--rate) rate=${2:?}; shift 2 ;;
	--duration) duration=${2:?}; shift 2 ;;
	--ramp-start) ramp_start=${2:?}; shift 2 ;;
	--server-cpu) server_cpu=${2:?}; shift 2 ;;
	--bench-cpu) bench_cpu=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench-core: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done

gateway="$build/gateway/ringcast"
bench="$build/perf/ringcast-bench"
[ -x "$gateway" ] || die "no gateway at $gateway (build first, or pass -b BUILD_DIR)"
[ -x "$bench" ] || die "no bench at $bench (build first, or pass -b BUILD_DIR)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
if [ "$(nproc)" -lt 2 ]; then
	echo "bench-core: warning: fewer than 2 CPUs; server and bench share CPU 0" >&2
	server_cpu=0
	bench_cpu=0
fi

if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-bench-core.XXXXXX")
else
	mkdir -p "$out"
fi

bench_name="bench-core"
# shellcheck source=perf/bench-server.sh
. "$(dirname "$0")/bench-server.sh"

# taskset execs the gateway, so $! is the gateway's own PID.
taskset -c "$server_cpu" "$gateway" --listen 127.0.0.1:0 --udp 127.0.0.1:0=bench0 \
	>"$out/server.out" 2>"$out/server.err" &
server_pid=$!

if ! wait_ready "$out/server.out" 10; then
	echo "bench-core: server did not report ready; its stderr:" >&2
	tail -n 20 "$out/server.err" >&2 || true
	exit 1
fi

http_addr=$(awk '$1 == "listen" && $2 == "http" { print $3; exit }' "$out/server.out")
udp_addr=$(awk '$1 == "listen" && $2 == "udp" && $4 == "bench0" { print $3; exit }' "$out/server.out")
ws_port=${http_addr##*:}
udp_port=${udp_addr##*:}
case "$ws_port$udp_port" in
''|*[!0-9]*) die "could not read ports from server output: $(tr '\n' ' ' <"$out/server.out")" ;;
esac
echo "bench-core: server pid $server_pid on CPU $server_cpu: http $http_addr, udp $udp_addr (bench0)"
echo "bench-core: results in $out"

common=(--host 127.0.0.1 --port "$ws_port" --udp-port "$udp_port" --channel bench0
	-n "$subscribers" --size "$size" --server-pid "$server_pid")

# timeout is only a safety net: the bench bounds itself (600 s per run).
echo "bench-core: [1/2] latency: $subscribers subscribers, ${size}-byte messages, $rate msg/s for ${duration} s"
timeout 900 taskset -c "$bench_cpu" "$bench" "${common[@]}" --rate "$rate" \
	--duration "$duration" --json "$out/latency.json" | tee "$out/latency.txt"

echo "bench-core: [2/2] ramp from $ramp_start msg/s (x1.5 per 3 s step, until two steps in a row have loss >= 0.1 % or p99 >= 50 ms)"
timeout 900 taskset -c "$bench_cpu" "$bench" "${common[@]}" --ramp --rate "$ramp_start" \
	--step-duration 3 --json "$out/ramp.json" | tee "$out/ramp.txt"

stop_server

echo
echo "===== bench-core results: $subscribers subscribers, ${size}-byte messages, one channel ====="
echo "--- latency at $rate msg/s ---"
grep -E 'published|delivery rate|loss|latency us|server cpu|bench cpu' "$out/latency.txt" || true
echo "--- max sustained (ramp) ---"
grep -E 'stopped:|max sustained:' "$out/ramp.txt" || true
echo "(full output and JSON: $out)"
