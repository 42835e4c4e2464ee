# The demo receiver of docker-compose.yml: perf/sink.py (standard-library
# Python only) on debian:bookworm-slim.  It answers every POST with 2xx,
# checks the Standard Webhooks signature when given --secret, and counts
# what it got at GET /_stats.  Built with the repository root as context.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY perf/sink.py /usr/local/lib/hookd/sink.py
USER nobody
EXPOSE 3001
ENTRYPOINT ["python3", "/usr/local/lib/hookd/sink.py"]
CMD ["--listen", "0.0.0.0:3001"]
