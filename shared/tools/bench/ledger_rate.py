"""The ledger's sustained command rate as it is today (one database transaction per message).

1,000 accounts are opened, then deposits spread over them are published as fast as one
producer can; the rate is the accepted results on ``ledger.command-results`` from the
first result to the last, so the ledger is measured, not the publisher.

The pieces (reading every result in the background, opening the accounts, publishing,
waiting for a count) are reused by ``shared.tools.bench.scale_out``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.envelope import Envelope, Message
from contracts.topics import LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS
from shared.tools.bench.envelopes import account_ids, commit, deposit, hold, open_account, record
from shared.tools.bench.outcomes import Arrival
from shared.tools.bench.report import Figure
from shared.tools.bench.servers import Servers

ACCOUNTS = 1000
STALL_S = 60.0

Keyed = list[tuple[str, Envelope[Message]]]
"""Commands with their Kafka keys (the account id)."""


@dataclass
class Results:
    """Every result read: by command type, and by the id of the command it answers."""

    by_type: dict[str, list[Arrival]] = field(default_factory=dict)
    by_command: dict[str, list[Arrival]] = field(default_factory=dict)
    """A command answered twice (a result published again after a crash) has two."""

    def add(self, value: bytes | None) -> None:
        payload = json.loads(value or b"{}").get("payload", {})
        arrival = (time.perf_counter(), str(payload.get("status")))
        self.by_type.setdefault(str(payload.get("command_type")), []).append(arrival)
        self.by_command.setdefault(str(payload.get("command_id")), []).append(arrival)

    def count(self, command_type: str) -> int:
        return len(self.by_type.get(command_type, []))


async def _collect(consumer: AIOKafkaConsumer, results: Results) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=5000)
        for batch in batches.values():
            for message in batch:
                results.add(message.value)


@asynccontextmanager
async def reading_results(servers: Servers, topic_prefix: str) -> AsyncIterator[Results]:
    """Every result on the prefix's ``ledger.command-results``, read from the beginning
    in the background (no consumer group) for as long as the block runs."""
    results_topic = f"{topic_prefix}{LEDGER_COMMAND_RESULTS.name}"
    results = Results()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers.bootstrap_servers,
        enable_auto_commit=False,
        **servers.kafka,
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(results_topic, n) for n in range(LEDGER_COMMAND_RESULTS.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        collector = asyncio.create_task(_collect(consumer, results))
        try:
            yield results
        finally:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)
    finally:
        await consumer.stop()


@asynccontextmanager
async def producing(servers: Servers) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent producer, ``acks=all``, as the services' clients publish."""
    producer = AIOKafkaProducer(
        bootstrap_servers=servers.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **servers.kafka,
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def wait_until_counted(count: Callable[[], int], expected: int, what: str) -> None:
    """Until ``count()`` reaches ``expected``; fails if it does not move for STALL_S."""
    seen, last_progress = -1, time.perf_counter()
    while (counted := count()) < expected:
        if counted != seen:
            seen, last_progress = counted, time.perf_counter()
        elif time.perf_counter() - last_progress > STALL_S:
            raise RuntimeError(f"{counted:,} of {expected:,} {what}, then none")
        await asyncio.sleep(0.05)


async def _wait_for(results: Results, command_type: str, expected: int) -> None:
    """Until ``expected`` results of the type arrived; fails if none come for STALL_S."""
    await wait_until_counted(
        lambda: results.count(command_type), expected, f"{command_type} results"
    )


async def publish(producer: AIOKafkaProducer, topic: str, commands: Keyed) -> float:
    """Send every command without waiting for each acknowledgement; the seconds taken
    until all are acknowledged."""
    started = time.perf_counter()
    pending = []
    for key, envelope in commands:
        value, headers = record(envelope)
        pending.append(await producer.send(topic, value, key=key.encode(), headers=headers))
    await producer.flush()
    for acknowledgement in pending:
        await acknowledgement
    return time.perf_counter() - started


async def open_accounts(
    producer: AIOKafkaProducer, results: Results, topic_prefix: str, tag: str
) -> list[str]:
    """Open ACCOUNTS accounts named after ``tag`` and wait for their results."""
    accounts = account_ids(tag, ACCOUNTS)
    commands_topic = f"{topic_prefix}{LEDGER_COMMANDS.name}"
    await publish(producer, commands_topic, [(a, open_account(a)) for a in accounts])
    await _wait_for(results, "OpenLedgerAccount", ACCOUNTS)
    return accounts


def deposits(accounts: list[str], tag: str, commands: int) -> Keyed:
    """``commands`` deposits spread over the accounts in turn, keyed by account."""
    return [
        (accounts[n % len(accounts)], deposit(accounts[n % len(accounts)], f"{tag}-tx-{n:07d}"))
        for n in range(commands)
    ]


def holds_then_commits(accounts: list[str], tag: str, pairs: int) -> Keyed:
    """``pairs`` holds of one point, each followed by its commit on the same key (what a
    checkout's points do), spread over the accounts in turn."""
    commands: Keyed = []
    for n in range(pairs):
        account, transaction_id = accounts[n % len(accounts)], f"{tag}-hold-{n:07d}"
        commands += [(account, hold(account, transaction_id))]
        commands += [(account, commit(account, transaction_id))]
    return commands


async def measure(
    servers: Servers,
    topic_prefix: str,
    tag: str,
    commands: int,
    mode: str = "",
    pairs: int = 0,
) -> list[Figure]:
    """The ledger's deposit rate, then (``pairs``) its hold-then-commit rate on the funded
    accounts; ``mode`` names how it was configured, in the labels."""
    commands_topic = f"{topic_prefix}{LEDGER_COMMANDS.name}"
    async with reading_results(servers, topic_prefix) as results, producing(servers) as producer:
        accounts = await open_accounts(producer, results, topic_prefix, tag)
        sent_at = time.perf_counter()
        publishing = await publish(producer, commands_topic, deposits(accounts, tag, commands))
        await _wait_for(results, "CreatePointTransaction", commands)
        figures = _figures(results, commands, publishing, sent_at, mode)
        if pairs:
            await publish(producer, commands_topic, holds_then_commits(accounts, tag, pairs))
            await _wait_for(results, "CommitPointTransaction", pairs)
            figures.append(_pair_figure(results, pairs, mode))
    return figures


def _pair_figure(results: Results, pairs: int, mode: str) -> Figure:
    commits = results.by_type["CommitPointTransaction"]
    statuses = Counter(status for _, status in commits)
    holds = results.by_type["CreatePointTransaction"][-pairs:]
    began = min(at for at, _ in holds)
    ended = max(at for at, status in commits if status == "accepted")
    return Figure(
        f"ledger hold-then-commit pairs{mode}",
        statuses["accepted"] / (ended - began),
        "pairs/s",
        f"{pairs:,} pending spends each committed on the same key, {statuses['accepted']:,} "
        f"committed, {statuses['rejected']:,} refused; first hold's result to last commit's",
    )


def _figures(
    results: Results, commands: int, publishing: float, sent_at: float, mode: str
) -> list[Figure]:
    opened = Counter(status for _, status in results.by_type["OpenLedgerAccount"])
    answers = results.by_type["CreatePointTransaction"]
    statuses = Counter(status for _, status in answers)
    accepted_times = [at for at, status in answers if status == "accepted"]
    span = max(accepted_times) - min(accepted_times) if len(accepted_times) > 1 else float("nan")
    last = max(at for at, _ in answers)
    return [
        Figure(
            f"ledger deposits{mode}",
            len(accepted_times) / span,
            "commands/s",
            f"{commands:,} deposits over {ACCOUNTS:,} accounts ({opened['accepted']:,} opened), "
            f"{statuses['accepted']:,} accepted, {statuses['rejected']:,} rejected; "
            "first to last accepted result; ledger as a process",
        ),
        Figure(
            f"ledger deposits{mode}, first send to last result",
            last - sent_at,
            "s",
            f"the deposits were all published in {publishing:.2f} s",
        ),
    ]
