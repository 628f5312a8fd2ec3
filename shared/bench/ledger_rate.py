"""The ledger's sustained command rate as it is today (one database transaction per message).

1,000 accounts are opened, then deposits spread over them are published as fast as one
producer can; the rate is the accepted results on ``ledger.command-results`` from the
first result to the last, so the ledger is measured, not the publisher.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.envelope import Envelope, Message
from contracts.topics import LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS
from shared.bench.envelopes import account_ids, deposit, open_account, record
from shared.bench.report import Figure
from shared.bench.servers import Servers

ACCOUNTS = 1000
STALL_S = 60.0


@dataclass
class Results:
    """Every result read, by command type: (arrival time, status)."""

    by_type: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    def add(self, value: bytes | None) -> None:
        payload = json.loads(value or b"{}").get("payload", {})
        arrival = (time.perf_counter(), str(payload.get("status")))
        self.by_type.setdefault(str(payload.get("command_type")), []).append(arrival)

    def count(self, command_type: str) -> int:
        return len(self.by_type.get(command_type, []))


async def _collect(consumer: AIOKafkaConsumer, results: Results) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=5000)
        for batch in batches.values():
            for message in batch:
                results.add(message.value)


async def _wait_for(results: Results, command_type: str, expected: int) -> None:
    """Until ``expected`` results of the type arrived; fails if none come for STALL_S."""
    seen, last_progress = -1, time.perf_counter()
    while (count := results.count(command_type)) < expected:
        if count != seen:
            seen, last_progress = count, time.perf_counter()
        elif time.perf_counter() - last_progress > STALL_S:
            raise RuntimeError(f"{count:,} of {expected:,} {command_type} results, then none")
        await asyncio.sleep(0.05)


async def _publish(
    producer: AIOKafkaProducer, topic: str, commands: list[tuple[str, Envelope[Message]]]
) -> float:
    started = time.perf_counter()
    pending = []
    for key, envelope in commands:
        value, headers = record(envelope)
        pending.append(await producer.send(topic, value, key=key.encode(), headers=headers))
    await producer.flush()
    for acknowledgement in pending:
        await acknowledgement
    return time.perf_counter() - started


async def measure(servers: Servers, topic_prefix: str, tag: str, commands: int) -> list[Figure]:
    results_topic = f"{topic_prefix}{LEDGER_COMMAND_RESULTS.name}"
    commands_topic = f"{topic_prefix}{LEDGER_COMMANDS.name}"
    results = Results()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers.bootstrap_servers, enable_auto_commit=False
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=servers.bootstrap_servers, acks="all", enable_idempotence=True
    )
    await consumer.start()
    await producer.start()
    partitions = [
        TopicPartition(results_topic, n) for n in range(LEDGER_COMMAND_RESULTS.partitions)
    ]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    collector = asyncio.create_task(_collect(consumer, results))
    try:
        accounts = account_ids(tag, ACCOUNTS)
        await _publish(producer, commands_topic, [(a, open_account(a)) for a in accounts])
        await _wait_for(results, "OpenLedgerAccount", ACCOUNTS)
        deposits = [
            (accounts[n % ACCOUNTS], deposit(accounts[n % ACCOUNTS], f"{tag}-tx-{n:07d}"))
            for n in range(commands)
        ]
        sent_at = time.perf_counter()
        publishing = await _publish(producer, commands_topic, deposits)
        await _wait_for(results, "CreatePointTransaction", commands)
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await producer.stop()
        await consumer.stop()
    return _figures(results, commands, publishing, sent_at)


def _figures(results: Results, commands: int, publishing: float, sent_at: float) -> list[Figure]:
    opened = Counter(status for _, status in results.by_type["OpenLedgerAccount"])
    answers = results.by_type["CreatePointTransaction"]
    statuses = Counter(status for _, status in answers)
    accepted_times = [at for at, status in answers if status == "accepted"]
    span = max(accepted_times) - min(accepted_times) if len(accepted_times) > 1 else float("nan")
    last = max(at for at, _ in answers)
    return [
        Figure(
            "ledger deposits (1 tx/message)",
            len(accepted_times) / span,
            "commands/s",
            f"{commands:,} deposits over {ACCOUNTS:,} accounts ({opened['accepted']:,} opened), "
            f"{statuses['accepted']:,} accepted, {statuses['rejected']:,} rejected; "
            "first to last accepted result; ledger as a process",
        ),
        Figure(
            "ledger deposits, first send to last result",
            last - sent_at,
            "s",
            f"the deposits were all published in {publishing:.2f} s",
        ),
    ]
