from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from contracts.topics import ALL_TOPICS
from services.ledger.app import definition as ledger_definition
from shared.runtime.broker import kafka_client_options
from shared.runtime.provision.access import admin_config, ensure_access
from shared.runtime.provision.migrations import upgrade
from shared.runtime.service import ServiceDefinition, ServiceRuntime
from shared.runtime.settings import Settings
from shared.tools.stack import ensure_databases, ensure_topics
from tests.random_refs import random_id


@pytest.fixture(scope="session")
async def ledger(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    """The ledger service, running in this process against the real servers."""
    runtime = ServiceRuntime(ledger_definition, settings)
    await runtime.start()
    await runtime.wait_until_assigned()
    yield runtime
    await runtime.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


ISOLATED_SERVICES = ("ledger", "store_credit", "order", "fulfillment")


@pytest.fixture
async def isolated(settings: Settings) -> AsyncIterator[Settings]:
    """Settings with topics, consumer groups, and ledger and store-credit databases of
    this test's own: no other service instance (no hold-expiry job, no other template)
    touches them."""
    name = random_id("own").replace("-", "_")
    server = make_url(settings.database_url_for("ledger")).set(database="postgres")
    server_url = server.render_as_string(hide_password=False)
    databases = {service: f"{name}_{service}" for service in ISOLATED_SERVICES}
    await asyncio.to_thread(ensure_databases, server_url, list(databases.values()))
    urls = {
        service: server.set(database=db).render_as_string(hide_password=False)
        for service, db in databases.items()
    }
    for service, url in urls.items():
        await asyncio.to_thread(upgrade, service, url)
    prefix = f"{name}."
    options = kafka_client_options(settings)
    await asyncio.to_thread(
        ensure_topics, settings.kafka_bootstrap_servers, ALL_TOPICS, prefix, **options
    )
    passwords = settings.principal_passwords()
    if passwords:  # the principals of this prefix, with their ACLs
        await asyncio.to_thread(ensure_access, admin_config(settings), prefix, passwords)
    yield settings.model_copy(
        update={
            "topic_prefix": prefix,
            **{f"{service}_database_url": SecretStr(url) for service, url in urls.items()},
        }
    )
    for db in databases.values():
        await drop_database(server_url, db)
    await delete_topics(
        settings.kafka_bootstrap_servers, [f"{prefix}{t.name}" for t in ALL_TOPICS], **options
    )


@asynccontextmanager
async def running(*definitions: ServiceDefinition, settings: Settings) -> AsyncIterator[None]:
    """Services started for one test (with ``isolated`` settings), stopped after it."""
    runtimes = [ServiceRuntime(definition, settings) for definition in definitions]
    for runtime in runtimes:
        await runtime.start()
    for runtime in runtimes:
        await runtime.wait_until_assigned()
    try:
        yield
    finally:
        for runtime in runtimes:
            await runtime.stop()


async def drop_database(server_url: str, name: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(server_url.replace("+asyncpg", ""))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def delete_topics(bootstrap_servers: str, names: list[str], **options: Any) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **options)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def store_credit(settings: Settings, ledger: ServiceRuntime) -> AsyncIterator[ServiceRuntime]:
    """The store-credit service (beside the session ledger), on the shared test servers."""
    from services.store_credit.app import definition

    runtime = ServiceRuntime(definition, settings)
    await runtime.start()
    await runtime.wait_until_assigned()
    yield runtime
    await runtime.stop()
