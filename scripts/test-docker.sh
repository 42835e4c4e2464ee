#!/usr/bin/env bash
# test-docker.sh - `make test-docker`: the compose smoke test, for real.
#
# On a Debian 12 machine with no container registry to pull from, as root:
#   1. installs Debian's docker.io, docker-compose (v1) and debootstrap when
#      missing;
#   2. starts a private dockerd in the background (--iptables=false
#      --ip-forward=false --bridge=none, its own data root, exec root and
#      socket; the compose project gets a private bridge subnet from docker);
#   3. builds a debian:bookworm-slim base image with debootstrap
#      --variant=minbase from the Debian mirror this machine's apt uses, and
#      imports it (cached in $HOOKD_DOCKER_CACHE between runs);
#   4. docker-compose up -d --build with tests/docker/compose.test.yml on top
#      of docker-compose.yml: hookd and the demo receiver from their
#      Dockerfiles, Redis and PostgreSQL as stand-ins built from Debian's
#      packages (every build on the host network, where apt reaches the
#      mirror), then waits until every service is healthy;
#   5. sends webhooks with curl to the published 127.0.0.1 port (a signed
#      GitHub-style event, its duplicate, a bad signature, an unsigned test
#      event), and checks that the demo receiver got both events with good
#      signatures (its /_stats) and that `hookctl stats --json` inside the
#      container counted them;
#   6. docker-compose down -v, stops dockerd and removes what it left: mounts
#      under its roots, network interfaces it created, its exec root.
# Nothing but loopback, the test's own containers and the apt mirror (for
# debootstrap and the image builds) is contacted.
#
# The last line is "test-docker: passed" or "test-docker: FAILED: why";
# exit status 0 or 1.
#
# Environment:
#   HOOKD_DOCKER_TIMEOUT  seconds for the whole run (default 900)
#   HOOKD_DOCKER_CACHE    cache directory (default /var/cache/hookd-docker):
#                         the base image tarball and dockerd's data root
#                         (images and build cache, reused by the next run)
#   HOOKD_DOCKER_FRESH=1  drop the cache first (a first run, timed as such)
#   HOOKD_DEBIAN_MIRROR   the mirror for debootstrap and apt in the images
#                         (default: the one apt uses for bookworm here)
#   HOOKD_DOCKER_KEEP=1   leave the containers and dockerd running at the end
#                         (prints how to reach them; stop with the printed
#                         command)
# shellcheck disable=SC2317  # functions called from traps are reachable
set -euo pipefail

cd "$(dirname "$0")/.."

# The whole run is bounded: re-run under timeout(1), which signals this
# script's process group (dockerd runs in a session of its own and is
# stopped by the EXIT trap, which the TERM from timeout runs).
LIMIT=${HOOKD_DOCKER_TIMEOUT:-900}
if [ -z "${_HOOKD_TEST_DOCKER_TIMED:-}" ]; then
	export _HOOKD_TEST_DOCKER_TIMED=1
	exec timeout -k 90 "$LIMIT" "$0" "$@"
fi

CACHE=${HOOKD_DOCKER_CACHE:-/var/cache/hookd-docker}
DATA=$CACHE/data
BASE_REV=1			# bump when the base image recipe changes
BASE_TAR=$CACHE/debian-bookworm-minbase-r$BASE_REV.tar
BASE_TAG=debian:bookworm-slim
PROJECT=hookdtest
GITHUB_SECRET=dev-github-secret-not-real	# etc/docker/hookd.conf
COMPOSE_FILES=(-f docker-compose.yml -f tests/docker/compose.test.yml)
start=$SECONDS

# The trap's messages go where the script's own do, whatever redirection is
# active when a signal arrives.
exec 3>&1 4>&2

say() { printf 'test-docker: [%4ds] %s\n' $((SECONDS - start)) "$*"; }
fail() {
	say "FAILED: $*"
	failed="$*"
	exit 1
}

failed=""
work=""
child=""
dockerd_pid=""
compose_up=""
links_before=""

if [ "$(id -u)" -ne 0 ]; then
	echo "test-docker: needs root (it installs packages and runs dockerd)" >&2
	exit 1
fi

# bounded SECONDS CMD... - CMD under timeout(1), in the background so that a
# TERM or INT runs the trap at once instead of after CMD; the trap stops it.
bounded() {
	local rc=0
	timeout -k 10 "$@" &
	child=$!
	wait "$child" || rc=$?
	child=""
	return "$rc"
}

# -- packages -----------------------------------------------------------------

install_packages() {
	local p missing=""
	for p in docker.io docker-compose debootstrap curl openssl python3 iproute2 util-linux; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	bounded 300 apt-get update -qq
	# shellcheck disable=SC2086
	bounded 600 apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# -- the Debian mirror --------------------------------------------------------

# debian_mirrors - print "MIRROR SECURITY" as apt is configured here: the
# URI of the first enabled "deb" source for bookworm and the one for
# bookworm-security ("-" when there is none).
debian_mirrors() {
	/usr/bin/python3 - <<'EOF'
import glob, re

found = {}

def note(types, uris, suites):
    if "deb" not in types:
        return
    for suite in suites:
        for uri in uris:
            found.setdefault(suite, uri.rstrip("/"))

for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    try:
        text = open(path).read()
    except OSError:
        continue
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        note(fields.get("types", "").split(), fields.get("uris", "").split(),
             fields.get("suites", "").split())

for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(line) >= 3:
            note([line[0]], [line[1]], [line[2]])

print(found.get("bookworm", "-"), found.get("bookworm-security", "-"))
EOF
}

# -- the base image -----------------------------------------------------------

# make_base_tar - debootstrap a minimal bookworm into $BASE_TAR, with apt
# pointed at the same mirror and settings as this machine's apt.
make_base_tar() {
	local mirror security rootfs conf
	read -r mirror security < <(debian_mirrors)
	mirror=${HOOKD_DEBIAN_MIRROR:-$mirror}
	if [ -z "$mirror" ] || [ "$mirror" = - ]; then
		fail "no Debian bookworm source in /etc/apt/sources.list{,.d}; set HOOKD_DEBIAN_MIRROR"
	fi
	rootfs=$CACHE/rootfs.tmp
	rm -rf "$rootfs"
	say "debootstrap --variant=minbase bookworm from $mirror (a first run only)"
	if ! bounded 600 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
	    >"$work/debootstrap.log" 2>&1; then
		tail -n 20 "$work/debootstrap.log" | sed 's/^/    /'
		rm -rf "$rootfs"
		fail "debootstrap failed"
	fi
	# apt inside the images: this machine's mirror, suites as in the
	# official image, and the Acquire settings apt runs with here (a
	# snapshot mirror's dates, a proxy).
	rm -f "$rootfs/etc/apt/sources.list"
	{
		printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\n' "$mirror"
		printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		if [ "$security" != - ]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\n' "$security"
			printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		fi
	} >"$rootfs/etc/apt/sources.list.d/debian.sources"
	conf=$(apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' || true)
	if [ -n "$conf" ]; then
		printf '%s\n' "$conf" >"$rootfs/etc/apt/apt.conf.d/90host"
	fi
	# As in the official slim image: no documentation, no apt caches.
	cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
	cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
	    "$rootfs"/usr/share/doc/*/changelog* "$rootfs"/usr/share/man/* \
	    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
	: >"$rootfs/etc/hostname"
	rm -f "$rootfs/etc/resolv.conf"
	tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.tmp" .
	mv "$BASE_TAR.tmp" "$BASE_TAR"
	rm -rf "$rootfs"
}

ensure_base_image() {
	local have
	have=$("$DOCKER" image inspect -f '{{index .Config.Labels "org.hookd.base"}}' "$BASE_TAG" \
	    2>/dev/null || true)
	if [ "$have" = "$BASE_REV" ]; then
		say "base image $BASE_TAG: cached"
		return 0
	fi
	[ -s "$BASE_TAR" ] || make_base_tar
	say "importing $BASE_TAR as $BASE_TAG"
	"$DOCKER" import -c 'CMD ["bash"]' -c "LABEL org.hookd.base=$BASE_REV" \
	    "$BASE_TAR" "$BASE_TAG" >/dev/null
}

# -- dockerd ------------------------------------------------------------------

# own_pids - processes whose command line names our exec root or data root
# (dockerd, and the containerd and shims it started).
own_pids() {
	local p cmd
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in
		*"$DATA"*|*"${work:-/nonexistent}"/exec*) echo "${p#/proc/}" ;;
		esac
	done
}

# unmount_roots - whatever dockerd left mounted under its roots.
unmount_roots() {
	local m
	findmnt -rn -o TARGET | { grep -E "^($DATA|${work:-/nonexistent})/" || true; } |
	    sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
}

# A dockerd of a run that was killed outright: stop it (it is ours, we hold
# the lock) and release what it held.
reap_stale_dockerd() {
	local pid
	pid=$(cat "$CACHE/dockerd.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
	    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "dockerd.*$DATA"; then
		say "stopping the dockerd of an earlier run (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 300); do
			[ -e "/proc/$pid" ] || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$CACHE/dockerd.pid"
	unmount_roots
}

start_dockerd() {
	local i
	mkdir -p "$work/exec" "$DATA"
	echo '{}' >"$work/daemon.json"
	links_before=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)
	say "starting dockerd (data root $DATA, exec root $work/exec, log $work/dockerd.log)"
	setsid dockerd --config-file "$work/daemon.json" \
	    --data-root "$DATA" --exec-root "$work/exec" --pidfile "$CACHE/dockerd.pid" \
	    --host "unix://$work/docker.sock" \
	    --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
	    --log-level warn </dev/null >"$work/dockerd.log" 2>&1 &
	dockerd_pid=$!
	export DOCKER_HOST=unix://$work/docker.sock
	for ((i = 0; i < 600; i++)); do
		if ! kill -0 "$dockerd_pid" 2>/dev/null; then
			say "dockerd exited; its log:"
			tail -n 30 "$work/dockerd.log" | sed 's/^/    /'
			dockerd_pid=""
			fail "dockerd cannot run on this machine (see its log above)"
		fi
		"$DOCKER" info >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$DOCKER" info >/dev/null 2>&1 || fail "dockerd did not answer within 60 s"
	say "dockerd $("$DOCKER" version -f '{{.Server.Version}}') up (pid $dockerd_pid)"
}

stop_dockerd() {
	local i pid
	[ -n "$dockerd_pid" ] || return 0
	kill -TERM "$dockerd_pid" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		kill -0 "$dockerd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$dockerd_pid" 2>/dev/null; then
		say "dockerd did not stop within 60 s; killing it"
		kill -KILL "$dockerd_pid" 2>/dev/null || true
	fi
	wait "$dockerd_pid" 2>/dev/null || true
	dockerd_pid=""
	# Its containerd and shims, when dockerd could not stop them.
	for pid in $(own_pids); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -f "$CACHE/dockerd.pid"
}

# delete_new_links - network interfaces that appeared while dockerd ran
# (docker0, br-*, veth*) and are still there.
delete_new_links() {
	local now l
	now=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)
	for l in $(comm -13 <(printf '%s\n' "$links_before") <(printf '%s\n' "$now")); do
		case $l in
		docker0|br-*|veth*)
			say "removing network interface $l"
			ip link delete "$l" 2>/dev/null || true
			;;
		esac
	done
}

# -- compose ------------------------------------------------------------------

compose() {
	local t=$1
	shift
	bounded "$t" docker-compose -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"
}

cleanup() {
	local status=$?
	exec 1>&3 2>&4
	trap '' INT TERM
	set +e
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
		child=""
	fi
	if [ -n "${HOOKD_DOCKER_KEEP:-}" ] && [ -z "$failed" ] && [ "$status" -eq 0 ]; then
		say "kept running: DOCKER_HOST=$DOCKER_HOST docker-compose -p $PROJECT ${COMPOSE_FILES[*]} ps"
		say "stop with: kill $dockerd_pid  (then remove $work)"
		exit 0
	fi
	if [ -n "$compose_up" ]; then
		if [ "$status" -ne 0 ]; then
			say "the services' logs (last 60 lines each):"
			compose 60 logs --no-color --tail=60 2>&1 | sed 's/^/    /'
		fi
		say "docker-compose down -v"
		compose 120 down -v --remove-orphans --timeout 20 >"$work/down.log" 2>&1 ||
		    { say "docker-compose down failed:"; sed 's/^/    /' "$work/down.log"; }
		# Images of earlier builds that nothing is tagged with any more.
		timeout 60 "$DOCKER" image prune -f >/dev/null 2>&1
	fi
	if [ -n "$dockerd_pid" ]; then
		say "stopping dockerd (pid $dockerd_pid)"
		stop_dockerd
	fi
	unmount_roots
	[ -n "$links_before" ] && delete_new_links
	if [ -n "$work" ]; then
		if [ "$status" -ne 0 ] && [ -s "$work/dockerd.log" ]; then
			cp "$work/dockerd.log" "$CACHE/dockerd-last-failure.log" 2>/dev/null &&
			    say "dockerd's log: $CACHE/dockerd-last-failure.log"
		fi
		rm -rf "$work"
	fi
	if [ "$status" -eq 0 ]; then
		rm -f "$CACHE/dockerd-last-failure.log"
		say "done in $((SECONDS - start))s"
		echo "test-docker: passed"
	else
		echo "test-docker: FAILED: ${failed:-exit status $status}"
	fi
	exit "$status"
}

# -- checks -------------------------------------------------------------------

# wait_healthy SECONDS - until every container of the project runs and the
# ones with a healthcheck are healthy.
wait_healthy() {
	local limit=$1 end ids line bad
	end=$((SECONDS + limit))
	while :; do
		ids=$(compose 30 ps -q 2>/dev/null || true)
		bad=""
		if [ -z "$ids" ]; then
			bad="no containers"
		else
			while read -r line; do
				case $line in
				*" running healthy"|*" running none") ;;
				*) bad="$bad ${line#/}" ;;
				esac
			done < <(# shellcheck disable=SC2086
			    "$DOCKER" inspect -f \
			    '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
			    $ids)
		fi
		[ -z "$bad" ] && return 0
		if [ "$SECONDS" -ge "$end" ]; then
			fail "not healthy within ${limit}s:$bad"
		fi
		sleep 1
	done
}

# post NAME EXPECTED_STATUS PATH CURL_ARGS... - POST to the published
# ingest port; the answer's body is in $work/NAME.json.
post() {
	local name=$1 want=$2 path=$3 code
	shift 3
	code=$(curl -sS --noproxy '*' -m 10 -o "$work/$name.json" -w '%{http_code}' \
	    -X POST "http://127.0.0.1:$HTTP_PORT$path" "$@") || fail "$name: curl failed"
	say "$name: $code $(head -c 300 "$work/$name.json")"
	[ "$code" = "$want" ] || fail "$name: expected $want, got $code"
}

# json_check FILE PYTHON_EXPR - true when the expression holds for the JSON
# document d read from FILE.
json_check() {
	/usr/bin/python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    ok = eval(sys.argv[2], {"d": d})
except Exception:
    ok = False
sys.exit(0 if ok else 1)' "$1" "$2"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# -- the run ------------------------------------------------------------------

trap cleanup EXIT
trap 'failed="interrupted"; exit 130' INT
trap 'failed="terminated (the ${LIMIT}s limit, HOOKD_DOCKER_TIMEOUT?)"; exit 143' TERM

install_packages
DOCKER=/usr/bin/docker			# docker.io's client, the daemon's version
[ -x "$DOCKER" ] || DOCKER=docker
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0 COMPOSE_INTERACTIVE_NO_CLI=1
export no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost,::1"

if [ "${HOOKD_DOCKER_FRESH:-}" = 1 ] && [ -d "$CACHE" ]; then
	say "HOOKD_DOCKER_FRESH=1: removing $CACHE"
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock -w 120 9 || fail "another test-docker holds $CACHE/.lock"
	reap_stale_dockerd
	find "$CACHE" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 120 9 || fail "another test-docker holds $CACHE/.lock"
work=$(mktemp -d /tmp/hookd-docker.XXXXXX)
chmod 0755 "$work"
reap_stale_dockerd

start_dockerd
ensure_base_image

HTTP_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SINK_PORT=$(free_port)
while [ "$ADMIN_PORT" = "$HTTP_PORT" ] || [ "$SINK_PORT" = "$HTTP_PORT" ] ||
    [ "$SINK_PORT" = "$ADMIN_PORT" ]; do
	ADMIN_PORT=$(free_port)
	SINK_PORT=$(free_port)
done
export HOOKD_BIND=127.0.0.1 HOOKD_ADMIN_BIND=127.0.0.1
export HOOKD_HTTP_PORT=$HTTP_PORT HOOKD_ADMIN_PORT=$ADMIN_PORT HOOKD_SINK_PORT=$SINK_PORT
unset HOOKD_REDIS_IMAGE HOOKD_POSTGRES_IMAGE HOOKD_WORKERS HOOKD_ADMIN_TOKEN

say "docker-compose config -q"
compose 60 config -q || fail "docker-compose config"
# A run killed before its down: start from nothing.
compose 120 down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
compose_up=1
say "docker-compose up -d --build (log $work/up.log)"
if ! compose 720 up -d --build >"$work/up.log" 2>&1; then
	tail -n 40 "$work/up.log" | sed 's/^/    /'
	fail "docker-compose up"
fi
grep -E '^(Successfully tagged|Creating|Building)' "$work/up.log" | sed 's/^/    /' || true
say "waiting for every service to be healthy"
wait_healthy 180
compose 30 ps | sed 's/^/    /'

# The image: non-root, and the segment in the container's /dev/shm.
uid=$(compose 30 exec -T hookd id -u | tr -d '\r')
say "hookd runs as uid $uid"
[ "$uid" != 0 ] || fail "hookd runs as root in the container"

curl -fsS --noproxy '*' -m 5 -o "$work/ready.json" "http://127.0.0.1:$HTTP_PORT/health/ready" ||
    fail "GET /health/ready on the published port"
say "health/ready: $(cat "$work/ready.json")"

# A GitHub-style signed event, its duplicate, a forged one, an unsigned one.
body="{\"zen\":\"Design for failure.\",\"hook_id\":$RANDOM$RANDOM}"
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$GITHUB_SECRET" | sed 's/^.* //')
delivery=$(cat /proc/sys/kernel/random/uuid)
gh=(-H 'Content-Type: application/json' -H 'X-GitHub-Event: push'
    -H "X-GitHub-Delivery: $delivery" --data-binary "$body")
post github 202 /webhooks/github "${gh[@]}" -H "X-Hub-Signature-256: sha256=$sig"
json_check "$work/github.json" 'd["duplicate"] is False and d["source"] == "github"' ||
    fail "github: not a new event"
event_id=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' \
    "$work/github.json")
post duplicate 200 /webhooks/github "${gh[@]}" -H "X-Hub-Signature-256: sha256=$sig"
json_check "$work/duplicate.json" "d['duplicate'] is True and d['id'] == '$event_id'" ||
    fail "duplicate: not the first event's id with duplicate true"
post forged 401 /webhooks/github "${gh[@]}" -H "X-Hub-Signature-256: sha256=${sig//[0-9]/0}"
post test 202 /webhooks/test -H 'Content-Type: application/json' -d '{"hello":"world"}'

# The demo receiver: both events, with good signatures, once each.
say "waiting for the demo receiver to get both events"
ok=""
for ((i = 0; i < 60; i++)); do
	if curl -fsS --noproxy '*' -m 5 -o "$work/sink.json" "http://127.0.0.1:$SINK_PORT/_stats" &&
	    json_check "$work/sink.json" 'd["unique"] >= 2'; then
		ok=1
		break
	fi
	sleep 1
done
say "sink /_stats: $(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(", ".join("%s %s" % (k, d.get(k)) for k in
      ("requests", "unique", "duplicates", "retries", "bad_signature", "responses")))' \
    "$work/sink.json" 2>/dev/null || echo '?')"
[ -n "$ok" ] || fail "the demo receiver did not get both events within 60 s"
json_check "$work/sink.json" 'd["unique"] == 2 and d["bad_signature"] == 0' ||
    fail "the demo receiver got other than two well-signed events"

# hookctl inside the container: the same segment, the same counts.
say "hookctl stats --json inside the container"
ok=""
for ((i = 0; i < 20; i++)); do
	if compose 30 exec -T hookd hookctl stats --json >"$work/stats.json" 2>"$work/stats.err" &&
	    json_check "$work/stats.json" \
	    'd["ingest"]["sources"]["github"]["requests"] >= 3 and d["ingest"]["sources"]["test"]["requests"] >= 1 and d["ingest"]["duplicates"] >= 1'; then
		ok=1
		break
	fi
	sleep 0.5
done
say "hookctl stats: $(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["ingest"]
print("ingest requests %s errors %s duplicates %s status %s; github %s, test %s" % (
    d["requests"], d["errors"], d["duplicates"], d["status"],
    d["sources"].get("github", {}).get("requests"), d["sources"].get("test", {}).get("requests")))' \
    "$work/stats.json" 2>/dev/null || head -c 300 "$work/stats.json" "$work/stats.err")"
[ -n "$ok" ] || fail "hookctl stats in the container did not count the webhooks"
compose 30 exec -T hookd hookctl status | sed 's/^/    /' || fail "hookctl status in the container"
compose 30 exec -T hookd hookctl top -n 1 >"$work/top.txt" 2>&1 || {
	sed 's/^/    /' "$work/top.txt"
	fail "hookctl top in the container"
}
grep -q 'INGEST' "$work/top.txt" || fail "hookctl top printed no INGEST line"

# The delivery as PostgreSQL recorded it, read by hookctl in the container
# (through HOOKD_DATABASE_URL, as the container's environment has it).
say "hookctl event $event_id inside the container"
ok=""
for ((i = 0; i < 20; i++)); do
	if compose 30 exec -T hookd hookctl event "$event_id" >"$work/event.txt" 2>&1 &&
	    grep -Eq "^  demo +succeeded" "$work/event.txt"; then
		ok=1
		break
	fi
	sleep 0.5
done
sed -n '/^deliveries/,$p' "$work/event.txt" | head -n 8 | sed 's/^/    /'
[ -n "$ok" ] || {
	head -n 30 "$work/event.txt" | sed 's/^/    /'
	fail "hookctl event: the delivery to demo is not recorded as succeeded"
}

# The admin port, published from the container's 0.0.0.0:9090.
curl -fsS --noproxy '*' -m 5 -o "$work/metrics.txt" "http://127.0.0.1:$ADMIN_PORT/metrics" ||
    fail "GET /metrics on the published admin port"
grep -q '^hookd_ingest_requests_total{' "$work/metrics.txt" ||
    fail "/metrics has no hookd_ingest_requests_total"
say "admin /metrics: $(grep -c '^hookd_' "$work/metrics.txt") samples"

say "every check passed"
