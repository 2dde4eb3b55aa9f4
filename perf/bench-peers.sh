#!/usr/bin/env bash
# bench-peers.sh: ringcast side by side with its peers, under one harness.
#
# Every server speaks ringcast's contract (--listen, --udp, "ready" on stdout)
# and is driven the same way: server pinned to --server-cpu, ringcast-bench
# pinned to --bench-cpu, then (1) a latency run at a fixed moderate rate and
# (2) a ramp (x1.5 per step until two steps in a row fail: loss >= 0.1 % or
# p99 >= 50 ms; then bisection) for the
# maximum sustained deliveries/s. Prints one table, ratios ringcast/peer.
#
# Usage: perf/bench-peers.sh [-b BUILD_DIR] [-o OUT_DIR] [--subscribers N]
#          [--size BYTES] [--channels K] [--rate MSG/S] [--duration SEC]
#          [--ramp-start MSG/S] [--step-duration SEC] [--repeat N]
#          [--servers LIST] [--server-cpu C] [--bench-cpu C] [--latency-only]
#          [--max-p99-ms MS (ramp limit, default 50)] [--settle SEC (default 0.5)]
#          [--payload-file FILE (ringcast-bench's: real message bytes, e.g. JSON)]
# Servers (LIST is comma-separated; default all, in this order):
#   ringcast       BUILD/gateway/ringcast (--workers auto: one loop per CPU
#                  of --server-cpu)
#   ringcast-nobatch  the same with --batch-max 0 (no fan-out batches), not in
#                  the default list: for comparisons with and without them
#   ringcast-epoll the same with --backend epoll (the loop on epoll, as where
#                  io_uring is blocked), not in the default list
#   ringcast-w2    the same with --workers 2 (two loops, subscribers spread
#                  by SO_REUSEPORT, messages handed from the port's worker
#                  to the other); pinned like every server (--server-cpu), so
#                  it shows what the hand-off costs per delivery, not what a
#                  second core adds; not in the default list
#   ringcast-z     ringcast with compress=on for the bench's channels, its
#                  subscribers offering permessage-deflate and inflating
#                  (ringcast-bench --deflate): what compression costs; not
#                  in the default list
#   uws-z          uws with its shared compressor (UWS_COMPRESS=1), the same
#                  subscribers; not in the default list
#   ringcast-1sock ringcast with --udp-large-bufs 0: each UDP port one
#                  socket into the ingest ring, no receive times, no holding
#                  to the end of the turn (what the two-socket port costs);
#                  not in the default list
#   ringcast-bigbuf ringcast with ingest buffers sized for --size when it is
#                  over 1,900 bytes (2,048 of them), the way long datagrams
#                  were carried before the large buffers; not in the default
#                  list
#   ringcast-meta  ringcast, its subscribers joining with ?meta=1 (each
#                  message's position label before it; ringcast-bench
#                  --meta): what positions cost; not in the default list
#   ringcast-w1    the same with --workers 1 (one loop, whatever CPUs the
#                  server may use); not in the default list
#   ringcast-w2-msgring  ringcast-w2 waking the other worker by
#                  IORING_OP_MSG_RING (RINGCAST_WAKE=msg_ring) rather than by
#                  its eventfd, to measure one against the other; not in the
#                  default list
#   ringcast-ref   $RINGCAST_REF_BIN: another build of ringcast (an earlier
#                  commit) to show a change keeps its speed, side by side;
#                  skipped when unset, not in the default list
#   ringcast-ref-w2  $RINGCAST_REF_BIN with --workers 2, beside ringcast-w2
#                  (a change to the hand-off between workers); not in the
#                  default list
#   epoll-naive    BUILD/perf/peers/peer-epoll --mode naive
#   epoll-batched  BUILD/perf/peers/peer-epoll --mode batched
#   lws            BUILD/perf/peers/peer-lws
#   uws            node perf/peers/uws_relay.js (uWebSockets.js pub/sub)
#   ws             node perf/peers/ws_relay.js (Node ws broadcast)
#   uws-cpp        $UWS_CPP_BIN: C++ uWebSockets relay built by hand outside
#                  the repository (perf/peers/README.md); skipped when unset
#   nchan          perf/peers/nchan_relay.sh: nginx + nchan (Debian packages
#                  nginx, libnginx-mod-nchan), one nginx worker per CPU of
#                  --server-cpu; skipped when missing
# The Node peers' packages are installed with `npm ci` into BUILD/peers-node
# from perf/peers/package-lock.json when missing or stale.
# nchan has no UDP ingest: it is fed with ringcast-bench --pub-ws /pub/ (one
# WebSocket publisher per channel, same payloads), every other server over
# UDP; the table's "pub" column says which.
# Defaults: 1,000 subscribers x 64 B, one channel, 100 msg/s for 10 s, ramp
# from 25 msg/s with 3 s steps, one repeat. --latency-only skips the ramp
# (a quick check that every server delivers everything, in order). Some
# servers' results (uWS's) differ widely between runs: use --repeat N
# (min-max are reported).
# Exit status: 0 ok (servers that could not run are listed), 1 runtime
# error, 2 usage error.
set -euo pipefail

build=build
out=""
subscribers=1000
size=64
channels=1
rate=100
duration=10
ramp_start=25
step_duration=3
repeat=1
servers="ringcast,epoll-naive,epoll-batched,lws,uws,ws,uws-cpp,nchan"
max_channels=128
server_cpu=0
bench_cpu=1
latency_only=""
max_p99_ms=50
settle=0.5

usage() {
	# The header comment, up to the first line that is not a comment.
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
	echo "bench-peers: $*" >&2
	exit 1
}

is_uint() {
	case "$1" in ''|*[!0-9]*) return 1 ;; esac
}

payload_file=""
while [ $# -gt 0 ]; do
	case "$1" in
	-b|--build) build=${2:?}; shift 2 ;;
	-o|--out) out=${2:?}; shift 2 ;;
	--subscribers) subscribers=${2:?}; shift 2 ;;
	--size) size=${2:?}; shift 2 ;;
	--payload-file) payload_file=${2:?}; shift 2 ;;
	--channels) channels=${2:?}; shift 2 ;;
	--rate) rate=${2:?}; shift 2 ;;
	--duration) duration=${2:?}; shift 2 ;;
	--ramp-start) ramp_start=${2:?}; shift 2 ;;
	--step-duration) step_duration=${2:?}; shift 2 ;;
	--repeat) repeat=${2:?}; shift 2 ;;
	--servers) servers=${2:?}; shift 2 ;;
	--latency-only) latency_only=1; shift ;;
	--max-p99-ms) max_p99_ms=${2:?}; shift 2 ;;
	--settle) settle=${2:?}; shift 2 ;;
	--server-cpu) server_cpu=${2:?}; shift 2 ;;
	--bench-cpu) bench_cpu=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench-peers: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
for v in subscribers size channels repeat bench_cpu; do
	is_uint "${!v}" || { echo "bench-peers: --${v//_/-} needs a whole number" >&2; exit 2; }
done
# The server may get several CPUs (a taskset list: 0,1 or 0-3), for the
# servers that use every CPU they may run on.
[[ "$server_cpu" =~ ^[0-9]+([,-][0-9]+)*$ ]] ||
	{ echo "bench-peers: --server-cpu needs a CPU number or a list (0,1 or 0-3)" >&2; exit 2; }
if [ "$repeat" -lt 1 ] || [ "$repeat" -gt 20 ]; then
	echo "bench-peers: --repeat 1..20" >&2
	exit 2
fi
if [ "$channels" -lt 1 ] || [ "$channels" -gt "$max_channels" ]; then
	echo "bench-peers: --channels 1..$max_channels" >&2
	exit 2
fi

src_dir=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$build" ] || die "no build directory $build (build first, or pass -b BUILD_DIR)"
# Absolute, so paths stay right inside subshells that cd (npm ci).
build=$(cd "$build" && pwd)
bench="$build/perf/ringcast-bench"
[ -x "$bench" ] || die "no bench at $bench (build first, or pass -b BUILD_DIR)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v jq >/dev/null || die "jq not found (apt-get install jq): it reads the bench's JSON"
if [ "$(nproc)" -lt 2 ]; then
	echo "bench-peers: warning: fewer than 2 CPUs; server and bench share CPU 0" >&2
	server_cpu=0
	bench_cpu=0
fi
# 1,000+ subscribers need as many descriptors in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-bench-peers.XXXXXX")
else
	mkdir -p "$out"
fi
summary="$out/summary.tsv"
skipped="$out/skipped.txt"
: >"$summary"
: >"$skipped"

skip() {
	echo "bench-peers: skipping $1: $2" >&2
	printf '%s\t%s\n' "$1" "$2" >>"$skipped"
}

# --- the Node peers' packages -------------------------------------------------

node_dir="$build/peers-node"
node_ok=""
node_why=""

# Installs perf/peers' locked packages into BUILD/peers-node unless the lock
# there is already the same. Sets node_ok / node_why.
node_setup() {
	[ -n "$node_ok$node_why" ] && return 0
	if ! command -v node >/dev/null; then
		node_why="node not found"
		return 0
	fi
	if ! command -v npm >/dev/null; then
		node_why="npm not found"
		return 0
	fi
	mkdir -p "$node_dir"
	if [ -d "$node_dir/node_modules/@trufflesuite/uws-js-unofficial" ] &&
	   [ -d "$node_dir/node_modules/ws" ] &&
	   cmp -s "$src_dir/perf/peers/package-lock.json" "$node_dir/package-lock.json"; then
		node_ok=1
		return 0
	fi
	echo "bench-peers: npm ci into $node_dir (uWebSockets.js, ws)" >&2
	cp "$src_dir/perf/peers/package.json" "$src_dir/perf/peers/package-lock.json" "$node_dir/"
	# No install scripts are needed: uWS ships its addon prebuilt, ws is JS.
	if (cd "$node_dir" && timeout 300 npm ci --no-audit --no-fund --omit=optional \
		--ignore-scripts >"$node_dir/npm.log" 2>&1); then
		node_ok=1
	else
		node_why="npm ci failed (see $node_dir/npm.log)"
	fi
}

# --- servers -------------------------------------------------------------------

# Prints the command of server $1, one word per line, or fails with the
# reason on stdout.
server_cmd() {
	case "$1" in
	ringcast|ringcast-meta|ringcast-z|ringcast-1sock|ringcast-bigbuf)
		[ -x "$build/gateway/ringcast" ] || { echo "not built: $build/gateway/ringcast"; return 1; }
		printf '%s\n' "$build/gateway/ringcast"
		# ringcast-z: every bench channel compressed (they are binary,
		# which compress=auto leaves alone)
		if [ "$1" = ringcast-z ]; then
			for ((k = 0; k < channels; k++)); do
				printf '%s\n' --channel "bench$k:compress=on"
			done
		fi
		[ "$1" = ringcast-1sock ] && printf '%s\n' --udp-large-bufs 0
		# Long datagrams go to the large buffers by default; bigbuf
		# sizes every ingest buffer for them instead.
		if [ "$1" = ringcast-bigbuf ] && [ "$size" -gt 1900 ]; then
			printf '%s\n' --buf-size $((size + 128)) --buf-count 2048
		fi ;;
	ringcast-nobatch)
		# ringcast without fan-out batches, to compare with and without in one run
		[ -x "$build/gateway/ringcast" ] || { echo "not built: $build/gateway/ringcast"; return 1; }
		printf '%s\n' "$build/gateway/ringcast" --batch-max 0 ;;
	ringcast-epoll)
		# ringcast's epoll backend, side by side with its io_uring one
		[ -x "$build/gateway/ringcast" ] || { echo "not built: $build/gateway/ringcast"; return 1; }
		printf '%s\n' "$build/gateway/ringcast" --backend epoll
		if [ "$size" -gt 1900 ]; then
			printf '%s\n' --buf-size $((size + 128)) --buf-count 2048
		fi ;;
	ringcast-w1)
		# one loop, however many CPUs --server-cpu gives
		[ -x "$build/gateway/ringcast" ] || { echo "not built: $build/gateway/ringcast"; return 1; }
		printf '%s\n' "$build/gateway/ringcast" --workers 1
		if [ "$size" -gt 1900 ]; then
			printf '%s\n' --buf-size $((size + 128)) --buf-count 2048
		fi ;;
	ringcast-w2-msgring)
		# the same, the hand-offs' wake-ups by MSG_RING instead of eventfd
		[ -x "$build/gateway/ringcast" ] || { echo "not built: $build/gateway/ringcast"; return 1; }
		printf '%s\n' env RINGCAST_WAKE=msg_ring "$build/gateway/ringcast" --workers 2
		if [ "$size" -gt 1900 ]; then
			printf '%s\n' --buf-size $((size + 128)) --buf-count 2048
		fi ;;
	ringcast-w2)
		# two workers on the one server CPU: the cost of the hand-off
		[ -x "$build/gateway/ringcast" ] || { echo "not built: $build/gateway/ringcast"; return 1; }
		printf '%s\n' "$build/gateway/ringcast" --workers 2
		if [ "$size" -gt 1900 ]; then
			printf '%s\n' --buf-size $((size + 128)) --buf-count 2048
		fi ;;
	ringcast-ref|ringcast-ref-w2)
		# a reference build (an earlier commit), to compare before and after
		[ -n "${RINGCAST_REF_BIN:-}" ] ||
			{ echo "RINGCAST_REF_BIN not set (a ringcast binary built from another commit)"; return 1; }
		[ -x "$RINGCAST_REF_BIN" ] || { echo "RINGCAST_REF_BIN=$RINGCAST_REF_BIN is not an executable"; return 1; }
		printf '%s\n' "$RINGCAST_REF_BIN"
		[ "$1" = ringcast-ref ] || printf '%s\n' --workers 2
		if [ "$size" -gt 1900 ]; then
			printf '%s\n' --buf-size $((size + 128)) --buf-count 2048
		fi ;;
	epoll-naive|epoll-batched)
		[ -x "$build/perf/peers/peer-epoll" ] || { echo "not built: $build/perf/peers/peer-epoll"; return 1; }
		printf '%s\n' "$build/perf/peers/peer-epoll" --mode "${1#epoll-}" ;;
	lws)
		[ -x "$build/perf/peers/peer-lws" ] || { echo "not built: $build/perf/peers/peer-lws"; return 1; }
		printf '%s\n' "$build/perf/peers/peer-lws" ;;
	uws|ws|uws-z)
		[ -n "$node_ok" ] || { echo "$node_why"; return 1; }
		printf '%s\n' env "NODE_PATH=$node_dir/node_modules" "UWS_COMPRESS=$([ "$1" = uws-z ] && echo 1 || echo 0)" node \
			"$src_dir/perf/peers/${1%-z}_relay.js" ;;
	uws-cpp)
		[ -n "${UWS_CPP_BIN:-}" ] ||
			{ echo "UWS_CPP_BIN not set (build it by hand: perf/peers/README.md)"; return 1; }
		[ -x "$UWS_CPP_BIN" ] || { echo "UWS_CPP_BIN=$UWS_CPP_BIN is not an executable"; return 1; }
		printf '%s\n' "$UWS_CPP_BIN" ;;
	nchan)
		local nginx module
		nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
		module=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
		[ -x "$nginx" ] || { echo "nginx not found (apt-get install nginx libnginx-mod-nchan)"; return 1; }
		[ -r "$module" ] || { echo "no nchan module at $module (apt-get install libnginx-mod-nchan)"; return 1; }
		command -v python3 >/dev/null || { echo "python3 not found (nchan_relay.sh picks the port with it)"; return 1; }
		printf '%s\n' "$src_dir/perf/peers/nchan_relay.sh" ;;
	*)
		echo "unknown server (want ringcast, ringcast-meta, ringcast-z, ringcast-1sock, ringcast-bigbuf, uws-z, ringcast-nobatch, ringcast-epoll, ringcast-w1, ringcast-w2, ringcast-w2-msgring, ringcast-ref, ringcast-ref-w2, epoll-naive, epoll-batched, lws, uws, ws, uws-cpp, nchan)"
		return 1 ;;
	esac
}

# How server $1 is fed: "ws" (ringcast-bench --pub-ws /pub/, no --udp ports)
# for servers without UDP ingest, else "udp".
server_pub() {
	case "$1" in
	nchan) echo ws ;;
	*) echo udp ;;
	esac
}

bench_name="bench-peers"
# shellcheck source=perf/bench-server.sh
. "$src_dir/perf/bench-server.sh"

# Starts server $1 (command in the array cmd) with output in dir $2; sets
# server_pid, measure_pid (a "measure pid N" line names the process doing
# the work when that is a child, as with nginx's worker; else server_pid),
# ws_port and udp_ports (none for a server fed over WebSocket). Returns 1
# (reason on stderr) if it does not report ready within 30 s.
start_server() {
	local name=$1 dir=$2 udp_args=() i
	if [ "$(server_pub "$name")" = udp ]; then
		for ((i = 0; i < channels; i++)); do
			udp_args+=(--udp "127.0.0.1:0=bench$i")
		done
	fi
	# taskset and env exec, so $! is the server's own PID.
	taskset -c "$server_cpu" "${cmd[@]}" --listen 127.0.0.1:0 "${udp_args[@]}" \
		>"$dir/server.out" 2>"$dir/server.err" &
	server_pid=$!
	if ! wait_ready "$dir/server.out" 30; then
		echo "bench-peers: $name did not report ready; its stderr:" >&2
		tail -n 10 "$dir/server.err" >&2 || true
		stop_server
		return 1
	fi
	local http_addr
	http_addr=$(awk '$1 == "listen" && $2 == "http" { print $3; exit }' "$dir/server.out")
	ws_port=${http_addr##*:}
	measure_pid=$(awk '$1 == "measure" && $2 == "pid" { print $3; exit }' "$dir/server.out")
	case "$measure_pid" in ''|*[!0-9]*) measure_pid=$server_pid ;; esac
	# The server's memory before any subscriber: the base that idle memory
	# per subscriber is measured from (after a moment to settle).
	sleep 1
	base_rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$measure_pid/status" 2>/dev/null || true)
	udp_ports=""
	if [ "$(server_pub "$name")" = ws ]; then
		case "$ws_port" in
		''|*[!0-9]*) echo "bench-peers: $name: bad listen lines" >&2; stop_server; return 1 ;;
		esac
		return 0
	fi
	for ((i = 0; i < channels; i++)); do
		local a
		a=$(awk -v ch="bench$i" '$1 == "listen" && $2 == "udp" && $4 == ch { print $3; exit }' \
			"$dir/server.out")
		udp_ports="${udp_ports:+$udp_ports,}${a##*:}"
	done
	case "$ws_port,$udp_ports" in
	*[!0-9,]*|,*|*,) echo "bench-peers: $name: bad listen lines" >&2; stop_server; return 1 ;;
	esac
	return 0
}

# Appends one run's figures to summary.tsv from its two JSON files.
record_run() {
	local name=$1 run=$2 dir=$3 status=$4
	local lat="$dir/latency.json" ramp="$dir/ramp.json"
	local l r
	l=$(jq -r '[.result.lost, .result.reordered, .result.latency_us.p50, .result.latency_us.p99,
		(.result.server.cpu_pct_of_core // "nan"), (.result.server.vmrss_kb // "nan"),
		(((.result.server.runqueue_wait_secs // 0) + (.result.bench_runqueue_wait_secs // 0))
		 / .result.window_secs * 100)] | @tsv' "$lat" 2>/dev/null) || l=$'nan\tnan\tnan\tnan\tnan\tnan\tnan'
	r=$(jq -r '[(.max_sustained.deliveries_per_sec // 0),
		(if .max_sustained then .steps[.max_sustained.step].server.cpu_pct_of_core // "nan" else "nan" end),
		([.steps[].server.vmrss_kb // 0] | max),
		(([.steps[] | (.server.runqueue_wait_secs // 0) + (.bench_runqueue_wait_secs // 0)] | add)
		 / ([.steps[].window_secs] | add) * 100),
		(.max_sustained.published_per_sec // 0)] | @tsv' "$ramp" 2>/dev/null) ||
		r=$'nan\tnan\tnan\tnan\tnan'
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "$status" "$l" "$r" "$(server_pub "$name")" \
		"${base_rss:-nan}" >>"$summary"
}

run_one() {
	local name=$1 run=$2 dir="$out/$1/run$2" common status=ok
	mkdir -p "$dir"
	if ! start_server "$name" "$dir"; then
		# Figures empty, the publisher in its column (16).
		printf '%s\t%s\tno-start\t\t\t\t\t\t\t\t\t\t\t\t\t%s\n' "$name" "$run" \
			"$(server_pub "$name")" >>"$summary"
		return 0
	fi
	common=(--host 127.0.0.1 --port "$ws_port" -n "$subscribers" --size "$size"
		--server-pid "$measure_pid" --settle "$settle")
	if [ -z "$udp_ports" ]; then
		echo "bench-peers: [$name run $run] pid $server_pid (measured: $measure_pid) on CPU" \
			"$server_cpu, ws $ws_port, published over WebSocket to /pub/<channel>"
		common+=(--pub-ws /pub/)
		if [ "$channels" = 1 ]; then
			common+=(--channel bench0)
		else
			common+=(--channels "$channels")
		fi
	elif [ "$channels" = 1 ]; then
		echo "bench-peers: [$name run $run] pid $server_pid on CPU $server_cpu, ws $ws_port, udp $udp_ports"
		common+=(--udp-port "$udp_ports" --channel bench0)
	else
		echo "bench-peers: [$name run $run] pid $server_pid on CPU $server_cpu, ws $ws_port," \
			"$channels udp ports ${udp_ports%%,*}..${udp_ports##*,}"
		common+=(--udp-ports "$udp_ports" --channels "$channels")
	fi
	[ "$name" = ringcast-meta ] && common+=(--meta)
	case "$name" in ringcast-z | uws-z) common+=(--deflate) ;; esac
	[ -n "$payload_file" ] && common+=(--payload-file "$payload_file")
	# timeout is a safety net: the bench bounds itself (600 s per run).
	timeout 900 taskset -c "$bench_cpu" "$bench" "${common[@]}" --rate "$rate" \
		--duration "$duration" --json "$dir/latency.json" >"$dir/latency.txt" 2>&1 ||
		status="latency-failed"
	kill -0 "$server_pid" 2>/dev/null || status="server-died"
	if [ "$status" = ok ] && [ -z "$latency_only" ]; then
		timeout 900 taskset -c "$bench_cpu" "$bench" "${common[@]}" --ramp --rate "$ramp_start" \
			--step-duration "$step_duration" --max-p99-ms "$max_p99_ms" --json "$dir/ramp.json" >"$dir/ramp.txt" 2>&1 ||
			status="ramp-failed"
		kill -0 "$server_pid" 2>/dev/null || status="server-died"
	fi
	stop_server
	grep -E 'loss|latency us|server cpu|WARNING' "$dir/latency.txt" | sed 's/^/    /' || true
	grep -E 'stopped:|max sustained:' "$dir/ramp.txt" 2>/dev/null | sed 's/^/    /' || true
	record_run "$name" "$run" "$dir" "$status"
}

echo "bench-peers: $subscribers subscribers x ${size} B, $channels channel(s); latency at $rate msg/s" \
	"for ${duration} s; ramp from $ramp_start msg/s, ${step_duration} s steps; $repeat repeat(s)"
echo "bench-peers: server on CPU $server_cpu, bench on CPU $bench_cpu; results in $out"

IFS=, read -r -a server_list <<<"$servers"
case ",$servers," in
*,uws,*|*,ws,*|*,uws-z,*) node_setup ;;
esac
runnable=()
for name in "${server_list[@]}"; do
	if reason=$(server_cmd "$name"); then
		runnable+=("$name")
	else
		skip "$name" "$reason"
	fi
done
# Repeats go round the servers, so slow drift on the machine spreads over all
# of them instead of landing on one.
for ((run = 1; run <= repeat; run++)); do
	for name in "${runnable[@]}"; do
		mapfile -t cmd < <(server_cmd "$name")
		run_one "$name" "$run"
	done
done

# --- the table -------------------------------------------------------------------

# summary.tsv columns: name run status lost reordered p50us p99us latcpu% latrss
#                      wait% maxdel maxcpu% maxrss rampwait% maxpub publisher
echo
echo "===== bench-peers: $subscribers subscribers x ${size} B, $channels channel(s) ====="
awk -F'\t' -v order="$servers" -v rate="$rate" '
function num(v) { return v ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ }
function med(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
# "lo-hi" (or one value) of arr[s, 1..cnt] over its numeric entries, scaled.
function range(arr, s, cnt, scale, dec,   i, lo, hi, have, f) {
	have = 0
	for (i = 1; i <= cnt; i++) {
		if (!num(arr[s, i])) continue
		if (!have || arr[s, i] + 0 < lo) lo = arr[s, i] + 0
		if (!have || arr[s, i] + 0 > hi) hi = arr[s, i] + 0
		have = 1
	}
	if (!have) return "-"
	f = "%." dec "f"
	if (lo == hi) return sprintf(f, lo / scale)
	return sprintf(f "-" f, lo / scale, hi / scale)
}
function maxnum(cur, v) { return (num(v) && (cur == "" || v + 0 > cur)) ? v + 0 : cur }
{
	s = $1; n[s]++
	if ($16 != "") pub[s] = $16
	if ($3 != "ok") { bad[s]++; why[s] = $3; next }
	good[s]++; g = good[s]
	md[s, g] = $11; lost[s] += $4; reord[s] += $5
	p50[s, g] = num($6) ? $6 / 1000 : "-"; p99[s, g] = num($7) ? $7 / 1000 : "-"
	lcpu[s, g] = $8; mcpu[s, g] = $12
	rss[s] = maxnum(maxnum(rss[s], $9), $13)
	wait[s] = maxnum(maxnum(wait[s], $10), $14)
}
END {
	split(order, names, ",")
	rc = 0
	if (good["ringcast"] > 0) {
		k = 0
		for (i = 1; i <= good["ringcast"]; i++) if (num(md["ringcast", i])) t[++k] = md["ringcast", i]
		if (k) rc = med(t, k)
	}
	printf "%-14s %4s %4s %16s %13s %13s %9s %9s %8s %6s %8s\n", "server", "pub", "runs",
		"max deliv/s (M)", "p50 ms@" rate, "p99 ms@" rate, "cpu%@" rate, "cpu%@max", "RSS MB",
		"wait%", "rc/peer"
	for (i = 1; i in names; i++) {
		s = names[i]
		if (!(s in n)) continue
		if (good[s] == 0) {
			printf "%-14s %4s %4d  no complete run (%s)\n", s, (s in pub) ? pub[s] : "-", n[s], why[s]
			continue
		}
		g = good[s]
		k = 0
		for (j = 1; j <= g; j++) if (num(md[s, j])) t2[++k] = md[s, j]
		m = k ? med(t2, k) : 0
		ratio = (rc > 0 && m > 0) ? sprintf("%.2f", rc / m) : "-"
		printf "%-14s %4s %4d %16s %13s %13s %9s %9s %8s %6s %8s%s\n", s, pub[s], g,
			range(md, s, g, 1e6, 2), range(p50, s, g, 1, 1), range(p99, s, g, 1, 1),
			range(lcpu, s, g, 1, 0), range(mcpu, s, g, 1, 0),
			rss[s] == "" ? "-" : sprintf("%.1f", rss[s] / 1024),
			wait[s] == "" ? "-" : sprintf("%.0f", wait[s]), ratio,
			(lost[s] || reord[s]) ? sprintf("  (latency runs: %d lost, %d reordered)", lost[s], reord[s]) : ""
		if (bad[s]) printf "%-14s           %d more run(s) failed (%s): see summary.tsv\n", "", bad[s], why[s]
	}
}' "$summary"
# Each message reaches the subscribers of its channel only.
lat_deliveries=$(awk -v r="$rate" -v s="$subscribers" -v c="$channels" 'BEGIN { printf "%.0f", r * s / c }')
cat <<EOF
  max deliv/s: deliveries/s at the last ramp step with loss < 0.1 % and p99 < 50 ms
  (min-max over runs); 0 = the first step ($ramp_start msg/s) already failed.
  p50/p99, cpu%@$rate: the latency run at $rate msg/s ($lat_deliveries deliveries/s).
  cpu%@max: server CPU at the max sustained step. RSS: highest VmRSS seen.
  wait%: highest share of a run that server + bench spent waiting for a CPU;
  above ~5 % other load on the machine polluted that server's figures.
  rc/peer: ringcast's median max deliveries/s over the peer's (> 1: ringcast ahead).
  pub: how the bench fed the server: udp datagrams, or ws (one WebSocket publisher
  per channel, for servers without UDP ingest: its publish path costs more).
EOF
if [ -s "$skipped" ]; then
	echo "skipped:"
	sed 's/\t/: /; s/^/  /' "$skipped"
fi
jq -R -s 'def n: (try tonumber catch null);
	split("\n") | map(select(length > 0) | split("\t")) | map({server: .[0], run: (.[1] | n),
	status: .[2], lost: (.[3] | n), reordered: (.[4] | n), p50_us: (.[5] | n), p99_us: (.[6] | n),
	latency_cpu_pct: (.[7] | n), latency_rss_kb: (.[8] | n), latency_wait_pct: (.[9] | n),
	max_deliveries_per_sec: (.[10] | n), max_step_cpu_pct: (.[11] | n), max_rss_kb: (.[12] | n),
	ramp_wait_pct: (.[13] | n), max_published_per_sec: (.[14] | n), publisher: .[15],
	base_rss_kb: (.[16] | n)})' \
	"$summary" >"$out/summary.json" 2>/dev/null || true
echo "(per-run reports and JSON: $out)"
