"""Reading records between offsets, for commands that look without consuming.

A bounded read stops at the end offsets taken when it started, so a busy topic
cannot keep it going; a follow read goes on until it is cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

POLL_TIMEOUT_MS = 500


@dataclass(frozen=True)
class Offsets:
    """Where each partition begins and ends (the end is the next offset to be written)."""

    beginning: dict[TopicPartition, int]
    end: dict[TopicPartition, int]

    def count(self, partition: TopicPartition) -> int:
        """Records in the partition's offset span (a compacted topic may hold fewer)."""
        return self.end[partition] - self.beginning[partition]


async def offsets_of(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> Offsets:
    if not partitions:
        return Offsets({}, {})
    beginning = await consumer.beginning_offsets(list(partitions))
    end = await consumer.end_offsets(list(partitions))
    return Offsets(dict(beginning), dict(end))


async def read(
    consumer: AIOKafkaConsumer,
    start: Mapping[TopicPartition, int],
    stop: Mapping[TopicPartition, int] | None,
) -> AsyncIterator[Any]:
    """Records (aiokafka ConsumerRecords) from ``start`` on, each partition in order.

    With ``stop``, a partition is done at its stop offset and the read ends when
    all are; without it, the read follows the partitions forever. Partitions are
    not paused once done (records past ``stop`` are dropped instead): with every
    partition paused, aiokafka 0.14's ``consumer.stop()`` never returned.
    """
    partitions = list(start)
    if stop is not None:
        partitions = [tp for tp in partitions if start[tp] < stop[tp]]
    if not partitions:
        return
    consumer.assign(partitions)
    for partition in partitions:
        consumer.seek(partition, start[partition])
    pending = set(partitions)
    while stop is None or pending:
        batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
        for partition, records in batches.items():
            for record in records:
                if stop is None or record.offset < stop[partition]:
                    yield record
        if stop is not None:
            for partition in list(pending):
                if await consumer.position(partition) >= stop[partition]:
                    pending.discard(partition)
