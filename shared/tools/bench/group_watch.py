"""Watch a consumer group from outside: which member owns which partitions of a topic.

The services silence aiokafka's own logging, so a rebalance is seen the way an
operator sees it: the group is described every ``POLL_S`` (Kafka's DescribeGroups)
and each new stable assignment is kept. The first is the initial join; every
later one is a rebalance that completed. A rebalance that is undone again within
one poll would be missed; none in this benchmark is that quick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

POLL_S = 0.2
STABLE = "Stable"

Assignment = dict[str, tuple[int, ...]]
"""Member id to the partitions of the watched topic it owns."""


@dataclass(frozen=True)
class GroupView:
    state: str
    assignment: Assignment
    at: float = 0.0
    """When it was seen (``time.perf_counter()``)."""


def view_of(described: dict[str, Any], topic: str, at: float = 0.0) -> GroupView:
    """A group as DescribeGroups tells it (``response.to_object()["groups"][n]``)."""
    assignment: Assignment = {}
    for member in described["members"]:
        owned: list[int] = []
        if member["member_assignment"]:
            decoded = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            owned = [p for name, parts in decoded.assignment if name == topic for p in parts]
        assignment[member["member_id"]] = tuple(sorted(owned))
    return GroupView(described["state"], assignment, at)


def stable_assignments(views: Iterable[GroupView]) -> list[GroupView]:
    """The first view of each stable assignment that differs from the one before."""
    kept: list[GroupView] = []
    for view in views:
        previous = kept[-1].assignment if kept else None
        if view.state == STABLE and view.assignment and view.assignment != previous:
            kept.append(view)
    return kept


def shape(assignment: Assignment) -> str:
    """``3+3``: how many partitions each member owns, largest first."""
    return "+".join(str(len(p)) for p in sorted(assignment.values(), key=len, reverse=True))


@dataclass
class GroupWatch:
    group: str
    topic: str
    views: list[GroupView] = field(default_factory=list)

    @property
    def assignments(self) -> list[GroupView]:
        return stable_assignments(self.views)

    @property
    def rebalances(self) -> int:
        """Completed rebalances after the first assignment."""
        return max(len(self.assignments) - 1, 0)

    @property
    def members(self) -> int:
        """Distinct members that owned partitions at some point."""
        owners = {m for v in self.assignments for m, parts in v.assignment.items() if parts}
        return len(owners)

    def history(self) -> str:
        """``6 -> 3+3 -> 6``."""
        return " -> ".join(shape(v.assignment) for v in self.assignments) or "none seen"

    def settled_at(self) -> float | None:
        """When the last rebalance seen had completed (None if none was seen)."""
        return self.assignments[-1].at if self.rebalances else None

    async def _poll(self, admin: AIOKafkaAdminClient) -> None:
        while True:
            with suppress(KafkaError, ValueError):  # the coordinator moving, or not there yet
                [response] = await admin.describe_consumer_groups([self.group])
                for described in response.to_object()["groups"]:
                    self.views.append(view_of(described, self.topic, time.perf_counter()))
            await asyncio.sleep(POLL_S)


@asynccontextmanager
async def watching(
    bootstrap_servers: str, group: str, topic: str, **options: Any
) -> AsyncIterator[GroupWatch]:
    """A :class:`GroupWatch` filled in the background while the block runs."""
    watch = GroupWatch(group, topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **options)
    await admin.start()
    poller = asyncio.create_task(watch._poll(admin))
    try:
        yield watch
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        await admin.close()
