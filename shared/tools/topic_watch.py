"""Watching topics: read them from their end onwards and wait for what a test, the
demo or an operator expects to appear (with a deadline, never a fixed sleep)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.tools.consumers import cancel_and_wait, groupless_consumer


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        """The value parsed (once: predicates ask for it again and again)."""
        return self._parsed

    @cached_property
    def _parsed(self) -> Any:
        return json.loads(self.value)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
    if not found:
        raise AssertionError(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(found)]


async def assign_at_end(consumer: AIOKafkaConsumer, topics: list[str]) -> None:
    """Read these topics' partitions from their end as it is now: the positions are
    fixed before returning, so nothing sent afterwards is missed."""
    partitions = [tp for topic in topics for tp in await partitions_of(consumer, topic)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)


async def read_all(bootstrap_servers: str, topic: str, **options: Any) -> list[Record]:
    """Every record of a topic, from its beginning to its end at the time of the call."""
    # "earliest" as the default: assign() starts its own offset reset, and a
    # seek_to_beginning() racing with a "latest" default sometimes lost.
    consumer = groupless_consumer("earliest", bootstrap_servers=bootstrap_servers, **options)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Record] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=500)
            records += [_record(m) for messages in batches.values() for m in messages]
        return records
    finally:
        await consumer.stop()


def _record(m: Any) -> Record:
    return Record(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        key=m.key,
        value=m.value or b"",
        headers={k: v.decode("utf-8", "replace") for k, v in m.headers or ()},
    )


class TopicWatcher:
    """Reads topics from their end at creation time onwards; waits on conditions."""

    def __init__(self, bootstrap_servers: str, topics: Iterable[str], **options: Any) -> None:
        """``options`` (security_protocol, sasl_*, ssl_context) go to the aiokafka consumer."""
        self._topics = list(topics)
        self._consumer = groupless_consumer(
            "latest", bootstrap_servers=bootstrap_servers, **options
        )
        self.records: list[Record] = []
        self.by_key: dict[bytes | None, list[Record]] = {}
        """The same records by Kafka key: waiting on one key's records stays cheap when
        thousands of other records have been read."""
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> TopicWatcher:
        await self._consumer.start()
        await assign_at_end(self._consumer, self._topics)
        self._task = asyncio.create_task(self._pump())
        return self

    async def _pump(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            fresh = [_record(m) for messages in batches.values() for m in messages]
            if fresh:
                async with self._changed:
                    self.records.extend(fresh)
                    for record in fresh:
                        self.by_key.setdefault(record.key, []).append(record)
                    self._changed.notify_all()

    def matching(
        self, predicate: Callable[[Record], bool], *, key: str | None = None
    ) -> list[Record]:
        """The records so far that match; only those of ``key`` when it is given."""
        among = self.records if key is None else self.by_key.get(key.encode(), [])
        return [r for r in among if predicate(r)]

    async def wait_for(
        self,
        predicate: Callable[[Record], bool],
        *,
        count: int = 1,
        within_s: float = 60.0,
        key: str | None = None,
    ) -> list[Record]:
        """Wait until ``count`` records (of ``key``, if given) match; fail after ``within_s``."""

        async def enough() -> list[Record]:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: len(self.matching(predicate, key=key)) >= count
                )
                return self.matching(predicate, key=key)

        try:
            return await asyncio.wait_for(enough(), within_s)
        except TimeoutError:
            seen = [(r.topic, r.headers.get("type"), r.value[:200]) for r in self.records[-10:]]
            raise AssertionError(
                f"no {count} matching records in {within_s}s; last seen: {seen}"
            ) from None

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._consumer.stop()
