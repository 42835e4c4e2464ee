#!/bin/sh
# bench.sh - `make bench`: the benchmark table of perf/README.md.
#
# Installs nginx-light from Debian when nginx is missing (it sets the
# ceiling row), then hands over to perf/bench.py, which starts a private
# Redis, PostgreSQL, hookd, the sink and nginx on loopback, runs
# bin/hookbench against them and prints one table.  Environment:
# BENCH_RUNS (3), BENCH_QUICK=1 (under three minutes), BENCH_SECONDS,
# BENCH_CONNS, BENCH_WORKERS, BENCH_SOAK_SECONDS, BENCH_JSON=FILE,
# BENCH_KEEP=1; see bench.py.
set -eu

cd "$(dirname "$0")/.."

if [ ! -x /usr/sbin/nginx ]; then
	echo "bench: installing nginx-light for the ceiling row" >&2
	sudo=""
	[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo=sudo
	if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends nginx-light >&2; then
		echo "bench: nginx-light could not be installed;" \
		    "the ceiling row will say n/a" >&2
	fi
	# Debian's package starts a system nginx on port 80; the bench
	# runs its own and needs nothing else.
fi

exec /usr/bin/python3 perf/bench.py "$@"
