# hookd container image.
#
#   docker build -t hookd .
#   docker run --rm -p 127.0.0.1:8080:8080 \
#       -e HOOKD_REDIS_URL=redis://redis:6379/0 \
#       -e HOOKD_DATABASE_URL=postgresql://hookd:hookd@postgres:5432/hookd hookd
#
# Two stages on debian:bookworm-slim: "build" has the -dev packages and runs
# make; the final image has only the runtime libraries, bin/hookd and
# bin/hookctl in /usr/local/bin, and runs as the unprivileged user "hookd".
# docker-compose.yml at the root wires it to Redis, PostgreSQL and the demo
# receiver.
#
# Configuration: /etc/hookd/hookd.conf (etc/docker/hookd.conf, a small demo
# config).  Mount your own file there, or keep it and set the HOOKD_*
# environment overrides (HOOKD_REDIS_URL, HOOKD_DATABASE_URL, HOOKD_LISTEN,
# HOOKD_ADMIN_LISTEN, HOOKD_ADMIN_TOKEN, HOOKD_WORKERS).  hookctl reads the
# same file by default, so "docker exec CONTAINER hookctl top" needs no flags:
# it runs in the container's IPC namespace and maps the same /dev/shm segment.
#
# Nothing but Debian's archive is used: the apt sources are the base image's.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# --- build ------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# The build half of scripts/deps.sh (that script also installs the servers
# and the test tools, which an image does not need).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        libevent-dev libhiredis-dev libpq-dev libconfig-dev \
        libcurl4-openssl-dev libssl-dev libjansson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the two binaries are built from, so that an edit of the README
# or the tests does not rebuild the image.
COPY GNUmakefile ./
COPY scripts/embed-sql.sh scripts/embed-dashboard.sh scripts/
COPY sql/ sql/
COPY common/ common/
COPY shm/ shm/
COPY server/ server/
COPY worker/ worker/
RUN make -j"$(nproc)" bin/hookd bin/hookctl && ./bin/hookd -v

# --- runtime ----------------------------------------------------------------
FROM ${DEBIAN_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
# The libraries hookd and hookctl link, CA certificates for https
# destinations, curl for the HEALTHCHECK, tini to be process 1 and Chart.js
# for the admin port's dashboard.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libevent-2.1-7 libhiredis0.14 libpq5 libconfig9 libcurl4 libssl3 \
        libjansson4 ca-certificates curl tini libjs-chart.js \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system hookd \
 && useradd --system --gid hookd --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin hookd
COPY --from=build /src/bin/hookd /src/bin/hookctl /usr/local/bin/
COPY etc/docker/hookd.conf /etc/hookd/hookd.conf
COPY etc/hookd.conf /usr/share/doc/hookd/hookd.conf.reference
# Refuse to build an image whose config does not load.
RUN hookd -t -c /etc/hookd/hookd.conf

USER hookd
# 8080: ingest (POST /webhooks/{source}, GET /health).
# 9090: admin (/metrics, /stats, /health/detailed, the dashboard at /);
# keep it private.
EXPOSE 8080 9090
# /health answers 200 once a worker serves the port.  The port follows
# HOOKD_LISTEN when it is set.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD port="${HOOKD_LISTEN:-:8080}"; \
        curl -fsS --noproxy '*' --max-time 3 -o /dev/null \
            "http://127.0.0.1:${port##*:}/health" || exit 1
# SIGTERM (docker stop) is a graceful stop: in-flight requests and
# deliveries get drain_timeout_ms, so give docker stop longer than that.
STOPSIGNAL SIGTERM
# tini is process 1: it passes the signals on to the hookd master and reaps
# whatever is orphaned in the container (the processes of docker exec).
# hookd itself, in the foreground, is its only child.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["hookd", "-c", "/etc/hookd/hookd.conf"]
