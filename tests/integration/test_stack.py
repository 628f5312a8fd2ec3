"""The native local stack (shared/tools/stack) on the "test" profile.

`up` is idempotent and fast when warm, `status` tells the truth, and
`ensure_topics` / `ensure_databases` create exactly what is missing. The
stack's lifetime belongs to the test harness: nothing here calls `down`.
"""

from __future__ import annotations

import asyncio
from importlib import import_module
from typing import Any
from uuid import uuid4

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import TopicSpec
from shared.tools.stack import PROFILES, Endpoints, ensure_databases, ensure_topics, status, up

pytestmark = pytest.mark.integration

PROFILE = PROFILES["test"]

# asyncpg has no type information; this keeps mypy --strict quiet either way.
asyncpg = import_module("asyncpg")


@pytest.fixture(scope="module")
def endpoints() -> Endpoints:
    return up(PROFILE)


def test_up_twice_returns_the_same_endpoints_and_restarts_nothing(endpoints: Endpoints) -> None:
    before = status(PROFILE)
    again = up(PROFILE)

    assert again == endpoints
    assert endpoints.bootstrap_servers == "127.0.0.1:19092"
    assert endpoints.database_server_url == (
        "postgresql+asyncpg://postgres@127.0.0.1:55433/postgres"
    )
    assert status(PROFILE) == before  # same Kafka pid, same cluster: nothing restarted


def test_status_reports_both_services_running(endpoints: Endpoints) -> None:
    lines = status(PROFILE)
    kafka = next(line for line in lines if line.startswith("kafka"))
    postgres = next(line for line in lines if line.startswith("postgres"))

    assert "running" in kafka and "not running" not in kafka, lines
    assert "127.0.0.1:19092" in kafka and "19093" in kafka, lines
    assert "running" in postgres and "not running" not in postgres, lines
    assert "127.0.0.1:55433" in postgres and "storecredit-test" in postgres, lines


def test_ensure_topics_creates_only_missing_topics(endpoints: Endpoints) -> None:
    prefix = f"t{uuid4().hex[:8]}."
    specs = [
        TopicSpec("plain", partitions=3, key="k", description="a delete-policy topic"),
        TopicSpec(
            "latest",
            partitions=2,
            key="k",
            description="a compacted topic",
            compacted=True,
            config={"min.cleanable.dirty.ratio": "0.1"},
        ),
    ]
    names = [prefix + spec.name for spec in specs]
    try:
        created = ensure_topics(
            endpoints.bootstrap_servers, specs, prefix=prefix, **endpoints.kafka_options()
        )
        assert sorted(created) == sorted(names)

        topics, configs = asyncio.run(
            _describe(endpoints.bootstrap_servers, names, endpoints.kafka_options())
        )
        assert topics == {prefix + "plain": 3, prefix + "latest": 2}
        assert configs[prefix + "plain"]["cleanup.policy"] == "delete"
        assert configs[prefix + "latest"]["cleanup.policy"] == "compact"
        assert configs[prefix + "latest"]["min.cleanable.dirty.ratio"] == "0.1"

        assert (
            ensure_topics(
                endpoints.bootstrap_servers, specs, prefix=prefix, **endpoints.kafka_options()
            )
            == []
        )
    finally:
        asyncio.run(_delete_topics(endpoints.bootstrap_servers, names, endpoints.kafka_options()))


def test_ensure_databases_creates_only_missing_databases(endpoints: Endpoints) -> None:
    name = f"stack_test_{uuid4().hex[:8]}"
    url = endpoints.database_server_url
    try:
        assert ensure_databases(url, [name]) == [name]
        assert ensure_databases(url, [name, name]) == []
        assert asyncio.run(_database_exists(url, name))
    finally:
        asyncio.run(_drop_database(url, name))


async def _describe(
    bootstrap: str, names: list[str], options: dict[str, Any]
) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        metadata: list[dict[str, Any]] = await admin.describe_topics(names)
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        responses = await admin.describe_configs(resources)
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in metadata if t["error_code"] == 0}
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            entries = resource["config_entries"]
            configs[resource["resource_name"]] = {
                e["config_names"]: e["config_value"] for e in entries
            }
    return partitions, configs


async def _delete_topics(bootstrap: str, names: list[str], options: dict[str, Any]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


def _dsn(url: str, database: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + (
        "/" + database
    )


async def _database_exists(url: str, name: str) -> bool:
    conn = await asyncpg.connect(_dsn(url, name))
    try:
        return bool(await conn.fetchval("SELECT current_database() = $1", name))
    finally:
        await conn.close()


async def _drop_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(_dsn(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()
