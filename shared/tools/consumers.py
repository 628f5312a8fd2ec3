"""Consumers outside any group, and stopping the task that reads from one.

A consumer without a group is assigned its partitions and commits nothing, so it
cannot disturb a service's consumer group: how the tools read and watch topics.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer


def groupless_consumer(start: Literal["earliest", "latest"], **options: Any) -> AIOKafkaConsumer:
    """A consumer in no group; ``start`` is where it reads a partition from until it is
    given a position. ``options`` (bootstrap_servers, client_id, security) go to aiokafka."""
    return AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, auto_offset_reset=start, **options
    )


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (when there is one) and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
