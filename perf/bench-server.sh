# shellcheck shell=bash
# Sourced by bench-core.sh and bench-peers.sh, not run: the one server such a
# script runs at a time ($server_pid), waiting for its "ready" line, and
# stopping it. The sourcing script sets bench_name, which messages start with.
# Sourcing sets the traps that stop the server when the script ends or is
# interrupted, so no server outlives its benchmark.

: "${bench_name:?set by the script that sources bench-server.sh}"
server_pid=""

# Returns 0 once the server has written the line "ready" to file $1, 1 when
# it exits first or has not done so within $2 seconds.
wait_ready() {
	local out=$1 tries=$(($2 * 10))
	for _ in $(seq "$tries"); do
		grep -qx ready "$out" 2>/dev/null && return 0
		kill -0 "$server_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Stops only the server this script started, by its PID: SIGTERM first (the
# gateway flushes and exits), SIGKILL if it is still there after 10 s.
stop_server() {
	local pid=$server_pid
	[ -n "$pid" ] || return 0
	server_pid=""
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$bench_name: server $pid ignored SIGTERM; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM
