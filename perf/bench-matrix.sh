#!/usr/bin/env bash
# bench-matrix.sh: the issue's whole scenario matrix, every peer side by side,
# then idle memory per subscriber, then charts.
#
# Usage: perf/bench-matrix.sh [-b BUILD_DIR] [-o OUT_DIR] [--repeat N]
#          [--key-repeat N] [--servers LIST] [--scenarios LIST] [--no-idle]
# Scenarios (LIST comma-separated; default all):
#   s100x64 s1000x64 s10000x64 s100x1k s1000x1k s10000x1k s100x16k
#   s1000x16k s10000x16k ch100x100 (100 channels x 100 subscribers, 64 B)
# Each runs perf/bench-peers.sh (latency at 50 msg/s, then the ramp for the
# max sustained rate with loss < 0.1 % and p99 < 50 ms; 250 ms at 10,000
# subscribers, for every server alike). --repeat N runs each scenario N times
# (default 1); s1000x64, s1000x1k and s10000x64, the scenarios with targets,
# get --key-repeat runs in all (default 3) of ringcast, ringcast-nobatch,
# ringcast-epoll, epoll-batched, uws and uws-cpp, because repeat runs on
# this VM differ. ringcast-epoll (ringcast --backend epoll) runs in those
# three scenarios only.
# Then RSS per idle subscriber at 10,000 and 19,000 connections (server RSS
# with them connected minus its RSS at start), and perf/charts.py writes
# OUT/matrix.md and the PNG charts (gnuplot). Needs jq and gnuplot (make bench installs them).
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -euo pipefail

build=build
out=""
repeat=1
key_repeat=3
servers=""
scenarios="s100x64,s1000x64,s10000x64,s100x1k,s1000x1k,s10000x1k,s100x16k,s1000x16k,s10000x16k,ch100x100"
idle=1
here=$(cd "$(dirname "$0")" && pwd)

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while [ $# -gt 0 ]; do
	case "$1" in
	-b) build=${2:?}; shift 2 ;;
	-o) out=${2:?}; shift 2 ;;
	--repeat) repeat=${2:?}; shift 2 ;;
	--key-repeat) key_repeat=${2:?}; shift 2 ;;
	--servers) servers=${2:?}; shift 2 ;;
	--scenarios) scenarios=${2:?}; shift 2 ;;
	--no-idle) idle=""; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench-matrix: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
out=${out:-$build/bench-matrix}
mkdir -p "$out"

# scenario -> subscribers size channels
params() {
	case "$1" in
	s100x64) echo "100 64 1" ;;
	s1000x64) echo "1000 64 1" ;;
	s10000x64) echo "10000 64 1" ;;
	s100x1k) echo "100 1024 1" ;;
	s1000x1k) echo "1000 1024 1" ;;
	s10000x1k) echo "10000 1024 1" ;;
	s100x16k) echo "100 16384 1" ;;
	s1000x16k) echo "1000 16384 1" ;;
	s10000x16k) echo "10000 16384 1" ;;
	ch100x100) echo "10000 64 100" ;;
	*) return 1 ;;
	esac
}

IFS=, read -r -a list <<<"$scenarios"
for sc in "${list[@]}"; do
	params "$sc" >/dev/null || { echo "bench-matrix: unknown scenario '$sc'" >&2; exit 2; }
done

# Per run: a 3 s latency run at 50 msg/s, then the ramp in 1.5 s steps from
# 50,000 deliveries/s (x1.5 per step until two steps in a row fail, then 2
# bisection steps between the best pass and the lowest failure above it).
run_scenario() {	# scenario out_dir repeat servers
	local sc=$1 dir=$2 n=$3 srv=$4 subs size channels start args
	read -r subs size channels <<<"$(params "$sc")"
	start=$(( 50000 / subs ))
	[ "$start" -ge 1 ] || start=1
	args=(-b "$build" -o "$dir" --subscribers "$subs" --size "$size" --channels "$channels"
	      --rate 50 --duration 3 --ramp-start "$start" --step-duration 1.5 --repeat "$n")
	[ "$subs" -ge 10000 ] && args+=(--max-p99-ms 250)
	[ -n "$srv" ] && args+=(--servers "$srv")
	echo "bench-matrix: === $sc: $subs subscribers x $size B, $channels channel(s), $n run(s)${srv:+, $srv} ==="
	"$here/bench-peers.sh" "${args[@]}" | tee "$dir.txt"
}

# Pass 1: every scenario, every server, once (plus, where the targets are,
# ringcast without fan-out batches for before/after in the same run, and
# ringcast on its epoll backend next to its io_uring one and the epoll peers).
for sc in "${list[@]}"; do
	srv=$servers
	case "$sc" in
	s1000x64|s1000x1k) [ -z "$srv" ] && srv="ringcast,ringcast-nobatch,ringcast-epoll,epoll-naive,epoll-batched,lws,uws,ws,uws-cpp,nchan" ;;
	s10000x64) [ -z "$srv" ] && srv="ringcast,ringcast-epoll,epoll-naive,epoll-batched,lws,uws,ws,uws-cpp,nchan" ;;
	esac
	run_scenario "$sc" "$out/$sc" "$repeat" "$srv"
done
# Pass 2: the scenarios with targets, more runs of ringcast and the peers
# the targets name (repeat runs differ, uWS's the most).
if [ "$key_repeat" -gt 1 ]; then
	for sc in "${list[@]}"; do
		case "$sc" in
		s1000x64|s1000x1k|s10000x64)
			run_scenario "$sc" "$out/$sc-rep" $((key_repeat - 1)) \
				"${servers:-ringcast,ringcast-nobatch,ringcast-epoll,epoll-batched,uws,uws-cpp}" ;;
		esac
	done
fi

if [ -n "$idle" ]; then
	# Idle memory: subscribers connect and stay silent (one message at the
	# end checks they are live); RSS growth over the server's RSS at ready,
	# divided by the subscribers. 19,000 fits under the 20,000-fd limit.
	for n in 10000 19000; do
		iargs=(-b "$build" -o "$out/idle$n" --subscribers "$n" --size 64 --rate 1 --duration 1
		       --settle 5 --latency-only)
		[ -n "$servers" ] && iargs+=(--servers "$servers")
		echo "bench-matrix: === idle: $n subscribers ==="
		"$here/bench-peers.sh" "${iargs[@]}" | tee "$out/idle$n.txt"
	done
fi

python3 "$here/charts.py" "$out"
echo "bench-matrix: tables in $out/matrix.md, charts $out/*.png"
