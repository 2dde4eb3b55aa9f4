#!/usr/bin/env bash
# test_deb.sh: the Debian package end to end, as a user gets it. Builds it
# (deploy/debian/build-deb.sh, lintian included), installs it with apt-get,
# checks what it installed, verifies the unit with systemd-analyze, starts
# /usr/bin/ringcast as the packaged user with the packaged config (directly:
# PID 1 may not be systemd here), checks /healthz, /, /ringcast.js, the
# players, one UDP -> WebSocket delivery with the packaged tools and
# --version, stops it with SIGTERM, and purges the package, checking that
# nothing is left behind.
#
# Usage: tests/deb/test_deb.sh [OUT_DIR]   (as root; default OUT_DIR build-deb)
# Listens on 127.0.0.1 only, on ports the kernel picks (the command line
# overrides the config's listen and udp lines, which bind 0.0.0.0).
# Refuses to run when a ringcast package is already installed (it would
# purge it) or a user ringcast exists without it (purge would remove it). Exit status: 0 pass, 1 failure.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$src/build-deb}
work=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-test-deb.XXXXXX")
server_pid=""
sub_pid=""
installed=""

fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
pass() { echo "test-deb: ok: $*"; }

cleanup() {
	local rc=$?
	[ -n "$sub_pid" ] && kill "$sub_pid" 2>/dev/null || true
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ -n "$installed" ] && dpkg -s ringcast >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ringcast >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "must run as root (apt-get install)"
if dpkg -s ringcast >/dev/null 2>&1; then
	fail "a ringcast package is already installed; purge it first (this test purges what it installs)"
fi
if getent passwd ringcast >/dev/null; then
	fail "a user ringcast exists but no ringcast package: the test's purge would remove it"
fi

"$src/deploy/debian/build-deb.sh" "$out"
# Absolute: apt-get takes a relative path without ./ for a package name.
out=$(cd "$out" && pwd)
deb=$(ls "$out"/ringcast_*.deb)
pass "built $(basename "$deb"), lintian clean"

installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log" >&2; fail "apt-get install $deb"; }
pass "apt-get install ./$(basename "$deb")"

for f in /usr/bin/ringcast /usr/bin/ringcast-pub /usr/bin/ringcast-sub /usr/bin/ringcast-token \
	/etc/ringcast/ringcast.conf /lib/systemd/system/ringcast.service \
	/usr/share/ringcast/www/index.html /usr/share/ringcast/www/ringcast.js \
	/usr/share/ringcast/www/vendor/mpegts/mpegts.js \
	/usr/share/ringcast/www/vendor/jsmpeg/jsmpeg-player.esm.js \
	/usr/share/man/man1/ringcast.1.gz /usr/share/man/man1/ringcast-pub.1.gz \
	/usr/share/man/man1/ringcast-sub.1.gz /usr/share/man/man1/ringcast-token.1.gz; do
	[ -e "$f" ] || fail "not installed: $f"
done
[ ! -e /usr/bin/ringcast-bench ] || fail "/usr/bin/ringcast-bench is installed (not a user tool)"
dpkg-query -W -f='${Conffiles}\n' ringcast | grep -q ' /etc/ringcast/ringcast.conf ' ||
	fail "/etc/ringcast/ringcast.conf is not a conffile"
getent passwd ringcast >/dev/null || fail "no system user ringcast"
pass "files, conffile, man pages and the system user are there"

if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify /lib/systemd/system/ringcast.service >"$work/verify.log" 2>&1 ||
		{ cat "$work/verify.log" >&2; fail "systemd-analyze verify ringcast.service"; }
	[ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify printed warnings"; }
	pass "systemd-analyze verify ringcast.service"
else
	fail "systemd-analyze not found (Debian package systemd)"
fi

# The packaged version is the program's.
pkg_version=$(dpkg-query -W -f='${Version}' ringcast)
prog_version=$(/usr/bin/ringcast --version)
[ "$prog_version" = "ringcast ${pkg_version%-*}" ] ||
	fail "ringcast --version says '$prog_version', the package is $pkg_version"
pass "ringcast --version: $prog_version"

# As the packaged user, with the packaged config (read by default), on
# loopback ports the kernel picks.
# setpriv execs (runuser would fork and leave the server its child), so $!
# is the server's own PID.
setpriv --reuid=ringcast --regid=ringcast --init-groups -- \
	/usr/bin/ringcast --listen 127.0.0.1:0 --udp 127.0.0.1:0=game \
	>"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do
	grep -q '^ready' "$work/server.out" && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; fail "ringcast exited at start"; }
	sleep 0.1
done
grep -q '^ready' "$work/server.out" || { cat "$work/server.err" >&2; fail "ringcast not ready within 10 s"; }
http=$(awk '$1 == "listen" && $2 == "http" { print $3 }' "$work/server.out")
udp=$(awk '$1 == "listen" && $2 == "udp" && $4 == "game" { print $3 }' "$work/server.out")
[ -n "$http" ] && [ -n "$udp" ] || fail "no bound addresses in: $(cat "$work/server.out")"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$server_pid/status")
[ "$uid" = "$(id -u ringcast)" ] || fail "ringcast runs as uid $uid, not ringcast's"
pass "started as user ringcast on $http, UDP $udp"

get() { # path -> body in $work/body, status echoed
	curl -sS -o "$work/body" -w '%{http_code}' --max-time 5 "http://$http$1"
}
[ "$(get /healthz)" = 200 ] || fail "/healthz"
[ "$(get /)" = 200 ] && grep -qi '<html' "$work/body" || fail "/ is not the demo page"
[ "$(get /ringcast.js)" = 200 ] && cmp -s "$work/body" /usr/share/ringcast/www/ringcast.js || fail "/ringcast.js"
[ "$(get /vendor/mpegts/mpegts.js)" = 200 ] || fail "/vendor/mpegts/mpegts.js"
[ "$(get /vendor/jsmpeg/jsmpeg-player.esm.js)" = 200 ] || fail "/vendor/jsmpeg/jsmpeg-player.esm.js"
pass "/healthz, /, /ringcast.js and the players answer 200 with the installed files"

# One delivery, UDP in, WebSocket out, with the packaged tools. The
# subscriber waits for one message; datagrams are sent until it has it
# (bounded: 50 x 0.1 s), since it may not have joined yet at the first.
/usr/bin/ringcast-sub "ws://$http/ws/game" --count 1 --timeout 10 >"$work/sub.out" 2>"$work/sub.err" &
sub_pid=$!
for _ in $(seq 50); do
	kill -0 "$sub_pid" 2>/dev/null || break
	/usr/bin/ringcast-pub --udp "$udp" --count 1 --pattern text --size 32 >/dev/null
	sleep 0.1
done
wait "$sub_pid" || { cat "$work/sub.err" >&2; fail "ringcast-sub exited $? (no message)"; }
sub_pid=""
# ringcast-pub's text pattern is "seq=N ..." ending in a newline, and
# ringcast-sub prints a text message as it is (a binary one as "binary N
# bytes: ..."). Text frames on channel game come from the packaged config
# (frames=text): a text line shows that ringcast read it.
head -n 1 "$work/sub.out" | grep -q '^seq=[0-9]* [a-z]' ||
	fail "ringcast-sub got '$(cat "$work/sub.out")', not ringcast-pub's text message"
pass "UDP -> WebSocket: one text message delivered, as the packaged config says ($(head -c 40 "$work/sub.out"))"

grep -q 'loop: .* backend' "$work/server.err" || fail "no backend line in the log"
kill -TERM "$server_pid"
wait "$server_pid" || fail "ringcast exited $? after SIGTERM"
server_pid=""
pass "SIGTERM: exit 0"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ringcast >"$work/purge.log" 2>&1 ||
	{ cat "$work/purge.log" >&2; fail "apt-get purge ringcast"; }
installed=""
dpkg -s ringcast >/dev/null 2>&1 && fail "still installed after purge"
for f in /usr/bin/ringcast /usr/bin/ringcast-pub /usr/bin/ringcast-sub /usr/bin/ringcast-token \
	/etc/ringcast /usr/share/ringcast /lib/systemd/system/ringcast.service \
	/usr/share/man/man1/ringcast.1.gz /usr/share/doc/ringcast \
	/etc/systemd/system/multi-user.target.wants/ringcast.service; do
	[ ! -e "$f" ] || fail "left behind after purge: $f"
done
getent passwd ringcast >/dev/null && fail "user ringcast left behind after purge"
getent group ringcast >/dev/null && fail "group ringcast left behind after purge"
pass "purged: no files, no user, no group left"
echo "test-deb: PASS"
