"""Session fixtures: one Kafka broker and one PostgreSQL server per test session.

Where they come from, in this order:
1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` when both are set;
2. testcontainers, when a Docker engine answers;
3. otherwise the native stack's "test" profile (its own ports and data
   directories, so a running ``make run`` is never disturbed), started here
   and stopped at the end unless ``STORECREDIT_KEEP_TEST_STACK=1``.
If none can start, every test that needs them errors: the run fails loudly.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.access import PRINCIPALS
from shared.runtime import claims
from shared.runtime.broker import kafka_client_options
from shared.runtime.provision import prepare
from shared.runtime.settings import SERVICES, Settings
from shared.tools.stack.kafka_files import settings_fields
from tests.kafka_tools import TopicWatcher
from tests.sealed import SERVICE_PRIVATE_KEY
from tests.signing import SigningProducer

KEYSET = claims.new_keyset(SERVICES)
"""The session's signers: the tests hold every key (they play every client)."""


@dataclass(frozen=True)
class Servers:
    bootstrap_servers: str
    database_server_url: str
    source: str
    kafka_environment: dict[str, str] = field(default_factory=dict)
    """How to connect as the servers' admin (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, and
    KCAT_CONFIG for kcat); empty: the environment's own settings."""


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Every service the tests start, in this process or as a process of its own, fails a
# handler that answers off its contract (shared/runtime/contract_checks.py).
os.environ.setdefault("STORECREDIT_STRICT_CONTRACTS", "true")


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if bootstrap and database:
        yield Servers(bootstrap, database, "environment")
    elif _docker_answers():
        yield from _containers()
    else:
        yield from _native()


def _containers() -> Iterator[Servers]:
    # Not runnable on the project's own machines (no Docker engine): kept for
    # users with Docker. testcontainers' Kafka module drives Confluent's image.
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    with (
        KafkaContainer().with_kraft() as kafka,
        PostgresContainer("postgres:15", driver="asyncpg") as postgres,
    ):
        yield Servers(kafka.get_bootstrap_server(), postgres.get_connection_url(), "testcontainers")


def _native() -> Iterator[Servers]:
    from shared.tools import stack

    profile = stack.PROFILES["test"]
    try:
        endpoints = stack.up(profile)
    except stack.StackError as error:
        pytest.exit(f"Kafka or PostgreSQL could not start, nothing can be tested:\n{error}", 3)
    try:
        yield Servers(
            endpoints.bootstrap_servers,
            endpoints.database_server_url,
            "native",
            endpoints.kafka_environment,
        )
    finally:
        if os.environ.get("STORECREDIT_KEEP_TEST_STACK") != "1":
            stack.down(profile)


@pytest.fixture(scope="session")
def settings(servers: Servers) -> Settings:
    """Settings for the services under test: their own test databases."""
    from sqlalchemy.engine import make_url

    server = make_url(servers.database_server_url)
    urls = {
        f"{service}_database_url": server.set(
            database=f"storecredit_test_{service}"
        ).render_as_string(hide_password=False)
        for service in SERVICES
    }
    admin = servers.kafka_environment
    kafka: dict[str, Any] = {}
    if admin.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").startswith("SASL"):
        kafka = settings_fields(admin)
        kafka["kafka_passwords"] = json.dumps(
            {p.name: secrets.token_urlsafe(16) for p in PRINCIPALS}
        )
    if "KCAT_CONFIG" in admin:
        os.environ.setdefault("KCAT_CONFIG", admin["KCAT_CONFIG"])
    configured = Settings(
        kafka_bootstrap_servers=servers.bootstrap_servers,
        **kafka,
        database_url=servers.database_server_url,
        outbox_poll_ms=200,
        hold_sweep_ms=200,
        code_hash_key=secrets.token_hex(32),
        code_seal_private_key=SERVICE_PRIVATE_KEY,
        actor_signers=claims.signers_json(KEYSET),
        actor_keys=claims.keys_json(KEYSET),
        **urls,
    )
    prepare(configured)
    return configured


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """A producer per test: one kept for the session knew every topic of every test
    before, deleted at their end, and in CI once stalled on that metadata for good."""
    client = SigningProducer(
        settings.keyring(),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        **kafka_client_options(settings),
    )
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
async def watch(settings: Settings) -> AsyncIterator[object]:
    """``await watch(topic, ...)`` returns a TopicWatcher positioned at the topics' end."""
    watchers: list[TopicWatcher] = []

    async def start(*topics: str) -> TopicWatcher:
        watcher = await TopicWatcher(
            settings.kafka_bootstrap_servers, topics, **kafka_client_options(settings)
        ).start()
        watchers.append(watcher)
        return watcher

    yield start
    await asyncio.gather(*(w.stop() for w in watchers))


_skipped_integration: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "integration" in report.keywords:
        _skipped_integration.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped integration test proves nothing: it fails the run."""
    if _skipped_integration:
        print(f"\n{len(_skipped_integration)} integration test(s) skipped; that is a failure:")
        for nodeid in _skipped_integration:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
