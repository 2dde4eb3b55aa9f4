#!/bin/sh
# shellcheck disable=SC2317 # the functions that wait_for calls
# A three-node ringcast cluster on loopback (issue 18): three nats-servers
# routed to each other (a full mesh of routes), three ringcast nodes A, B
# and C, each with --nats on its own server, and the demo publishers of
# `make run` (deploy/demo-publishers.sh) feeding node A only. Node A
# publishes what it ingests to NATS; B's and C's pages show A's channels
# once ringcast also subscribes to NATS for its local subscribers.
#
#   deploy/cluster-demo.sh [--check] [BUILD_DIR]
#
# It prints each node's page, then runs until Ctrl-C (or SIGTERM), which
# stops everything it started, by PID, and removes its temp dir (the
# nats-server configs and every log). Only 127.0.0.1 is used; the ports are
# picked free at start.
#
# --check: start everything, wait until each nats-server's /varz answers,
# /routez counts 2 routes and /connz a client, each node answers /healthz
# and is connected to NATS, and node A has published to NATS (when the
# publishers run), a viewer on node C gets node A's game states and, with
# ffmpeg, node A's video starting at its PAT; print a summary, stop
# everything, exit 0 (1 on any failure, 2 when something is missing). The
# meson test cluster_demo runs it.
#
# Environment: RINGCAST_BIN and RINGCAST_PUB_BIN (default
# BUILD_DIR/gateway/ringcast and BUILD_DIR/tools/ringcast-pub; BUILD_DIR
# defaults to build), NATS_SERVER (default nats-server), NODE_ARGS (more
# ringcast options for every node), DEMO=0 (no publishers), DEMO_CODEC
# (h264 or mpeg1, as for make run).
set -u
here=$(dirname "$0")
# demo_codec_check, demo_publishers
# shellcheck source=deploy/demo-publishers.sh
. "$here/demo-publishers.sh"

check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
build=${1:-build}
ringcast=${RINGCAST_BIN:-$build/gateway/ringcast}
pub=${RINGCAST_PUB_BIN:-$build/tools/ringcast-pub}
nats=${NATS_SERVER:-nats-server}
codec=${DEMO_CODEC:-h264}
demo_codec_check "$codec" || exit 2
for f in "$ringcast" "$pub"; do
	if [ ! -x "$f" ]; then
		echo "cluster-demo: $f not found (build first: make build)" >&2
		exit 2
	fi
done
if ! command -v "$nats" >/dev/null; then
	echo "cluster-demo: $nats not found (apt-get install nats-server)" >&2
	exit 2
fi

# Debian's python3 (only its standard library is used): a python3 found
# first on PATH may be a version manager's shim, slow to start, and this
# script starts one per request.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

tmp=$(mktemp -d)
nats_pids=""
node_pids=""
pubs=""
roles=""

# True while process $1 runs. Our children stay zombies until waited for,
# and kill -0 succeeds on a zombie, so read its state instead.
# (No forks: this runs for every process on every poll.)
alive() {
	read -r state 2>/dev/null <"/proc/$1/stat" || return 1
	state=${state##*) }
	[ "${state%% *}" != Z ]
}

# SIGTERM to each PID, up to 10 s for all of them to go, then SIGKILL to
# what is left, so that stopping is bounded even if one of them hangs.
stop() {
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null
	done
	n=0
	for p in "$@"; do
		while alive "$p" && [ "$n" -lt 100 ]; do
			sleep 0.1
			n=$((n + 1))
		done
	done
	for p in "$@"; do
		alive "$p" && kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

# Publishers first, then the nodes (which would otherwise log NATS
# reconnects), then the servers. A second Ctrl-C is ignored meanwhile:
# dying half way would leave the rest running.
cleanup() {
	trap '' INT TERM HUP PIPE
	# shellcheck disable=SC2086 # PID lists
	stop $pubs
	# shellcheck disable=SC2086
	stop $node_pids
	# shellcheck disable=SC2086
	stop $nats_pids
	pubs=""
	node_pids=""
	nats_pids=""
	rm -rf "$tmp"
}

# The last lines of every log, for a failure's report.
show_logs() {
	for f in "$tmp"/*.log; do
		[ -s "$f" ] || continue
		echo "---- ${f##*/} (last 15 lines)" >&2
		tail -n 15 "$f" >&2
	done
}

fail() {
	echo "cluster-demo: FAILED: $*" >&2
	show_logs
	cleanup
	exit 1
}

# INT and TERM are how the demo is meant to end (exit 0), and fail a check
# (meson's timeout sends TERM). HUP (the terminal closed) and PIPE (whoever
# read our output left) stop everything too.
trap 'cleanup; exit 1' HUP PIPE
if [ "$check" = 1 ]; then
	trap 'cleanup; exit 1' INT TERM
else
	trap 'echo >&2; echo "cluster-demo: stopping" >&2; cleanup; exit 0' INT TERM
fi

# N free TCP ports of 127.0.0.1, picked by the kernel (bind to port 0), all
# held at once so that none repeats. Another program could take one before
# nats-server binds it; the wait for /varz below would then fail.
free_ports() {
	"$py" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# get MODE URL [NAME]: GET URL (2 s timeout, never through a proxy) and
# print the body (body), the top-level JSON field NAME (json), or the sum
# of the samples of the Prometheus metric NAME (metric). Fails when the
# request, the parse or the lookup does.
get() {
	"$py" -c '
import json, sys, urllib.request
mode, url = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
if mode == "stream":
    # The first bytes of a /stream answer, as hex (a subscriber for a
    # moment: it reads until it has 376 bytes or 3 s have passed).
    import time
    data, end = b"", time.time() + 3
    try:
        with opener.open(url, timeout=3) as r:
            while len(data) < 376 and time.time() < end:
                chunk = r.read1(376 - len(data))
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass	# a read timed out: what came so far is the answer
    print(data.hex())
    sys.exit(0)
with opener.open(url, timeout=2) as r:
    body = r.read().decode()
if mode == "body":
    print(body, end="")
elif mode == "json":
    print(json.loads(body)[sys.argv[3]])
else:
    vals = [float(l.split()[-1]) for l in body.splitlines()
            if l.split(" ", 1)[0].split("{", 1)[0] == sys.argv[3]]
    if not vals:
        sys.exit(1)
    print(int(sum(vals)))' "$@" 2>/dev/null
}

# Fails when a server or a node has exited (a bad option, a port taken).
all_alive() {
	for p in $nats_pids $node_pids; do
		alive "$p" && continue
		# Its name in $roles, where each start adds PID=NAME.
		name=${roles##* "$p"=}
		fail "${name%% *} (pid $p) exited"
	done
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; fails with WHAT after SECONDS (of the clock: a try may take a
# while), or as soon as something exits.
wait_for() {
	end=$(($(date +%s) + $1))
	what="$2 after $1 s"
	shift 2
	until "$@"; do
		all_alive
		[ "$(date +%s)" -ge "$end" ] && fail "no $what"
		sleep 0.2
	done
}

# Ports: client, cluster (routes) and monitoring of servers a, b and c.
# shellcheck disable=SC2046 # nine numbers
set -- $(free_ports 9)
[ $# = 9 ] || fail "could not pick free ports"
client_a=$1 client_b=$2 client_c=$3
route_a=$4 route_b=$5 route_c=$6
mon_a=$7 mon_b=$8 mon_c=$9

# nats_conf NAME CLIENT ROUTE MONITOR OTHER_ROUTE OTHER_ROUTE: each server
# lists the other two, as a StatefulSet's config lists every pod
# (deploy/k8s/nats.yaml; there the own entry is ignored by nats-server).
nats_conf() {
	cat >"$tmp/nats-$1.conf" <<EOF
server_name: $1
listen: 127.0.0.1:$2
http: 127.0.0.1:$4
cluster {
  name: ringcast-demo
  listen: 127.0.0.1:$3
  routes: [nats-route://127.0.0.1:$5, nats-route://127.0.0.1:$6]
}
EOF
}
nats_conf a "$client_a" "$route_a" "$mon_a" "$route_b" "$route_c"
nats_conf b "$client_b" "$route_b" "$mon_b" "$route_a" "$route_c"
nats_conf c "$client_c" "$route_c" "$mon_c" "$route_a" "$route_b"
for s in a b c; do
	"$nats" -c "$tmp/nats-$s.conf" >"$tmp/nats-$s.log" 2>&1 &
	nats_pids="$nats_pids $!"
	roles="$roles $!=nats-$s "
done
# Servers before nodes: a node that finds no server backs off for up to 2 s.
for m in "$mon_a" "$mon_b" "$mon_c"; do
	wait_for 10 "answer on http://127.0.0.1:$m/varz" get body "http://127.0.0.1:$m/varz" >/dev/null
done

# One worker each: three nodes share this machine. Channel settings as in
# deploy/ringcast.conf, on every node, since B and C serve A's channels.
start_node() {
	# shellcheck disable=SC2086 # NODE_ARGS: several options
	"$ringcast" --listen 127.0.0.1:0 --udp 127.0.0.1:0=live --udp 127.0.0.1:0=game \
		--channel live:type=video/mp2t,cache=ts --channel game:cache=last:1,frames=text \
		--nats "nats://127.0.0.1:$2" --workers 1 ${NODE_ARGS:-} \
		>"$tmp/node-$1.out" 2>"$tmp/node-$1.log" &
	node_pids="$node_pids $!"
	roles="$roles $!=node-$1 "
}
start_node A "$client_a"
start_node B "$client_b"
start_node C "$client_c"

# ringcast prints its bound addresses on stdout, then "ready". (Its output
# file may not be there yet: the shell creates it after forking.)
ready() {
	grep -qx ready "$tmp/node-$1.out" 2>/dev/null
}
# port NODE WHAT: the port of "listen http ADDR:PORT" or "listen udp
# ADDR:PORT CHANNEL" in NODE's output.
port() {
	case "$2" in
	http) sed -n 's/^listen http .*:\([0-9]*\)$/\1/p' "$tmp/node-$1.out" ;;
	*) sed -n "s/^listen udp .*:\\([0-9]*\\) $2\$/\\1/p" "$tmp/node-$1.out" ;;
	esac
}
for n in A B C; do
	wait_for 10 "ready line from node $n" ready "$n"
done
http_a=$(port A http) http_b=$(port B http) http_c=$(port C http)
live_a=$(port A live) game_a=$(port A game)

if [ "${DEMO:-1}" != 0 ]; then
	demo_publishers "$pub" "127.0.0.1:$live_a" "127.0.0.1:$game_a" "$codec"
fi

if [ "$check" = 0 ]; then
	cat >&2 <<EOF
cluster-demo: nats-servers a, b, c: clients on 127.0.0.1:$client_a, :$client_b, :$client_c (monitoring http://127.0.0.1:$mon_a/, :$mon_b/, :$mon_c/)
cluster-demo: node A: http://127.0.0.1:$http_a/  (the publishers send here; nats a)
cluster-demo: node B: http://127.0.0.1:$http_b/  (nats b)
cluster-demo: node C: http://127.0.0.1:$http_c/  (nats c)
cluster-demo: logs in $tmp (removed on exit); Ctrl-C stops everything
EOF
	# Stop everything when a server or a node dies by itself.
	while :; do
		all_alive
		sleep 1
	done
fi

# --check. Each test is a command for wait_for.
routes_are_2() {
	[ "$(get json "http://127.0.0.1:$1/routez" num_routes)" = 2 ]
}
has_client() {
	[ "$(get json "http://127.0.0.1:$1/connz" num_connections)" -ge 1 ] 2>/dev/null
}
healthy() {
	[ "$(get body "http://127.0.0.1:$1/healthz")" = ok ]
}
# positive PORT METRIC: a node's /metrics has METRIC above 0.
positive() {
	[ "$(get metric "http://127.0.0.1:$1/metrics" "$2")" -gt 0 ] 2>/dev/null
}
in_msgs() {
	[ "$(get json "http://127.0.0.1:$1/varz" in_msgs)" -gt 0 ] 2>/dev/null
}
for m in "$mon_a" "$mon_b" "$mon_c"; do
	wait_for 10 "2 routes on http://127.0.0.1:$m/routez" routes_are_2 "$m"
	wait_for 10 "client on http://127.0.0.1:$m/connz" has_client "$m"
done
for h in "$http_a" "$http_b" "$http_c"; do
	wait_for 5 "ok from http://127.0.0.1:$h/healthz" healthy "$h"
	wait_for 10 "ringcast_nats_connected > 0 on http://127.0.0.1:$h/metrics" \
		positive "$h" ringcast_nats_connected
done
# stream_starts PORT CHANNEL HEX: a viewer of CHANNEL on a node gets bytes
# that start with HEX (empty: any bytes).
stream_starts() {
	stream_got=$(get stream "http://127.0.0.1:$1/stream/$2") || return 1
	case $stream_got in
	"$3"?*) return 0 ;;
	*) return 1 ;;
	esac
}
if [ "${DEMO:-1}" != 0 ]; then
	wait_for 10 "ringcast_nats_msgs_out_total > 0 on node A" \
		positive "$http_a" ringcast_nats_msgs_out_total
	wait_for 5 "in_msgs > 0 on nats a's /varz" in_msgs "$mon_a"
	# What A ingests reaches a viewer on C, through nats a and c.
	wait_for 10 "game states from node A on node C's /stream/game" \
		stream_starts "$http_c" game ""
	if command -v ffmpeg >/dev/null; then
		# A video viewer on C starts with the PAT (0x47, PID 0, payload
		# start): A's cached GOP came through NATS.
		wait_for 10 "node A's video on node C's /stream/live, PAT first" \
			stream_starts "$http_c" live 474000
	fi
fi

summary() { # NODE HTTP SERVER MONITOR
	echo "node $1 http://127.0.0.1:$2/: healthz $(get body "http://127.0.0.1:$2/healthz")," \
		"nats connected $(get metric "http://127.0.0.1:$2/metrics" ringcast_nats_connected)," \
		"messages to nats $(get metric "http://127.0.0.1:$2/metrics" ringcast_nats_msgs_out_total)," \
		"from nats $(get metric "http://127.0.0.1:$2/metrics" ringcast_nats_msgs_in_total)"
	echo "nats $3 http://127.0.0.1:$4/: routes $(get json "http://127.0.0.1:$4/routez" num_routes)," \
		"clients $(get json "http://127.0.0.1:$4/connz" num_connections)," \
		"messages in $(get json "http://127.0.0.1:$4/varz" in_msgs)"
}
summary A "$http_a" a "$mon_a"
summary B "$http_b" b "$mon_b"
summary C "$http_c" c "$mon_c"
cleanup
echo "cluster-demo: check passed"
exit 0
