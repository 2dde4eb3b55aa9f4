#!/usr/bin/env bash
# profile.sh: run one benchmark scenario with the gateway under `perf record -g`
# and write a flame graph and the top functions into OUT_DIR.
#
# Usage: perf/profile/profile.sh -b BUILD_DIR [-o OUT_DIR] [SCENARIO]
# Scenarios (ringcast-bench load, one channel unless said otherwise):
#   fanout      1,000 subscribers x 64 B at 3,000 msg/s (3M deliveries/s) [default]
#   fanout-1k   1,000 subscribers x 1 KiB at 1,000 msg/s
#   fanout-10k  10,000 subscribers x 64 B at 200 msg/s
#   channels    100 channels x 100 subscribers x 64 B at 10,000 msg/s in all
#   latency     1,000 subscribers x 64 B at 50 msg/s
# Environment overrides: SUBS, SIZE, RATE, CHANNELS, DURATION (s, default 10),
# FREQ (samples/s, default 1999), SERVER_CPU (0), BENCH_CPU (1), SERVER_ARGS
# (more gateway options, split on spaces: SERVER_ARGS="--backend epoll").
# BUILD_DIR should be built with frame pointers (`make profile` does that);
# the kernel's own frames come from its unwinder either way.
# Outputs: perf.data, top-self.txt (functions by own time), top-children.txt
# (by time including callees), SCENARIO.folded (import into speedscope),
# SCENARIO.svg (flame graph), bench.txt, server.err.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -euo pipefail

build=""
out=""
scenario=fanout
here=$(cd "$(dirname "$0")" && pwd)

usage() { sed -n '2,22s/^# \{0,1\}//p' "$0"; }
die() { echo "profile: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	-b) build=${2:?}; shift 2 ;;
	-o) out=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "profile: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	*) scenario=$1; shift ;;
	esac
done
[ -n "$build" ] || { usage >&2; exit 2; }

case "$scenario" in
fanout)     d_subs=1000;  d_size=64;   d_rate=3000;  d_chan=1 ;;
fanout-1k)  d_subs=1000;  d_size=1024; d_rate=1000;  d_chan=1 ;;
fanout-10k) d_subs=10000; d_size=64;   d_rate=200;   d_chan=1 ;;
channels)   d_subs=10000; d_size=64;   d_rate=10000; d_chan=100 ;;
latency)    d_subs=1000;  d_size=64;   d_rate=50;    d_chan=1 ;;
*) echo "profile: unknown scenario '$scenario'" >&2; usage >&2; exit 2 ;;
esac
subs=${SUBS:-$d_subs}
size=${SIZE:-$d_size}
rate=${RATE:-$d_rate}
channels=${CHANNELS:-$d_chan}
duration=${DURATION:-10}
freq=${FREQ:-1999}
server_cpu=${SERVER_CPU:-0}
bench_cpu=${BENCH_CPU:-1}

gateway="$build/gateway/ringcast"
bench="$build/perf/ringcast-bench"
[ -x "$gateway" ] && [ -x "$bench" ] || die "build $build first (gateway and ringcast-bench)"
command -v perf >/dev/null || die "perf not found (Debian: linux-perf)"
out=${out:-$build/profile/$scenario}
mkdir -p "$out"

server_pid=""
perf_pid=""
cleanup() {
	# Only the processes this script started, by PID.
	[ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null || true
	[ -n "$server_pid" ] && wait "$server_pid" 2>/dev/null || true
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null || true
	[ -n "$perf_pid" ] && wait "$perf_pid" 2>/dev/null || true
	server_pid=""
	perf_pid=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

udp_args=()
for ((i = 0; i < channels; i++)); do
	udp_args+=(--udp "127.0.0.1:0=bench$i")
done
# More fds than subscribers; the hard limit here is 20,000.
ulimit -n "$(ulimit -Hn)"
read -r -a extra_args <<<"${SERVER_ARGS:-}"
taskset -c "$server_cpu" "$gateway" --listen 127.0.0.1:0 "${udp_args[@]}" --stats-interval 1000 \
	"${extra_args[@]}" >"$out/server.out" 2>"$out/server.err" &
server_pid=$!
for _ in $(seq 100); do
	grep -qx ready "$out/server.out" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || die "server exited: $(tail -n 5 "$out/server.err")"
	sleep 0.1
done
grep -qx ready "$out/server.out" || die "server not ready"
http_addr=$(awk '$1 == "listen" && $2 == "http" { print $3; exit }' "$out/server.out")
ports=$(awk '$1 == "listen" && $2 == "udp" { split($3, a, ":"); printf "%s%s", sep, a[2]; sep = "," }' \
	"$out/server.out")

# Sampling covers the whole run; connecting takes well under a second of it.
perf record -g -F "$freq" -p "$server_pid" -o "$out/perf.data" >"$out/perf-record.log" 2>&1 &
perf_pid=$!
sleep 0.5
bench_args=(--host 127.0.0.1 --port "${http_addr##*:}" -n "$subs" --size "$size" --rate "$rate"
	--duration "$duration" --server-pid "$server_pid" --json "$out/bench.json")
if [ "$channels" -gt 1 ]; then
	bench_args+=(--channels "$channels" --udp-ports "$ports")
else
	bench_args+=(--udp-port "$ports" --channel bench0)
fi
echo "profile: $scenario: $subs subscribers, $channels channel(s), $size B at $rate msg/s for $duration s"
timeout 900 taskset -c "$bench_cpu" "$bench" "${bench_args[@]}" >"$out/bench.txt" 2>&1 ||
	echo "profile: bench exited $? (see $out/bench.txt)" >&2
kill -INT "$perf_pid" 2>/dev/null || true
wait "$perf_pid" 2>/dev/null || true
perf_pid=""
kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

perf report -i "$out/perf.data" --stdio --no-children --percent-limit 0.5 --sort symbol \
	-g none 2>/dev/null | grep -v '^$' >"$out/top-self.txt" || true
perf report -i "$out/perf.data" --stdio --children --percent-limit 2 --sort symbol \
	-g none 2>/dev/null | grep -v '^$' >"$out/top-children.txt" || true
perf script -i "$out/perf.data" 2>/dev/null |
	python3 "$here/flamegraph.py" --folded "$out/$scenario.folded" --svg "$out/$scenario.svg" \
		--title "ringcast: $scenario ($subs subs, $size B, $rate msg/s)"

grep -E 'delivery rate|loss|latency us|server cpu' "$out/bench.txt" || true
echo "--- top functions by own time (perf report --no-children) ---"
grep -E '^ +[0-9]' "$out/top-self.txt" | head -25
echo "profile: flame graph $out/$scenario.svg, folded stacks $out/$scenario.folded, all in $out"
