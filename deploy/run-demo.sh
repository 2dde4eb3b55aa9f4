#!/bin/sh
# `make run`: ringcast on its built-in defaults (the demo page at
# http://localhost:8080/, UDP 9000 -> live, UDP 9001 -> game) and, once it
# is ready, two demo publishers:
#   - ffmpeg's test pattern with a tone, H.264 + AAC in MPEG-TS, to channel
#     live (when ffmpeg is installed; the page plays it with mpegts.js);
#     DEMO_CODEC=mpeg1 sends MPEG-1 video instead, as earlier versions did
#     (played with JSMpeg),
#   - game states to channel game: `ringcast-pub --demo game` (60 Hz).
# The publishers are stopped, by PID, when ringcast stops (Ctrl-C).
#
#   deploy/run-demo.sh [BUILD_DIR] [RINGCAST ARGS...]
# Environment: DEMO=0 starts no publishers; DEMO_LIVE / DEMO_GAME are
# where they send (default 127.0.0.1:9000 and 127.0.0.1:9001; change them
# along with --udp in the arguments); DEMO_CODEC is h264 (default) or
# mpeg1.
set -u
# demo_codec_check, demo_publishers
# shellcheck source=deploy/demo-publishers.sh
. "$(dirname "$0")/demo-publishers.sh"

build=${1:-build}
[ $# -gt 0 ] && shift
live=${DEMO_LIVE:-127.0.0.1:9000}
codec=${DEMO_CODEC:-h264}
demo_codec_check "$codec" || exit 2
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
		demo_publishers "$build/tools/ringcast-pub" "$live" "$game" "$codec"
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
