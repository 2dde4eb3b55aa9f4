#!/usr/bin/env bash
# build-deb.sh: builds ringcast_<version>_<arch>.deb with Debian's tools
# (dpkg-buildpackage, debhelper) and checks it with lintian.
#
# Usage: deploy/debian/build-deb.sh OUT_DIR [--no-lintian]
# Stages a copy of the source tree in OUT_DIR/src (the files git tracks, as
# they are in the work tree), with deploy/debian as debian/, the unit
# deploy/ringcast.service as debian/ringcast.service, and the two video
# players from node_modules/ (run `npm ci` first; `make deb` does). The .deb
# lands in OUT_DIR. lintian must report no tag that is not overridden in
# deploy/debian/ringcast.lintian-overrides (each override says why).
# Exit status: 0 built (and lintian clean), 1 failure, 2 usage error.
set -euo pipefail

out=${1:-}
[ -n "$out" ] || { echo "usage: $0 OUT_DIR [--no-lintian]" >&2; exit 2; }
lint=1
[ "${2:-}" = --no-lintian ] && lint=""
src=$(cd "$(dirname "$0")/../.." && pwd)

for f in node_modules/mpegts.js/dist/mpegts.js node_modules/@cycjimmy/jsmpeg-player/dist/jsmpeg-player.esm.js; do
	[ -f "$src/$f" ] || { echo "build-deb: missing $f (run npm ci)" >&2; exit 1; }
done
command -v dpkg-buildpackage >/dev/null || { echo "build-deb: dpkg-buildpackage not found (apt-get install dpkg-dev debhelper)" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
stage="$out/src"
rm -rf "$stage"
mkdir -p "$stage"
rm -f "$out"/ringcast_*.deb "$out"/ringcast-dbgsym_*.deb "$out"/ringcast_*.buildinfo "$out"/ringcast_*.changes

# The tracked files only: no build directories, no node_modules beyond the
# two players.
# tar reads the list itself (-T): xargs would split a long list over
# several tar runs, and the reader stops at the first archive's end.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | grep -zv '^node_modules/' |
	tar -cf - --no-recursion --null -T -) | tar -xf - -C "$stage"
for d in node_modules/mpegts.js node_modules/@cycjimmy/jsmpeg-player; do
	mkdir -p "$stage/$(dirname "$d")"
	cp -a "$src/$d" "$stage/$d"
done
cp -a "$src/deploy/debian" "$stage/debian"
rm -f "$stage/debian/build-deb.sh"
cp "$src/deploy/ringcast.service" "$stage/debian/ringcast.service"

# -b: binary packages only (the source tree is this repository); -us -uc:
# nothing to sign.
(cd "$stage" && dpkg-buildpackage -b -us -uc --no-pre-clean) >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
}
deb=$(ls "$out"/ringcast_*.deb)
echo "build-deb: $deb"

if [ -n "$lint" ]; then
	command -v lintian >/dev/null || { echo "build-deb: lintian not found (apt-get install lintian)" >&2; exit 1; }
	# Every tag, pedantic and experimental included, except the ones the
	# overrides file explains; any other tag fails the build.
	if ! lintian --fail-on error,warning,info,pedantic --pedantic -E --info "$deb" | tee "$out/lintian.txt"; then
		echo "build-deb: lintian reports tags (above): fix them or explain them in deploy/debian/ringcast.lintian-overrides" >&2
		exit 1
	fi
	echo "build-deb: lintian clean"
fi
