#!/bin/sh
# deps.sh - install the Debian packages hookd needs to build, test and run.
#
#   deps.sh         what make, make test and make run need
#   deps.sh fuzz    that and clang with its libFuzzer runtime (make fuzz)
#
# Idempotent: when every package is already installed it does nothing and
# touches no network.  Needs root (or sudo) only when something is missing.
set -eu

PKGS="build-essential pkg-config
libevent-dev libhiredis-dev libpq-dev libconfig-dev libcurl4-openssl-dev
libssl-dev libjansson-dev
redis-server redis-sentinel postgresql postgresql-contrib
python3 python3-pytest python3-redis python3-psycopg2 python3-requests
python3-prometheus-client python3-yaml prometheus openssl curl procps iproute2
docker-compose systemd man-db groff-base strace
libjs-chart.js chromium chromium-driver python3-selenium python3-pil"
case ${1:-} in
"") ;;
fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
*) echo "usage: deps.sh [fuzz]" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
