"""The chaos run's system: its own Kafka and PostgreSQL (the chaos stack profile, which
it restarts), fresh databases and topics, and the four services as processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from shared import stack
from shared.settings import SERVICES, Settings
from shared.setup import prepare
from tests.e2e.conftest import System
from tests.processes import start, stop, wait_until_ready
from tests.random_refs import random_id


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
    name = random_id("chaos").replace("-", "_")
    server = make_url(endpoints.database_server_url)
    own = settings.model_copy(
        update={
            "kafka_bootstrap_servers": endpoints.bootstrap_servers,
            "database_url": SecretStr(endpoints.database_server_url),
            "topic_prefix": f"{name}.",
            **{
                f"{service}_database_url": SecretStr(
                    server.set(database=f"{name}_{service}").render_as_string(hide_password=False)
                )
                for service in SERVICES
            },
        }
    )
    await asyncio.to_thread(prepare, own)
    logs = tmp_path_factory.mktemp("chaos-logs")
    services = {service: start(own, service, logs) for service in SERVICES}
    try:
        await wait_until_ready(services)
        yield System(own, services)
    finally:
        await asyncio.to_thread(stop, services)
        if os.environ.get("STORECREDIT_KEEP_TEST_STACK") != "1":
            await asyncio.to_thread(stack.down, profile)
