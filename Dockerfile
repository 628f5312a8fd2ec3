# syntax=docker/dockerfile:1
#
# One image for every storecredit process: the four services and the one-shot `setup`.
#
#   docker build -t storecredit:local .
#   docker run --rm storecredit:local                    # the CLI's help
#   docker run --rm storecredit:local storecredit service ledger
#
# docker-compose.yml builds and runs it; configuration comes from the environment only
# (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, STORECREDIT_*; see shared/settings.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY shared ./shared
COPY services ./services

# Installs the package (with its migrations and generated contracts) and its dependencies,
# then adds the unprivileged user every process runs as.
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin storecredit

USER storecredit:storecredit

CMD ["storecredit", "--help"]
