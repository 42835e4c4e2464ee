#!/bin/sh
# postgres-entrypoint.sh - the stand-in postgres image's entrypoint.  On the
# first start (an empty $PGDATA): initdb with POSTGRES_USER as the
# superuser and POSTGRES_PASSWORD as its password, client authentication
# over TCP by password (or POSTGRES_HOST_AUTH_METHOD), then POSTGRES_DB
# created by a server that listens on its Unix socket only.  Then postgres
# in the foreground on every address of the container.
set -eu
if [ "${1:-}" != postgres ]; then
	exec "$@"
fi
shift
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
		echo "postgres-entrypoint: set POSTGRES_PASSWORD or POSTGRES_HOST_AUTH_METHOD=trust" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
	    --auth-local=trust --auth-host="$auth" >/dev/null
	rm -f "$pwfile"
	printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	if [ "$db" != postgres ]; then
		createdb -U "$user" -O "$user" "$db"
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "postgres-entrypoint: initialized $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
