#!/bin/sh
# `make run`: ringcast on its built-in defaults (the demo page at
# http://localhost:8080/, UDP 9000 -> live, UDP 9001 -> game) and, once it
# is ready, two demo publishers:
#   - ffmpeg's test pattern as MPEG-1 video in MPEG-TS to channel live
#     (when ffmpeg is installed),
#   - game states to channel game: `ringcast-pub --demo game` (60 Hz).
# The publishers are stopped, by PID, when ringcast stops (Ctrl-C).
#
#   deploy/run-demo.sh [BUILD_DIR] [RINGCAST ARGS...]
# Environment: DEMO=0 starts no publishers; DEMO_LIVE / DEMO_GAME are
# where they send (default 127.0.0.1:9000 and 127.0.0.1:9001; change them
# along with --udp in the arguments).
set -u

build=${1:-build}
[ $# -gt 0 ] && shift
live=${DEMO_LIVE:-127.0.0.1:9000}
game=${DEMO_GAME:-127.0.0.1:9001}
tmp=$(mktemp -d)
pubs=""

mkfifo "$tmp/out"
"$build/gateway/ringcast" "$@" >"$tmp/out" &
rc=$!
trap 'kill -TERM "$rc" 2>/dev/null' INT TERM
exec 3<"$tmp/out"
rm -rf "$tmp"
# Pass the start-up lines through; publish only once it is ready.
ready=0
url=http://localhost:8080/
while IFS= read -r line <&3; do
	printf '%s\n' "$line"
	case "$line" in
	"listen http "*) url="http://localhost:${line##*:}/" ;;
	esac
	if [ "$line" = ready ]; then
		ready=1
		break
	fi
done
if [ "$ready" = 1 ]; then
	cat <&3 &
	if [ "${DEMO:-1}" != 0 ]; then
		if command -v ffmpeg >/dev/null; then
			ffmpeg -hide_banner -loglevel error -nostdin -re \
				-f lavfi -i testsrc=size=640x360:rate=30 \
				-c:v mpeg1video -b:v 1500k -f mpegts "udp://$live?pkt_size=1316" &
			pubs="$pubs $!"
			echo "demo: ffmpeg test pattern -> udp://$live (channel live), pid $!" >&2
		else
			echo "demo: no ffmpeg, channel live stays empty" >&2
		fi
		"$build/tools/ringcast-pub" --demo game --udp "$game" >/dev/null &
		pubs="$pubs $!"
		echo "demo: game states -> udp://$game (channel game), pid $!" >&2
		echo "demo: open $url (Ctrl-C stops everything)" >&2
	fi
fi
# Returns early when a signal arrives (the trap passes it on): wait until
# ringcast has really gone.
wait "$rc"
status=$?
while kill -0 "$rc" 2>/dev/null; do
	wait "$rc"
	status=$?
done
for p in $pubs; do
	kill -TERM "$p" 2>/dev/null
done
wait
exit "$status"
