# shellcheck shell=sh
# Sourced (not run) by deploy/run-demo.sh and deploy/cluster-demo.sh, so
# that `make run` and the cluster demo feed the same streams:
#   demo_codec_check CODEC          fails unless CODEC is h264 or mpeg1
#   demo_publishers PUB LIVE GAME CODEC
# starts, in the background, ffmpeg's test pattern (and tone) as MPEG-TS to
# udp://LIVE when ffmpeg is installed, and `PUB --demo game` (PUB: the
# ringcast-pub binary) to udp://GAME, and appends their PIDs to $pubs.

demo_codec_check() {
	case "$1" in
	h264 | mpeg1) ;;
	*)
		echo "DEMO_CODEC: h264 or mpeg1, not '$1'" >&2
		return 1
		;;
	esac
}

demo_publishers() {
	if command -v ffmpeg >/dev/null && [ "$4" = mpeg1 ]; then
		ffmpeg -hide_banner -loglevel error -nostdin -re \
			-f lavfi -i testsrc=size=640x360:rate=30 \
			-c:v mpeg1video -b:v 1500k -f mpegts "udp://$2?pkt_size=1316" &
		pubs="$pubs $!"
		echo "demo: ffmpeg test pattern, MPEG-1 -> udp://$2 (channel live), pid $!" >&2
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
			-f mpegts "udp://$2?pkt_size=1316" &
		pubs="$pubs $!"
		echo "demo: ffmpeg test pattern and tone, H.264 + AAC -> udp://$2 (channel live), pid $!" >&2
	else
		echo "demo: no ffmpeg, channel live stays empty" >&2
	fi
	"$1" --demo game --udp "$3" >/dev/null &
	pubs="$pubs $!"
	echo "demo: game states -> udp://$3 (channel game), pid $!" >&2
}
