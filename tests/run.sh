#!/usr/bin/env bash
# run.sh - the test run behind `make test`.
#
# The makefile builds bin/, build/release/tests/*, build/asan/bin/ and
# build/asan/tests/* first; this script runs, in order:
#   1. every unit test binary of the release build, then of the sanitizer build
#      (LeakSanitizer on);
#   2. the integration tests (pytest, real Redis and PostgreSQL) against bin/,
#      then against build/asan/bin/ (LeakSanitizer off: forked daemons that
#      exit through a signal handler report noise, not leaks; any
#      AddressSanitizer or UBSan report in a hookd log fails the test).
# Each part prints its own counts; the last line is the sum, exactly
# "N passed, N failed".  Exit status 1 when anything failed or nothing ran.
#
# Environment: HOOKD_TEST_TIMEOUT (seconds per pytest pass, default 1800),
# HOOKD_UNIT_TIMEOUT (seconds per unit binary, default 300), PYTEST_ARGS
# (extra pytest arguments, e.g. "-k redis -x").
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

PY=/usr/bin/python3
ASAN_UNIT="detect_leaks=1:abort_on_error=0"
ASAN_INTEGRATION="detect_leaks=0:abort_on_error=0"
UBSAN="print_stacktrace=1:halt_on_error=1"
UNIT_TIMEOUT=${HOOKD_UNIT_TIMEOUT:-300}
TEST_TIMEOUT=${HOOKD_TEST_TIMEOUT:-1800}

work=$(mktemp -d "${TMPDIR:-/tmp}/hookd-run.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

total_pass=0
total_fail=0

# unit_dir LABEL DIR [VAR=VALUE...] - run every test binary in DIR.
unit_dir() {
	local label=$1 dir=$2 t name out rc line p f part_p=0 part_f=0 n=0
	shift 2
	for t in "$dir"/test_*; do
		if [ ! -f "$t" ] || [ ! -x "$t" ]; then
			continue
		fi
		case $t in *.d|*.o) continue ;; esac
		name=${t##*/}
		out="$work/unit-$label-$name.log"
		env "$@" timeout --foreground -k 10 "$UNIT_TIMEOUT" "$t" >"$out" 2>&1
		rc=$?
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
		if [ -n "$line" ]; then
			p=${line%% passed*}
			f=${line#*passed, }
			f=${f%% failed*}
		else
			# No summary: the binary crashed, timed out, or a sanitizer
			# ended it at exit (LeakSanitizer exits before stdio is
			# flushed).  Count the tests it reported, plus one failure
			# for the binary itself.
			p=$(grep -c '^PASS ' "$out")
			f=$(sed -n 's/^FAIL \([^:]*\):.*/\1/p' "$out" | sort -u | wc -l)
			f=$((f + 1))
		fi
		# A non-zero exit with every counted test passed (a leak report,
		# a crash after the summary) fails the binary too.
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1
		fi
		printf '  %-28s %s passed, %s failed' "$name" "$p" "$f"
		[ "$rc" -ne 0 ] && printf '  (exit status %s)' "$rc"
		printf '\n'
		if [ "$f" -ne 0 ]; then
			# What went wrong: the failed checks, then the end of
			# anything else it printed (a sanitizer report, a crash),
			# indented so that no line of it reads like the summary.
			{
				grep -E '^FAIL ' "$out" | head -n 40
				grep -vE '^(PASS |FAIL |[0-9]+ passed, [0-9]+ failed$)' "$out" |
				    tail -n 40
			} | sed 's/^/      /'
		fi
		part_p=$((part_p + p))
		part_f=$((part_f + f))
		n=$((n + 1))
	done
	echo "unit ($label): $n binaries: $part_p passed, $part_f failed"
	total_pass=$((total_pass + part_p))
	total_fail=$((total_fail + part_f))
}

# integration LABEL BINDIR [VAR=VALUE...] - one pytest pass against BINDIR.
integration() {
	local label=$1 bindir=$2 xml rc counts p f s
	shift 2
	xml="$work/pytest-$label.xml"
	echo "integration ($label): HOOKD_BIN_DIR=$bindir"
	# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words
	env HOOKD_BIN_DIR="$bindir" PYTHONDONTWRITEBYTECODE=1 "$@" \
	    timeout --foreground -k 30 "$TEST_TIMEOUT" \
	    "$PY" -m pytest -q -p no:cacheprovider --junitxml="$xml" \
	    ${PYTEST_ARGS:-} tests/integration
	rc=$?
	counts=$("$PY" - "$xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("none")
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
t = f = s = 0
for su in suites:
    t += int(su.get("tests", 0))
    f += int(su.get("failures", 0)) + int(su.get("errors", 0))
    s += int(su.get("skipped", 0))
print(t - f - s, f, s)
EOF
)
	if [ "$counts" = none ]; then
		p=0 f=1 s=0
		echo "  pytest wrote no report (exit status $rc)"
	else
		read -r p f s <<<"$counts"
	fi
	# pytest's status: 0 all passed, 1 some failed, 5 nothing collected,
	# anything else (interrupted, timed out, internal error) is a failure of
	# its own.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		case $rc in
		5) echo "  pytest collected no tests" ;;
		124|137) echo "  pytest timed out after ${TEST_TIMEOUT}s" ;;
		*) echo "  pytest exited with status $rc" ;;
		esac
	fi
	echo "integration ($label): $p passed, $f failed, $s skipped"
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

start=$SECONDS
echo "== unit tests (release)"
unit_dir release build/release/tests
echo "== unit tests (asan)"
unit_dir asan build/asan/tests ASAN_OPTIONS="$ASAN_UNIT" UBSAN_OPTIONS="$UBSAN"
echo "== integration tests (release)"
integration release bin
echo "== integration tests (asan)"
integration asan build/asan/bin ASAN_OPTIONS="$ASAN_INTEGRATION" UBSAN_OPTIONS="$UBSAN"
echo "== done in $((SECONDS - start))s"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
