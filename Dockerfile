# syntax=docker/dockerfile:1
# Rosey's three images from one file:
#   docker build --target dbservice -t rosey-dbservice .   # runs rosey-db  (metrics/health on 9101)
#   docker build --target bot       -t rosey-bot .         # runs rosey-bot (metrics/health on 9102)
#   docker build --target web       -t rosey-web .         # runs rosey-web (pages, API, metrics,
#                                                          #   health, all on 8080)
#
# builder  : a venv (python3 -m venv) with the package and its dependencies, pip caches off
# runtime  : the base image + that venv only, a numeric non-root user, nothing written at run time
# dbservice, bot, web: runtime + the entry point and port of each process
#
# PYTHON_IMAGE must provide `python3` with the venv module on PATH and be the same image in every
# stage (the venv's interpreter is a symlink to the base's python3). The default is the official
# slim image; scripts/build-images swaps in a debootstrapped stand-in when no registry is reachable.
# Works with BuildKit and with the legacy builder (no RUN --mount, no heredocs).
ARG PYTHON_IMAGE=python:3.12-slim

# --- builder -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
# Package index, passed in when the build must use a mirror (scripts/build-images forwards the
# host's http(s) pip configuration). Empty means pip's default (PyPI).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/rosey
# Dependencies first (from pyproject.toml only), so editing the code does not reinstall them.
# (README comes later: the package's metadata needs it, the dependency list does not, so an
# edit of the README does not reinstall every dependency)
COPY pyproject.toml ./
RUN set -eu; \
    [ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL; \
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] || unset PIP_EXTRA_INDEX_URL; \
    [ -n "${PIP_TRUSTED_HOST:-}" ] || unset PIP_TRUSTED_HOST; \
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /tmp/requirements.txt; \
    /opt/rosey/bin/python3 -m pip install -r /tmp/requirements.txt; \
    rm -f /tmp/requirements.txt
COPY README* ./
COPY src ./src
RUN set -eu; \
    [ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL; \
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] || unset PIP_EXTRA_INDEX_URL; \
    [ -n "${PIP_TRUSTED_HOST:-}" ] || unset PIP_TRUSTED_HOST; \
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi; \
    /opt/rosey/bin/python3 -m pip install --no-deps . ; \
    /opt/rosey/bin/python3 -m compileall -q /opt/rosey/lib; \
    /opt/rosey/bin/rosey-db --help >/dev/null; \
    /opt/rosey/bin/rosey-web --help >/dev/null

# --- runtime (shared by every target) ----------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# 10001:10001 owns nothing but its home and /data: the root filesystem can be mounted read-only.
# SQLite (ROSEY_DB_PATH) lives on a volume at /data; TMPDIR is /tmp (an emptyDir/tmpfs).
RUN set -eu; \
    groupadd --system --gid 10001 rosey; \
    useradd --system --uid 10001 --gid 10001 --home-dir /home/rosey --create-home \
            --shell /usr/sbin/nologin rosey; \
    mkdir -p /data; chown 10001:10001 /data; chmod 0750 /data
COPY --from=builder /opt/rosey /opt/rosey
ENV PATH="/opt/rosey/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/home/rosey \
    TMPDIR=/tmp \
    ROSEY_LOG_FORMAT=json
WORKDIR /home/rosey
USER 10001:10001
# /healthz on the metrics port, for `docker run` users; Kubernetes uses its own probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['ROSEY_METRICS_PORT'], timeout=4)"]
# last, so a new revision or build time does not invalidate the layers above
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.source="https://github.com/rosey-bot/rosey" \
      org.opencontainers.image.url="https://github.com/rosey-bot/rosey" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.vendor="Rosey" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

# --- dbservice ---------------------------------------------------------------------------------
FROM runtime AS dbservice
LABEL org.opencontainers.image.title="rosey-dbservice" \
      org.opencontainers.image.description="Rosey DatabaseService: NATS JetStream events into SQLite, and the query subjects"
ENV ROSEY_DB_PATH=/data/rosey.db \
    ROSEY_METRICS_PORT=9101
EXPOSE 9101
# exec form: rosey-db's python is PID 1 and receives SIGTERM itself (it drains, then exits 0)
ENTRYPOINT ["/opt/rosey/bin/rosey-db"]

# --- bot ---------------------------------------------------------------------------------------
FROM runtime AS bot
LABEL org.opencontainers.image.title="rosey-bot" \
      org.opencontainers.image.description="Rosey CyTube moderation-and-stats bot"
ENV ROSEY_METRICS_PORT=9102
EXPOSE 9102
ENTRYPOINT ["/opt/rosey/bin/rosey-bot"]

# --- web ---------------------------------------------------------------------------------------
FROM runtime AS web
LABEL org.opencontainers.image.title="rosey-web" \
      org.opencontainers.image.description="Rosey's web page: channel stats, graphs and the moderators' view, read through NATS"
# pages, the JSON API, /metrics, /healthz and /readyz on one port; it never opens SQLite
ENV ROSEY_WEB_HOST=0.0.0.0 \
    ROSEY_WEB_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['ROSEY_WEB_PORT'], timeout=4)"]
ENTRYPOINT ["/opt/rosey/bin/rosey-web"]
