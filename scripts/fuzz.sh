#!/usr/bin/env bash
# fuzz.sh - run the libFuzzer targets that `make fuzz` built.
#
#   fuzz.sh run BINDIR SECONDS    each target for SECONDS on its corpus
#   fuzz.sh merge BINDIR SECONDS  the same, then the new inputs that add
#                                 coverage merged into the corpus
#
# A target reads tests/fuzz/corpus/<target>/ and writes what it finds to a
# temporary directory, so a run leaves the tree as it was; only merge adds
# files to the corpus, and only those that reach new code.  A crash's
# reproducer is kept as build/fuzz/artifacts/<target>-crash-<sha1>; run
# the target on that file to see it again.  tests/fuzz/<target>.dict, when
# there is one, gives libFuzzer the words of the input's language.  One line per target, then
# exactly "N passed, N failed"; a target passes when libFuzzer exits 0.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

mode=${1:?usage: fuzz.sh run|merge BINDIR SECONDS}
bindir=${2:?usage: fuzz.sh run|merge BINDIR SECONDS}
secs=${3:-10}
case $mode in run|merge) ;; *) echo "fuzz.sh: unknown mode $mode" >&2; exit 2 ;; esac

art=build/fuzz/artifacts
mkdir -p "$art"
work=$(mktemp -d "${TMPDIR:-/tmp}/hookd-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# The sanitizers stop at the first report; UBSan prints where it happened.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

passed=0
failed=0
for bin in "$bindir"/fuzz_*; do
	[ -x "$bin" ] || continue
	t=${bin##*/}
	corpus=tests/fuzz/corpus/$t
	mkdir -p "$corpus"
	mkdir -p "$work/$t"
	log=$work/$t.log
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	# libFuzzer writes new inputs to the first directory only.  The
	# outer timeout is for a hang libFuzzer's own -timeout cannot end.
	timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" \
	    -timeout=20 -print_final_stats=1 -artifact_prefix="$art/$t-" \
	    "${dict[@]}" "$work/$t" "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	found=$(find "$work/$t" -type f | wc -l)
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		sed -n '/^==[0-9]*==ERROR\|runtime error\|^fuzz_\|deadly signal\|ALARM/,$p' "$log" | head -n 60
		echo "FAIL $t: exit $rc after ${execs:-?} runs, reproducer ${repro:-none}"
		continue
	fi
	line="PASS $t: ${execs:-?} runs in ${secs}s, $found new inputs"
	if [ "$mode" = merge ] && [ "$found" -gt 0 ]; then
		before=$(find "$corpus" -type f | wc -l)
		if ! "$bin" -merge=1 "$corpus" "$work/$t" >"$work/$t.merge" 2>&1; then
			tail -n 20 "$work/$t.merge"
			failed=$((failed + 1))
			echo "FAIL $t: the merge failed"
			continue
		fi
		after=$(find "$corpus" -type f | wc -l)
		line="$line, $((after - before)) merged into $corpus"
	fi
	passed=$((passed + 1))
	echo "$line"
done
if [ $((passed + failed)) -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets in $bindir" >&2
	failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
