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

build=${1:-build}
[ $# -gt 0 ] && shift
live=${DEMO_LIVE:-127.0.0.1:9000}
codec=${DEMO_CODEC:-h264}
case "$codec" in
h264 | mpeg1) ;;
*)
	echo "DEMO_CODEC: h264 or mpeg1, not '$codec'" >&2
	exit 2
	;;
esac
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
		if command -v ffmpeg >/dev/null && [ "$codec" = mpeg1 ]; then
			ffmpeg -hide_banner -loglevel error -nostdin -re \
				-f lavfi -i testsrc=size=640x360:rate=30 \
				-c:v mpeg1video -b:v 1500k -f mpegts "udp://$live?pkt_size=1316" &
			pubs="$pubs $!"
			echo "demo: ffmpeg test pattern, MPEG-1 -> udp://$live (channel live), pid $!" >&2
		elif command -v ffmpeg >/dev/null; then
			# x264 without look-ahead or B-frames (zerolatency) and a
			# keyframe every second (30 frames, no extra ones at scene
			# cuts): a late joiner starts from the cached GOP at most a
			# second old. pkt_size=1316: 7 whole TS packets a datagram.
			# pes_payload_size 0: each AAC frame in its own PES, so the
			# browser can play with a smaller buffer (docs/VIDEO.md).
			ffmpeg -hide_banner -loglevel error -nostdin \
				-re -f lavfi -i testsrc2=size=640x360:rate=30 \
				-re -f lavfi -i sine=frequency=440:beep_factor=4:sample_rate=48000 \
				-c:v libx264 -preset veryfast -tune zerolatency -g 30 -keyint_min 30 \
				-sc_threshold 0 -bf 0 -pix_fmt yuv420p -b:v 1500k \
				-c:a aac -b:a 96k -pes_payload_size 0 \
				-f mpegts "udp://$live?pkt_size=1316" &
			pubs="$pubs $!"
			echo "demo: ffmpeg test pattern and tone, H.264 + AAC -> udp://$live (channel live), pid $!" >&2
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
