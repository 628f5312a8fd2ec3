"""Run every check: a first look at all four databases, and for differences between
services a second look at the follower after the settle time.

Local checks report at the first look. A cross check's differences at the first
look are suspects: the runner waits ``settle_s`` (with no transaction open),
verifies the suspects' facts again against a fresh snapshot of the follower,
and reports what is still wrong. With ``settle_s`` 0 suspects are reported at
once (for a system known to be quiet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.runtime.settings import Settings
from shared.tools.invariants import (
    copies,
    idempotency,
    items,
    ledger,
    orders,
    outbox,
    payment,
    returns,
    topics,
)
from shared.tools.invariants.databases import (
    UNREACHABLE,
    CouldNotCheck,
    dispose,
    open_engines,
    snapshots,
)
from shared.tools.invariants.model import CrossCheck, Facts, LocalCheck, Scope, Violation

LOCAL_CHECKS: tuple[LocalCheck, ...] = (
    *ledger.CHECKS,
    *idempotency.CHECKS,
    *outbox.CHECKS,
    *payment.LOCAL,
)
CROSS_CHECKS: tuple[CrossCheck, ...] = (
    *orders.CHECKS,
    *payment.CROSS,
    *items.CHECKS,
    *returns.CHECKS,
    *copies.CHECKS,
)

Pause = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    violations: list[Violation]
    suspects: int
    """Differences between services seen at the first look."""
    settled: int
    """Of those, how many were gone at the second look (messages that were in flight)."""


@dataclass(frozen=True)
class _Suspected:
    check: CrossCheck
    facts: Facts
    found: list[Violation]


async def check(settings: Settings, settle_s: float, *, pause: Pause = asyncio.sleep) -> Outcome:
    """Every violation of the platform's invariants; raises CouldNotCheck."""
    engines = open_engines(settings)
    try:
        return await _check(engines, settle_s, pause, topics.topic_reader(settings))
    finally:
        await dispose(engines)


async def _check(
    engines: Mapping[str, AsyncEngine], settle_s: float, pause: Pause, read: topics.ReadTopic
) -> Outcome:
    async with snapshots(engines) as first:
        found = await _local(first, settle_s)
        suspected = await _cross(first)
        ledger = await topics.ledger_balances(first["ledger"])
    first_topic = await _read_topic(read)
    shown, behind = topics.compare(ledger, first_topic)
    found += shown
    suspects = [v for s in suspected for v in s.found]
    in_flight = len(suspects) + len(behind)
    if (not suspected and not behind) or settle_s <= 0:
        stale = topics.still_behind(ledger, first_topic, behind) if behind else []
        return Outcome(_distinct(found + suspects + stale), in_flight, 0)
    await pause(settle_s)
    async with snapshots(engines) as second:
        persisting = [v for s in suspected for v in await _again(s, second[s.check.target])]
    persisting += topics.still_behind(ledger, await _read_topic(read), behind) if behind else []
    return Outcome(_distinct(found + persisting), in_flight, in_flight - len(persisting))


async def _read_topic(read: topics.ReadTopic) -> dict[str, topics.Seen]:
    try:
        return await read()
    except KafkaError as error:
        raise CouldNotCheck("the topic ledger.balances", error) from error


async def _local(connections: Mapping[str, AsyncConnection], settle_s: float) -> list[Violation]:
    found: list[Violation] = []
    for local in LOCAL_CHECKS:
        for service in local.services:
            try:
                found += await local.run(connections[service], Scope(service, settle_s))
            except UNREACHABLE as error:
                raise CouldNotCheck(f"the {service} database", error) from error
    return found


async def _cross(connections: Mapping[str, AsyncConnection]) -> list[_Suspected]:
    suspected = []
    for cross in CROSS_CHECKS:
        try:
            facts = await cross.facts(connections)
            found = await cross.verify(connections[cross.target], facts) if facts else []
        except UNREACHABLE as error:
            raise CouldNotCheck(f"{cross.source} against {cross.target}", error) from error
        if found:
            suspected.append(_Suspected(cross, facts, found))
    return suspected


async def _again(suspected: _Suspected, connection: AsyncConnection) -> list[Violation]:
    """The suspects still wrong at the second look (as they are now)."""
    subjects = {v.subject for v in suspected.found}
    facts = {k: fact for k, fact in suspected.facts.items() if k in subjects}
    try:
        again = await suspected.check.verify(connection, facts)
    except UNREACHABLE as error:
        raise CouldNotCheck(f"the {suspected.check.target} database", error) from error
    first = {v.key() for v in suspected.found}
    return [v for v in again if v.key() in first]


def _distinct(found: Sequence[Violation]) -> list[Violation]:
    """One violation per name and ids (two checks may see one fault), in a stable order."""
    unique = {v.key(): v for v in reversed(found)}
    return sorted(unique.values(), key=lambda v: v.key())
