# A stand-in for the official redis:7 image, for make test-docker only:
# Debian's redis-server (7.0) on the locally built debian:bookworm-slim.
# Like the official image: data in /data (a volume), runs as user redis,
# "redis-server ARGS" as the command, protected mode off (the port is
# reachable on the compose network only).
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/
WORKDIR /data
VOLUME /data
USER redis
EXPOSE 6379
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server"]
