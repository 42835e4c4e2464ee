#!/usr/bin/env bash
# run.sh - `make run`: hookd in the foreground with a private Redis,
# PostgreSQL and demo sink, all on 127.0.0.1, all state under state/.
#
# Redis keeps an append-only file (appendfsync everysec) in state/redis and
# PostgreSQL a cluster in state/pg (started as "nobody" when run as root, as
# PostgreSQL refuses root); both are reused by the next run.  The config is
# written to state/hookd.conf on every run.  Ctrl-C (or SIGTERM) stops hookd,
# then everything else this script started.
#
# Environment: REDIS_PORT (default 16379), PG_PORT (default 15432).
# shellcheck disable=SC2317  # functions called from traps are reachable
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=$ROOT/state
PY=/usr/bin/python3
HARNESS=(env PYTHONDONTWRITEBYTECODE=1 "$PY" "$ROOT/tests/harness.py")
REDIS_PORT=${REDIS_PORT:-16379}
PG_PORT=${PG_PORT:-15432}
LISTEN=127.0.0.1:8080
ADMIN=127.0.0.1:9090
SINK_PORT=3001
# Obviously fake: the demo destination signs with it and the sink checks it.
SIGNING_SECRET=whsec_ZGV2LXNpZ25pbmctc2VjcmV0LW5vdC1yZWFs
CONF=$STATE/hookd.conf

redis_started=""
pg_started=""
sink_pid=""
hookd_pid=""

say() { printf 'run: %s\n' "$*"; }

# running PID - true while PID runs (a zombie waiting for us to reap it does not).
running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*|"") return 1 ;; esac
}

# stop_child PID NAME - SIGTERM a child of this shell, SIGKILL after 30 s.
stop_child() {
	local pid=$1 name=$2 i
	if running "$pid"; then
		say "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			running "$pid" || break
			sleep 0.1
		done
		if running "$pid"; then
			say "$name did not stop within 30 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local status=$?
	trap '' INT TERM	# a second Ctrl-C must not cut the cleanup short
	set +e
	[ -n "$hookd_pid" ] && stop_child "$hookd_pid" hookd
	[ -n "$sink_pid" ] && stop_child "$sink_pid" "demo sink"
	[ -n "$pg_started" ] && "${HARNESS[@]}" pg-stop --dir "$STATE/pg"
	[ -n "$redis_started" ] && "${HARNESS[@]}" redis-stop --dir "$STATE/redis"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
	cat >"$CONF" <<EOF
# state/hookd.conf - written by scripts/run.sh for \`make run\` on every run;
# edit the script (or copy this file) to keep changes.  Development only:
# the secrets below are not secret.
instance = "hookd-dev";
listen   = "$LISTEN";
workers  = 2;
pid_file = "$STATE/hookd.pid";
log      = { level = "info"; };
redis    = { url = "redis://127.0.0.1:$REDIS_PORT/0"; };
postgres = { url = "postgresql://hookd@127.0.0.1:$PG_PORT/hookd"; migrate = true; };
admin    = { listen = "$ADMIN"; };
delivery = { workers = 1; };
sources = (
  { name = "test"; },
  { name = "github"; verify = { scheme = "github"; secrets = ["dev-github-secret-not-real"]; };
    idempotency = "header:X-GitHub-Delivery"; }
);
destinations = (
  { name = "demo"; url = "http://127.0.0.1:$SINK_PORT/hooks"; sources = ["test", "github"];
    signing_secret = "$SIGNING_SECRET"; }
);
EOF
}

# The demo sink is optional: without it deliveries fail and are retried.
start_sink() {
	local help args=()
	if [ ! -f perf/sink.py ]; then
		say "no perf/sink.py: deliveries to http://127.0.0.1:$SINK_PORT/hooks will be retried"
		return 0
	fi
	if port_busy "$SINK_PORT"; then
		say "something already listens on 127.0.0.1:$SINK_PORT; using it as the demo sink"
		return 0
	fi
	# The sink checks the signature hookd puts on every delivery.
	args=(--listen "127.0.0.1:$SINK_PORT" --secret "$SIGNING_SECRET")
	"$PY" perf/sink.py "${args[@]}" &
	sink_pid=$!
	say "demo sink pid $sink_pid on http://127.0.0.1:$SINK_PORT/hooks"
}

if [ ! -x bin/hookd ]; then
	say "bin/hookd is missing: run make first"
	exit 1
fi
for p in 8080 9090; do
	if port_busy "$p"; then
		say "port 127.0.0.1:$p is in use (another make run?)"
		exit 1
	fi
done

mkdir -p "$STATE"
"${HARNESS[@]}" redis-start --dir "$STATE/redis" --port "$REDIS_PORT" --appendfsync everysec
redis_started=1
"${HARNESS[@]}" pg-start --dir "$STATE/pg" --port "$PG_PORT" --persist
pg_started=1
write_config
start_sink

bin/hookd -c "$CONF" &
hookd_pid=$!
if ! "${HARNESS[@]}" wait-http "http://$LISTEN/health" --timeout 15 --pid "$hookd_pid"; then
	say "hookd did not become ready; its output is above"
	exit 1
fi

cat <<EOF

hookd is running (pid $hookd_pid), config $CONF.
  send an event:  curl -s -X POST http://$LISTEN/webhooks/test -H 'Content-Type: application/json' -d '{"hello":"world"}'
  admin:          http://$ADMIN/stats   http://$ADMIN/metrics
  watch it:       bin/hookctl -c state/hookd.conf top
Ctrl-C stops hookd, the sink, PostgreSQL and Redis.

EOF

status=0
wait "$hookd_pid" || status=$?
hookd_pid=""
say "hookd exited with status $status"
exit "$status"
