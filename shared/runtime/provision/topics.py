"""Kafka admin work: is the broker answering, and create missing topics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from contracts.topics import TopicSpec
from shared.runtime.provision.errors import ProvisionError
from shared.runtime.provision.sync import run_sync

logger = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_VISIBLE_TIMEOUT_S = 30.0


def _client(bootstrap_servers: str, request_timeout_ms: int, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="storecredit-stack",
        request_timeout_ms=request_timeout_ms,
        **options,
    )


def kafka_answers(bootstrap_servers: str, *, timeout_s: float = 5.0, **options: Any) -> bool:
    """True when an admin client can connect and list topics."""

    async def probe() -> bool:
        admin = _client(bootstrap_servers, int(timeout_s * 1000), **options)
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            await asyncio.wait_for(admin.list_topics(), timeout_s)
            return True
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            await admin.close()

    return run_sync(probe)


def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec],
    prefix: str = "",
    *,
    replication_factor: int = 1,
    **client_options: Any,
) -> list[str]:
    """Create the topics that do not exist yet; leave existing ones alone.

    Each topic gets the spec's partition count, ``replication_factor`` and
    `spec.kafka_config()`. Returns the (prefixed) names created, after the
    broker reports a leader for every partition of each. ``client_options``
    (security_protocol, sasl_*, ssl_context) reach the admin client.
    """
    wanted = {prefix + spec.name: spec for spec in specs}
    if not wanted:
        return []
    return run_sync(lambda: _ensure(bootstrap_servers, wanted, replication_factor, client_options))


async def _ensure(
    bootstrap_servers: str,
    wanted: dict[str, TopicSpec],
    replication_factor: int,
    client_options: dict[str, Any],
) -> list[str]:
    admin = _client(bootstrap_servers, 30_000, **client_options)
    try:
        try:
            await admin.start()
        except KafkaError as exc:
            raise ProvisionError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, spec.partitions, replication_factor, topic_configs=spec.kafka_config())
            for name, spec in wanted.items()
            if name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
        created = _check_created(response.topic_errors)
        await _wait_visible(admin, created)
    finally:
        await admin.close()
    for name in created:
        logger.info("created topic %s (%d partitions)", name, wanted[name].partitions)
    return created


def _check_created(topic_errors: list[tuple[Any, ...]]) -> list[str]:
    created: list[str] = []
    failures: list[str] = []
    for entry in topic_errors:
        name, code = str(entry[0]), int(entry[1])
        if code == 0:
            created.append(name)
        elif code != _TOPIC_ALREADY_EXISTS:  # a concurrent creator won the race
            message = entry[2] if len(entry) > 2 and entry[2] else ""
            failures.append(f"{name}: error {code} {message}".strip())
    if failures:
        raise ProvisionError("Kafka refused to create topics: " + "; ".join(failures))
    return created


async def _wait_visible(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until metadata shows every new partition with a leader."""
    if not names:
        return
    deadline = time.monotonic() + _VISIBLE_TIMEOUT_S
    pending = set(names)
    while pending:
        for topic in await admin.describe_topics(sorted(pending)):
            partitions = topic.get("partitions") or []
            healthy = all(p["error_code"] == 0 and p["leader"] >= 0 for p in partitions)
            if topic["error_code"] == 0 and partitions and healthy:
                pending.discard(topic["topic"])
        if not pending:
            return
        if time.monotonic() > deadline:
            raise ProvisionError(
                f"topics created but still without leaders after "
                f"{_VISIBLE_TIMEOUT_S:.0f} s: {sorted(pending)}"
            )
        await asyncio.sleep(0.2)
