"""The whole system for end-to-end tests: the four services as separate processes
(``python -m services.<name>``, as ``make run`` and a deployment start them) that
talk only through topics, each with its own database, on the session's Kafka and
PostgreSQL. They get topics and databases of their own (a prefix, fresh names), so
no in-process service of another test reads their messages.

A service is ready when its ``/health/ready`` answers 200 (its consumers own
partitions, the broker and database answer). One that exits or never gets ready
fails the session with the end of its log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from contracts.topics import ALL_TOPICS
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import SERVICES, Settings
from tests.integration.conftest import delete_topics, drop_database
from tests.processes import Service, own_settings, start_all, stop
from tests.random_refs import random_id


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in str(item.path):
            item.add_marker(pytest.mark.integration)


@dataclass
class System:
    settings: Settings
    services: dict[str, Service]


@asynccontextmanager
async def own_system(settings: Settings, logs: Path, label: str = "e2e") -> AsyncIterator[System]:
    """The four services as processes, on topics and databases of their own."""
    name = random_id(label).replace("-", "_")
    server = make_url(settings.database_url_for("ledger")).set(database="postgres")
    own = own_settings(
        settings,
        name,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        database_server_url=server.render_as_string(hide_password=False),
    )
    services = await start_all(own, logs)
    try:
        yield System(own, services)
    finally:
        await asyncio.to_thread(stop, services)
        server_url = server.render_as_string(hide_password=False)
        for service in SERVICES:
            await drop_database(server_url, f"{name}_{service}")
        await delete_topics(
            settings.kafka_bootstrap_servers,
            [own.topic(spec) for spec in ALL_TOPICS],
            **kafka_client_options(settings),
        )


@pytest.fixture(scope="session")
async def system(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    async with own_system(settings, tmp_path_factory.mktemp("e2e-logs")) as running:
        yield running
