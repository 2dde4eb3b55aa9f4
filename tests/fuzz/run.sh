#!/bin/sh
# Runs one libFuzzer harness for a fixed time and prints one summary line:
#   fuzz_NAME: EXECS execs in SECS s, cov C ft F, corpus N, crashes K [...]
#
#   run.sh [--smoke] [-t SECONDS] -o OUTDIR HARNESS SEED_DIR
#
# --smoke (meson test, suite 'fuzz'): starts from the committed seeds only
#   and fuzzes into a temporary corpus that is removed afterwards, so every
#   smoke run is the same short check and nothing is written into git.
#   SECONDS defaults to $FUZZ_SMOKE_SECONDS, else 5.
# otherwise (make fuzz): the grown corpus is kept in OUTDIR/corpus/NAME and
#   reused by the next run; the full libFuzzer log is OUTDIR/logs/NAME.log
#   and the summary line is also written to OUTDIR/logs/NAME.summary.
# Either way crash, leak, timeout and OOM reproducers go to
# OUTDIR/crashes/NAME/, and the exit status is non-zero when there is one.
set -eu

usage() {
	echo "usage: $0 [--smoke] [-t SECONDS] -o OUTDIR HARNESS SEED_DIR" >&2
	exit 2
}

smoke=0
secs=""
out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1; shift ;;
	-t) [ $# -ge 2 ] || usage; secs=$2; shift 2 ;;
	-o) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
	-*) usage ;;
	*) break ;;
	esac
done
if [ $# -ne 2 ] || [ -z "$out" ]; then usage; fi
exe=$1
seeds=$2
if [ -z "$secs" ]; then
	if [ "$smoke" = 1 ]; then secs=${FUZZ_SMOKE_SECONDS:-5}; else secs=600; fi
fi
case "$secs" in
'' | *[!0-9]*) echo "$0: SECONDS must be a whole number, got '$secs'" >&2; exit 2 ;;
esac
[ -x "$exe" ] || { echo "$0: no harness at $exe (build it first)" >&2; exit 2; }
[ -d "$seeds" ] || { echo "$0: no seed corpus at $seeds" >&2; exit 2; }

name=$(basename "$exe")
name=${name#fuzz_}
crashes="$out/crashes/$name"
mkdir -p "$crashes" "$out/logs"
if [ "$smoke" = 1 ]; then
	corpus=$(mktemp -d "$out/smoke-$name.XXXXXX")
	log="$corpus.log"
	trap 'rm -rf "$corpus" "$log"' EXIT
	trap 'exit 130' INT TERM
else
	corpus="$out/corpus/$name"
	log="$out/logs/$name.log"
	mkdir -p "$corpus"
fi

# Reproducers already there are from earlier runs; only new ones count.
before=$(find "$crashes" -maxdepth 1 -type f | wc -l)

# libFuzzer writes new inputs into the first directory only, so the seeds
# (second) stay untouched. -timeout bounds one input: a hang in a parser is
# a bug, and without it a stuck input would outlive -max_total_time. The
# outer timeout(1) is the last resort should libFuzzer itself not stop.
# With halt_on_error (ASan) and -fno-sanitize-recover (UBSan) any report
# ends the run with a reproducer.
status=0
timeout --kill-after=10 $((secs + 120)) "$exe" \
	-max_total_time="$secs" -timeout=25 -print_final_stats=1 \
	-artifact_prefix="$crashes/" "$corpus" "$seeds" >"$log" 2>&1 || status=$?

# Figures from libFuzzer's own output: the last status line ("#N ... cov: C
# ft: F corp: ...") and the final stats.
last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
ncorp=$(find "$corpus" -maxdepth 1 -type f | wc -l)
after=$(find "$crashes" -maxdepth 1 -type f | wc -l)
new=$((after - before))

line="fuzz_$name: ${execs:-?} execs in ${took:-?} s, cov ${cov:-?} ft ${ft:-?}, corpus $ncorp, crashes $new"
if [ "$status" != 0 ] || [ "$new" -gt 0 ]; then
	line="$line (exit $status)"
	# What went wrong: the sanitizer or libFuzzer report and the
	# reproducer, kept next to the others in the crashes directory.
	# The report with its stack, then where the input was written.
	sed -n '/==ERROR\|runtime error\|ALARM\|ERROR: libFuzzer/,+25p' "$log" | head -n 40 >&2
	grep -E 'Test unit written|^Base64' "$log" >&2 || true
	# Outside the crashes directory, which holds reproducers only.
	cp "$log" "$out/logs/$name.failure.log"
	echo "reproducers in $crashes/ (log: $out/logs/$name.failure.log); replay: $exe <file>" >&2
	status=1
fi
echo "$line"
[ "$smoke" = 1 ] || echo "$line" >"$out/logs/$name.summary"
exit $status
