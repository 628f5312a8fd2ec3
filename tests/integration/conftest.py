from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from contracts.topics import ALL_TOPICS
from services.ledger.app import definition as ledger_definition
from shared.migrations import upgrade
from shared.service import ServiceRuntime
from shared.settings import Settings
from shared.stack import ensure_databases, ensure_topics
from tests.random_refs import random_id


@pytest.fixture(scope="session")
async def ledger(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    """The ledger service, running in this process against the real servers."""
    runtime = ServiceRuntime(ledger_definition, settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def isolated(settings: Settings) -> AsyncIterator[Settings]:
    """Settings with topics, consumer groups and a ledger database of this test's own
    (no other ledger instance, hence no hold-expiry job, touches them)."""
    name = random_id("own").replace("-", "_")
    server = make_url(settings.database_url_for("ledger")).set(database="postgres")
    await asyncio.to_thread(ensure_databases, server.render_as_string(hide_password=False), [name])
    url = server.set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, "ledger", url)
    prefix = f"{name}."
    await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap_servers, ALL_TOPICS, prefix)
    yield settings.model_copy(
        update={"topic_prefix": prefix, "ledger_database_url": SecretStr(url)}
    )
    await drop_database(server.render_as_string(hide_password=False), name)
    await delete_topics(settings.kafka_bootstrap_servers, [f"{prefix}{t.name}" for t in ALL_TOPICS])


async def drop_database(server_url: str, name: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(server_url.replace("+asyncpg", ""))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def delete_topics(bootstrap_servers: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()
