#!/usr/bin/env bash
# bench-cluster.sh: the cost of a NATS hop (issue 18), measured side by side.
#
# Two layouts, same subscribers, same messages, alternated run by run:
#   one   the publisher's UDP and the WebSocket subscribers on one ringcast;
#   nats  the publisher on node A, the subscribers on node B, A and B joined
#         by one nats-server (--nats): every message crosses NATS once.
# For each run: a fixed rate (latency p50/p99 and CPU per delivery, the CPU
# of every server process counted: ringcast, or A + B + nats-server) and a
# ramp (the highest rate with loss < 0.1 % and p99 < 50 ms). The servers
# share one CPU and the bench runs on the other.
#
# Usage: perf/bench-cluster.sh [-b BUILD_DIR] [-o OUT_DIR] [--runs N]
#          [--subscribers N] [--size BYTES] [--rate MSG/S] [--duration SEC]
#          [--ramp-start MSG/S] [--server-cpu C] [--bench-cpu C] [--no-ramp]
# Raw files: OUT_DIR/<layout>/run<N>/{latency,ramp}.json and cpu.txt (each
# server process's CPU ticks before and after the fixed-rate run);
# perf/cluster_table.py OUT_DIR prints the table.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -euo pipefail

build=build
out=""
runs=3
subscribers=100
size=1316
rate=1000
duration=10
ramp_start=1000
server_cpu=0
bench_cpu=1
ramp=1

usage() {
	sed -n '2,20s/^# \{0,1\}//p' "$0"
}

die() {
	echo "bench-cluster: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	-b|--build) build=${2:?}; shift 2 ;;
	-o|--out) out=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--subscribers) subscribers=${2:?}; shift 2 ;;
	--size) size=${2:?}; shift 2 ;;
	--rate) rate=${2:?}; shift 2 ;;
	--duration) duration=${2:?}; shift 2 ;;
	--ramp-start) ramp_start=${2:?}; shift 2 ;;
	--server-cpu) server_cpu=${2:?}; shift 2 ;;
	--bench-cpu) bench_cpu=${2:?}; shift 2 ;;
	--no-ramp) ramp=0; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench-cluster: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done

gateway="$build/gateway/ringcast"
bench="$build/perf/ringcast-bench"
nats=${NATS_SERVER:-/usr/sbin/nats-server}
[ -x "$gateway" ] || die "no gateway at $gateway (build first, or pass -b BUILD_DIR)"
[ -x "$bench" ] || die "no bench at $bench"
[ -x "$nats" ] || die "no nats-server at $nats (Debian package nats-server)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-bench-cluster.XXXXXX")
else
	mkdir -p "$out"
fi

# Every process this script started, by PID; stopped on exit or Ctrl-C.
pids=()
stop_all() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	pids=()
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts ringcast on the server CPU with args "$@"; output in $1.out.
# Sets $last_pid; waits for its "ready" line.
start_ringcast() {
	local name=$1
	shift
	taskset -c "$server_cpu" "$gateway" --listen 127.0.0.1:0 "$@" >"$name.out" 2>"$name.err" &
	last_pid=$!
	pids+=("$last_pid")
	for _ in $(seq 100); do
		grep -qx ready "$name.out" 2>/dev/null && return 0
		kill -0 "$last_pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$name.err" >&2
	die "ringcast ($name) did not start"
}

http_port() { awk '$1 == "listen" && $2 == "http" { sub(/.*:/, "", $3); print $3; exit }' "$1.out"; }
udp_port() { awk '$1 == "listen" && $2 == "udp" { sub(/.*:/, "", $3); print $3; exit }' "$1.out"; }

# CPU ticks (user + system) of each PID in $@, one "pid ticks" line each.
ticks() {
	local pid
	for pid in "$@"; do
		awk -v p="$pid" '{ sub(/.*\) /, ""); print p, $12 + $13 }' "/proc/$pid/stat"
	done
}

run_one() {
	local layout=$1 dir=$2 ws udp cpu_pids
	mkdir -p "$dir"
	if [ "$layout" = one ]; then
		start_ringcast "$dir/node" --udp 127.0.0.1:0=bench0
		cpu_pids=("$last_pid")
		ws=$(http_port "$dir/node")
		udp=$(udp_port "$dir/node")
	else
		local port
		port=$(free_port)
		taskset -c "$server_cpu" "$nats" -a 127.0.0.1 -p "$port" >"$dir/nats.log" 2>&1 &
		pids+=("$!")
		cpu_pids=("$!")
		for _ in $(seq 100); do
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
			sleep 0.1
		done
		start_ringcast "$dir/a" --udp 127.0.0.1:0=bench0 --nats "nats://127.0.0.1:$port"
		cpu_pids+=("$last_pid")
		udp=$(udp_port "$dir/a")
		start_ringcast "$dir/b" --nats "nats://127.0.0.1:$port"
		cpu_pids+=("$last_pid")
		ws=$(http_port "$dir/b")
		sleep 1	# both connected to NATS
	fi
	local common=(--host 127.0.0.1 --port "$ws" --udp-port "$udp" --channel bench0
		-n "$subscribers" --size "$size" --server-pid "${cpu_pids[-1]}")
	echo "bench-cluster: $layout $(basename "$dir"): $subscribers subscribers, $size B, $rate msg/s for $duration s"
	ticks "${cpu_pids[@]}" >"$dir/cpu.txt"
	timeout 900 taskset -c "$bench_cpu" "$bench" "${common[@]}" --rate "$rate" \
		--duration "$duration" --json "$dir/latency.json" >"$dir/latency.txt"
	ticks "${cpu_pids[@]}" >>"$dir/cpu.txt"
	echo "clk_tck $(getconf CLK_TCK)" >>"$dir/cpu.txt"
	grep -E 'delivery rate|loss|latency us' "$dir/latency.txt" || true
	if [ "$ramp" = 1 ]; then
		timeout 900 taskset -c "$bench_cpu" "$bench" "${common[@]}" --ramp --rate "$ramp_start" \
			--step-duration 3 --json "$dir/ramp.json" >"$dir/ramp.txt"
		grep -E 'max sustained:' "$dir/ramp.txt" || true
	fi
	stop_all
}

echo "bench-cluster: results in $out"
for r in $(seq "$runs"); do
	for layout in one nats; do
		run_one "$layout" "$out/$layout/run$r"
	done
done
python3 "$(dirname "$0")/cluster_table.py" "$out" | tee "$out/table.md"
