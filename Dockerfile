# syntax=docker/dockerfile:1
# pipetune in containers: the manager image (`pipetune server`: the storage API the workers
# use, and the dashboard) and the worker image (`pipetune worker` with your training code).
# README.md, "Deploying", shows them in deploy/compose.yaml and deploy/kubernetes/.
#
#   docker build -t pipetune-server:0.1.0 .                       # the server (default target)
#   docker build --target worker -t pipetune-worker:0.1.0 \
#       --build-arg TRAINING_CODE=deploy/example .                # a worker with your code
#
# No secret is baked in: the token, the database password and the TLS key reach a container
# as mounted files at run time (compose secrets, Kubernetes Secrets).

# The base image, pinned to a patch release of Python on Debian 12 (slim). Pin the digest
# too where your registry allows it: python:3.11.11-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# -- build: pipetune with the server and postgres extras, in a virtual environment ----------
# Everything comes as wheels (psycopg's binary one included), so no compiler is needed; the
# stage, with pip's and the build's leftovers, stays behind.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/pipetune
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipetune ./pipetune
RUN /opt/pipetune/bin/pip install ".[server,postgres]"

# -- runtime: the environment alone, run by a user without privileges ------------------------
FROM ${PYTHON_IMAGE} AS runtime
# tini is PID 1: it passes SIGTERM on to pipetune (which stops gracefully) and reaps the
# processes a training script leaves behind. Its version is Debian 12's, left unpinned so
# that a rebuild takes the distribution's security updates (the base image is pinned).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pipetune \
    && useradd --system --uid 10001 --gid pipetune --create-home --home-dir /home/pipetune \
        pipetune \
    && mkdir -p /var/lib/pipetune/artifacts \
    && chown -R pipetune:pipetune /var/lib/pipetune
COPY --from=build /opt/pipetune /opt/pipetune
COPY --chmod=755 deploy/healthcheck.py /usr/local/bin/pipetune-healthcheck
ENV PATH=/opt/pipetune/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIPETUNE_ARTIFACT_ROOT=/var/lib/pipetune/artifacts
WORKDIR /home/pipetune
USER pipetune
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["pipetune", "--help"]

# -- worker: the runtime plus your training code ---------------------------------------------
# TRAINING_CODE is a folder of the build context holding the module your objective lives in
# (deploy/example: train.py, objective()) and a requirements.txt of what it needs. It is copied
# to /app, the worker's working folder, so that `--objective train:objective` imports it.
FROM runtime AS worker
ARG TRAINING_CODE=deploy/example
USER root
WORKDIR /app
COPY ${TRAINING_CODE}/ /app/
RUN if [ -f requirements.txt ]; then \
        pip install --no-cache-dir --disable-pip-version-check -r requirements.txt; \
    fi
USER pipetune
HEALTHCHECK NONE
CMD ["pipetune", "worker", "--help"]

# -- server: the manager node (the default target, so it comes last) -------------------------
FROM runtime AS server
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["pipetune-healthcheck", "http://127.0.0.1:8080/api/v1/health"]
# Storage from $PIPETUNE_STORAGE, else a SQLite file in /home/pipetune; deploy/compose.yaml
# gives PostgreSQL. The token file is a mounted secret: without it the server refuses to start.
CMD ["pipetune", "server", "--host", "0.0.0.0", "--port", "8080", \
     "--token-file", "/run/secrets/pipetune_token"]
