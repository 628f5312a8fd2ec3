# syntax=docker/dockerfile:1
#
# One image for every storecredit process: the four services and the one-shot `setup`.
# It carries the runtime (contracts, services, shared/runtime), not the tools
# (shared/tools: the developers' CLI, local stack, bench, demo, ...).
#
#   docker build -t storecredit:local .
#   docker run --rm storecredit:local                    # the runtime's help
#   docker run --rm storecredit:local python -m shared.runtime service ledger
#
# docker-compose.yml builds and runs it, deploy/k8s/ runs it on Kubernetes; configuration
# comes from the environment only (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, STORECREDIT_*;
# see shared/runtime/settings.py).
#
# Runs as uid/gid 10001 and writes nothing at run time (bytecode is compiled at install),
# so a read-only root filesystem works. A service serves /metrics, /health/live and
# /health/ready on port 8080 (STORECREDIT_HTTP_PORT; `off` turns it off); the image has
# no curl, so health checks use Python's urllib.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    STORECREDIT_HTTP_HOST=0.0.0.0 \
    STORECREDIT_HTTP_PORT=8080

WORKDIR /app

COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY shared/__init__.py ./shared/
COPY shared/runtime ./shared/runtime
COPY services ./services

# Installs the package (with its migrations and generated contracts) and its dependencies,
# then adds the unprivileged user every process runs as.
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 storecredit \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin storecredit

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8080

CMD ["python", "-m", "shared.runtime", "--help"]
