#!/bin/sh
# redis-entrypoint.sh - the stand-in redis image's entrypoint: run the
# command; when it is redis-server, without protected mode and in the
# foreground, as the official image does.
set -e
if [ "${1:-}" = redis-server ]; then
	shift
	exec redis-server --protected-mode no --daemonize no --dir /data "$@"
fi
exec "$@"
