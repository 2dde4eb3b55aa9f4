#!/usr/bin/env bash
# nchan_relay.sh: nginx with the nchan module (Debian's nginx and
# libnginx-mod-nchan) as a benchmark peer of ringcast (perf/bench-peers.sh).
#
# Usage: perf/peers/nchan_relay.sh [--listen ADDR:PORT]
# Speaks the peers' contract (perf/peers/README.md) except for ingest: nchan
# has no UDP ingest, so there is no --udp. Messages are published over
# WebSocket to ws://ADDR:PORT/pub/<channel> (one binary frame per message;
# ringcast-bench --pub-ws /pub/), and subscribers take them as binary
# WebSocket messages from GET /ws/<channel>.
# stdout: "listen http ADDR:PORT", "measure pid PID", then "ready"; logs on
# stderr. SIGINT or SIGTERM stops nginx, exit 0.
#
# nginx cannot listen on port 0, so for port 0 a free port is picked first
# (bind to port 0 and release it), a small race that bench runs can live
# with. The script execs nginx's master (so this PID is the master, and
# signals go to it), with one worker process doing all the work. The
# "measure pid" line names that worker: bench-peers.sh passes it to
# ringcast-bench --server-pid so CPU and memory are the worker's. (Single-
# process mode, master_process off, would avoid this, but nginx 1.22 with
# nchan 1.3.6 aborts with a double free when it exits that way.) The
# configuration lives in a private directory, removed when nginx exits.
#
# Environment: NGINX (default: nginx on PATH, then /usr/sbin/nginx),
# NCHAN_MODULE (default /usr/lib/nginx/modules/ngx_nchan_module.so).
set -euo pipefail
# A stop request before nginx takes over this PID is ours to honour.
trap 'exit 0' INT TERM

prog=nchan-relay
listen=127.0.0.1:8080

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

fail_usage() {
	echo "$prog: $*" >&2
	echo "usage: perf/peers/nchan_relay.sh [--listen ADDR:PORT]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--listen) [ $# -ge 2 ] || fail_usage "--listen needs a value"; listen=$2; shift 2 ;;
	--listen=*) listen=${1#--listen=}; shift ;;
	--udp|--udp=*) fail_usage "nchan has no UDP ingest: publish over WebSocket to /pub/<channel>" ;;
	-h|--help) usage; exit 0 ;;
	*) fail_usage "unknown argument '$1'" ;;
	esac
done

# Numeric ADDR:PORT or [V6]:PORT, as the other peers take it.
case "$listen" in
\[*\]:*) host=${listen%]:*}; host=${host#[}; port=${listen##*]:}; family=6 ;;
*:*) host=${listen%:*}; port=${listen##*:}; family=4 ;;
*) fail_usage "bad --listen '$listen' (want ADDR:PORT, numeric)" ;;
esac
case "$port" in ''|*[!0-9]*) fail_usage "bad --listen port in '$listen'" ;; esac
[ "${#port}" -le 5 ] && [ "$port" -le 65535 ] || fail_usage "bad --listen port in '$listen'"
if [ "$family" = 4 ]; then
	[[ "$host" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || fail_usage "bad --listen address '$host'"
else
	[[ "$host" =~ ^[0-9A-Fa-f:.]+$ ]] || fail_usage "bad --listen address '$host'"
fi

nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
module=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
[ -x "$nginx" ] || { echo "$prog: nginx not found (apt-get install nginx libnginx-mod-nchan)" >&2; exit 1; }
[ -r "$module" ] || { echo "$prog: nchan module not found at $module (apt-get install libnginx-mod-nchan)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$prog: python3 not found (picks the free port)" >&2; exit 1; }

if [ "$port" = 0 ]; then
	port=$(python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET6 if sys.argv[2] == "6" else socket.AF_INET)
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])' "$host" "$family") || { echo "$prog: cannot find a free port on $host" >&2; exit 1; }
fi
if [ "$family" = 6 ]; then
	addr="[$host]:$port"
else
	addr="$host:$port"
fi

# Descriptors: one per subscriber, as many as the hard limit allows.
nofile=$(ulimit -Hn)
case "$nofile" in ''|*[!0-9]*) nofile=65536 ;; esac
[ "$nofile" -le 1048576 ] || nofile=1048576
ulimit -n "$nofile" 2>/dev/null || true
conns=$((nofile > 1024 ? nofile - 64 : nofile / 2))

dir=$(mktemp -d "${TMPDIR:-/tmp}/nchan-relay.XXXXXX")
trap 'rm -rf "$dir"; exit 0' INT TERM
mkdir -p "$dir/tmp"
# Channel names as the other peers accept them: 1-64 of A-Z a-z 0-9 . _ -
cat >"$dir/nginx.conf" <<EOF
load_module $module;
# One worker process per CPU the bench gives the server (nproc counts
# the affinity mask), as ringcast's --workers auto.
worker_processes $(nproc);
worker_rlimit_nofile $nofile;
error_log stderr warn;
pid $dir/nginx.pid;
events {
	worker_connections $conns;
	use epoll;
	multi_accept on;
}
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	tcp_nodelay on;
	# A subscriber whose socket takes nothing for this long is closed.
	# nginx has no cap on queued bytes like the other peers' 4 MiB.
	send_timeout 10s;
	server {
		listen $addr backlog=4096;
		# Live relay, not a history: new subscribers start at the next
		# message, and a channel keeps only a few recent messages, briefly.
		location ~ "^/ws/([A-Za-z0-9._-]{1,64})\$" {
			nchan_subscriber websocket;
			nchan_channel_id \$1;
			nchan_subscriber_first_message newest;
			nchan_subscriber_timeout 0;
			nchan_websocket_ping_interval 0;
		}
		location ~ "^/pub/([A-Za-z0-9._-]{1,64})\$" {
			nchan_publisher websocket;
			nchan_channel_id \$1;
			nchan_message_buffer_length 16;
			nchan_message_timeout 10s;
			nchan_subscriber_timeout 0;
		}
		location / {
			return 404;
		}
	}
}
EOF

if ! "$nginx" -e stderr -p "$dir" -c "$dir/nginx.conf" -t -q 2>"$dir/test.err"; then
	echo "$prog: nginx rejected the configuration:" >&2
	cat "$dir/test.err" >&2
	rm -rf "$dir"
	exit 1
fi

# True while process $1 runs (a zombie has finished).
running() {
	local st
	st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# The nginx worker: a child of the master whose name is nginx. Prints its
# PID, or nothing while there is none yet.
worker_pid() {
	local c
	for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = nginx ]; then
			echo "$c"
			return 0
		fi
	done
}

# The announcer runs beside nginx: once the port accepts connections and
# the worker exists it prints the contract lines, then waits for nginx (this
# PID after exec) to exit and removes the private directory. Bounded: 10 s
# to come up.
nginx_pid=$$
(
	trap '' INT TERM
	up=""
	worker=""
	for _ in $(seq 200); do
		running "$nginx_pid" || break
		worker=$(worker_pid "$nginx_pid")
		if [ -n "$worker" ] && (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			up=1
			break
		fi
		sleep 0.05
	done
	if [ -n "$up" ]; then
		printf 'listen http %s\nmeasure pid %s\nready\n' "$addr" "$worker"
	else
		echo "$prog: nginx did not start listening on $addr" >&2
	fi
	exec >/dev/null
	while running "$nginx_pid"; do
		sleep 0.5
	done
	rm -rf "$dir"
) &

# In the foreground, master and one worker. SIGTERM/SIGINT: fast shutdown, exit 0.
exec "$nginx" -e stderr -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;'
