"""``storecredit topics``: every platform topic with its size, then every consumer
group of the platform with how far behind it is (its lag).

Lag is the end offset minus the group's committed offset, per partition. A
partition the group has committed nothing on counts in full (end minus
beginning): the services read from the earliest offset, so all of it is
still to be read.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import ALL_TOPICS
from shared.runtime.settings import Settings
from shared.tools.operator.columns import table
from shared.tools.operator.connection import admin_client, partition_counts, reader
from shared.tools.operator.errors import OperatorError, reported
from shared.tools.operator.reading import Offsets, offsets_of

GROUP_NAME = "storecredit-"
"""What every service's consumer group id starts with, after the topic prefix."""


@dataclass(frozen=True)
class PartitionLag:
    group: str
    partition: TopicPartition
    committed: int | None
    end: int
    lag: int


async def show(settings: Settings, *, group: str | None = None, verbose: bool = False) -> int:
    names = [settings.topic(spec) for spec in ALL_TOPICS]
    async with admin_client(settings) as admin:
        counts = await partition_counts(admin, names)
        groups = await platform_groups(admin, settings, group)
        committed = {g: await admin.list_consumer_group_offsets(g) for g in groups}
        states = {g: await group_state(admin, g) for g in groups}
        extra = {tp.topic for offsets in committed.values() for tp in offsets} - set(counts)
        counts.update(await partition_counts(admin, extra))
    partitions = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    async with reader(settings) as consumer:
        offsets = await offsets_of(consumer, partitions)
    print(topic_table(names, counts, offsets))
    print()
    lags = [lag for g in groups for lag in group_lags(g, committed[g], counts, offsets)]
    print(lag_table(groups, states, lags, verbose))
    return 0


async def platform_groups(
    admin: AIOKafkaAdminClient, settings: Settings, wanted: str | None
) -> list[str]:
    """The consumer groups of this platform (its prefix), or the one asked for."""
    prefix = f"{settings.topic_prefix}{GROUP_NAME}"
    found = sorted(g for g, *_ in await admin.list_consumer_groups() if g.startswith(prefix))
    if wanted is None:
        return found
    for candidate in (wanted, f"{settings.topic_prefix}{wanted}"):
        if candidate in found:
            return [candidate]
    raise OperatorError(f"no consumer group {wanted!r}; the platform's: {', '.join(found)}", 1)


async def group_state(admin: AIOKafkaAdminClient, group: str) -> str:
    """Stable (members read), Empty (nobody reads), ...; ``?`` when the broker did not say."""
    try:
        [response] = await admin.describe_consumer_groups([group])
        [described] = response.to_object()["groups"]
        members = len(described["members"])
        return f"{described['state']} ({members} member{'' if members == 1 else 's'})"
    except Exception:
        return "?"


def group_lags(
    group: str,
    committed: dict[TopicPartition, object],
    counts: dict[str, int],
    offsets: Offsets,
) -> list[PartitionLag]:
    """Lag on every partition of every topic the group has committed on."""
    lags = []
    for topic in sorted({tp.topic for tp in committed}):
        for partition in (TopicPartition(topic, p) for p in range(counts.get(topic, 0))):
            mark = committed.get(partition)
            at = getattr(mark, "offset", -1)
            end = offsets.end[partition]
            position = at if at >= 0 else offsets.beginning[partition]
            lags.append(
                PartitionLag(group, partition, at if at >= 0 else None, end, end - position)
            )
    return lags


def topic_table(names: Iterable[str], counts: dict[str, int], offsets: Offsets) -> str:
    rows: list[Sequence[object]] = []
    for name in names:
        if name not in counts:
            rows.append((name, "-", "missing"))
            continue
        parts = [TopicPartition(name, p) for p in range(counts[name])]
        rows.append((name, counts[name], sum(offsets.count(tp) for tp in parts)))
    return table(("TOPIC", "PARTITIONS", "MESSAGES"), rows)


def lag_table(
    groups: Sequence[str], states: dict[str, str], lags: Sequence[PartitionLag], verbose: bool
) -> str:
    """One row per group and topic (lag summed), or per partition with ``verbose``."""
    if not groups:
        return "no consumer groups of the platform yet (no service has committed an offset)"
    rows: list[Sequence[object]] = []
    header: tuple[str, ...]
    if verbose:
        for lag in lags:
            committed = "-" if lag.committed is None else lag.committed
            topic, partition = lag.partition.topic, lag.partition.partition
            rows.append(
                (lag.group, states[lag.group], topic, partition, committed, lag.end, lag.lag)
            )
        header = ("GROUP", "STATE", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG")
    else:
        totals: dict[tuple[str, str], int] = {}
        for lag in lags:
            key = (lag.group, lag.partition.topic)
            totals[key] = totals.get(key, 0) + lag.lag
        rows = [(g, states[g], t, total) for (g, t), total in totals.items()]
        header = ("GROUP", "STATE", "TOPIC", "LAG")
    listed = {row[0] for row in rows}
    rows += [
        (g, states[g], "(nothing committed)", *["-"] * (len(header) - 3))
        for g in groups
        if g not in listed
    ]
    return table(header, rows)


def run(args: argparse.Namespace) -> int:
    return reported(lambda: asyncio.run(show(Settings(), group=args.group, verbose=args.verbose)))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "topics", help="platform topics with message counts, consumer groups with lag"
    )
    parser.add_argument("--group", help="only this consumer group (with or without the prefix)")
    parser.add_argument("-v", "--verbose", action="store_true", help="lag per partition")
    parser.set_defaults(func=run)
