"""``GET /v1/consumer-lag``: how far each service's consumer groups are behind, for admins.

A group's lag on a partition is the partition's end offset less the group's committed
offset: the messages written and not yet handled. The gateway's Kafka user may describe
the services' groups and the topics they read, and nothing more (contracts/access.py:
``observes``): it sees their offsets, never their messages. A group with no committed
offset on a partition is shown with ``committed: null`` there (it starts at the end,
``auto_offset_reset=latest``, so nothing is owed).
No ``from __future__ import annotations`` here: FastAPI reads the endpoint's annotations.
"""

from collections import defaultdict
from typing import Annotated, Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response

from contracts.access import BY_NAME
from contracts.envelope import ActorKind
from services.gateway.groupless import groupless_consumer
from services.gateway.identity import Caller
from services.gateway.problems import problem
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings


def add_consumer_lag(app: FastAPI, settings: Settings, signed_in: Any) -> None:
    @app.get(
        "/v1/consumer-lag",
        tags=["Operations"],
        summary="Every service consumer group's lag, per topic (admins)",
        operation_id="GetConsumerLag",
    )
    async def consumer_lag(caller: Annotated[Caller, Depends(signed_in)]) -> Response:
        if caller.actor.kind is not ActorKind.ADMIN:
            return problem(403, "forbidden", "Consumer lag is for admins.")
        return JSONResponse({"groups": await lag_of_groups(settings)})


def service_of(group: str, settings: Settings) -> str | None:
    """The service whose consumer group ``group`` is, if it is one of theirs."""
    gateway = BY_NAME["gateway"]
    for name in gateway.observes_groups_of:
        if group.startswith(BY_NAME[name].group_prefix(settings.topic_prefix)):
            return name
    return None


async def lag_of_groups(settings: Settings) -> list[dict[str, Any]]:
    options = kafka_client_options(settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="storecredit-gateway-lag",
        **options,
    )
    await admin.start()
    try:
        listed = sorted({str(group[0]) for group in await admin.list_consumer_groups()})
        groups = {g: s for g in listed if (s := service_of(g, settings)) is not None}
        committed = {g: await admin.list_consumer_group_offsets(g) for g in groups}
    finally:
        await admin.close()
    partitions = sorted({tp for offsets in committed.values() for tp in offsets})
    ends = await end_offsets(settings, partitions) if partitions else {}
    return [described(group, service, committed[group], ends) for group, service in groups.items()]


async def end_offsets(
    settings: Settings, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    async with groupless_consumer(settings, "storecredit-gateway-lag") as consumer:
        found: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return found


def described(
    group: str, service: str, committed: dict[TopicPartition, Any], ends: dict[TopicPartition, int]
) -> dict[str, Any]:
    by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for tp in sorted(committed):
        offset = committed[tp].offset
        known = offset is not None and offset >= 0
        end = ends.get(tp)
        by_topic[tp.topic].append(
            {
                "partition": tp.partition,
                "committed": offset if known else None,
                "end": end,
                "lag": max(0, end - offset) if known and end is not None else 0,
            }
        )
    topics = [
        {"topic": topic, "lag": sum(p["lag"] for p in parts), "partitions": parts}
        for topic, parts in by_topic.items()
    ]
    return {
        "group": group,
        "service": service.replace("_", "-"),
        "lag": sum(t["lag"] for t in topics),
        "topics": topics,
    }
