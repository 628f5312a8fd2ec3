"""The chaos run's system: its own Kafka and PostgreSQL (the chaos stack profile, which
it restarts), fresh databases and topics, and the four services as processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from shared.runtime.settings import Settings
from shared.tools import stack
from tests.e2e.conftest import System
from tests.processes import own_settings, start_all, stop
from tests.random_refs import random_id

ADMIN_FIELDS = {"kafka_sasl_username", "kafka_sasl_password"}
"""What the chaos broker's own admin changes of the session's settings."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "chaos" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
async def chaos_system(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    profile = stack.PROFILES["chaos"]
    try:
        endpoints = await asyncio.to_thread(stack.up, profile)
    except stack.StackError as error:
        pytest.fail(f"the chaos stack could not start:\n{error}")
    own = own_settings(
        settings,
        random_id("chaos").replace("-", "_"),
        bootstrap_servers=endpoints.bootstrap_servers,
        database_server_url=endpoints.database_server_url,
    ).model_copy(update=Settings(**endpoints.kafka_settings()).model_dump(include=ADMIN_FIELDS))
    services = await start_all(own, tmp_path_factory.mktemp("chaos-logs"))
    try:
        yield System(own, services)
    finally:
        await asyncio.to_thread(stop, services)
        if os.environ.get("STORECREDIT_KEEP_TEST_STACK") != "1":
            await asyncio.to_thread(stack.down, profile)
