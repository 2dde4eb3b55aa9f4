#!/bin/sh
# manpage.sh: writes the man page of a built program from its --help.
# Usage: manpage.sh AWK_SCRIPT PROGRAM NAME VERSION OUT
# The date is SOURCE_DATE_EPOCH's when set (dpkg-buildpackage sets it from
# debian/changelog), so a package build gives the same page every time.
set -eu
awk_script=$1 prog=$2 name=$3 version=$4 out=$5
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)
"$prog" --help >"$out.help"
awk -v name="$name" -v section=1 -v version="$version" -v date="$date" \
	-f "$awk_script" "$out.help" >"$out"
rm -f "$out.help"
