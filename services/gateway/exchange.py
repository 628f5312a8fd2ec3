"""The gateway's Kafka side: send a command or a query, wait for its answer.

Every gateway instance reads every partition of the four results topics and the
four query-replies topics, outside any consumer group (nothing committed, no
group to rebalance), and hands each answer to the request waiting for it: a
result by the message id it answers (``causation_id``), a reply by its
correlation id. Results are also kept for a while (``ResultBook``), and a
starting instance reads the results topics from ``STORECREDIT_GATEWAY_RESULT_
LOOKBACK_S`` ago, so an operation answered 202 on one instance can be polled on
any other. Balances (``ledger.balances``) are read from their end and fanned out
to the live streams that follow an account.

Aiokafka directly, not FastStream's subscribers: these readers must be
assigned every partition and seek by time, outside any group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from contracts.access import REPLY_TOPICS, RESULT_TOPICS
from contracts.envelope import (
    HEADER_CORRELATION_ID,
    Actor,
    Envelope,
    Message,
    RawEnvelope,
    new_envelope,
)
from contracts.results import CommandResult
from contracts.topics import LEDGER_BALANCES, TopicSpec
from shared.runtime.broker import LONG_POLL_MS, RESTING_CONSUMER, kafka_client_options
from shared.runtime.claims import Keyring
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import Settings

log = logging.getLogger(__name__)

REPLY_TO_HEADER = "reply_to"
FASTSTREAM_CORRELATION_HEADER = "correlation_id"
READ_ERROR_PAUSE_S = 1.0
RESULTS_KEPT = 100_000


@dataclass(frozen=True)
class Sent:
    """A command on its way: its message id, and the result if it came in time."""

    message_id: UUID
    result: CommandResult | None


class ResultBook:
    """The latest results by the command message id they answer, the oldest dropped."""

    def __init__(self, size: int = RESULTS_KEPT) -> None:
        self._results: OrderedDict[UUID, CommandResult] = OrderedDict()
        self._size = size

    def add(self, message_id: UUID, result: CommandResult) -> None:
        self._results[message_id] = result
        self._results.move_to_end(message_id)
        while len(self._results) > self._size:
            self._results.popitem(last=False)

    def get(self, message_id: UUID) -> CommandResult | None:
        return self._results.get(message_id)


class Exchange:
    """Publishes signed commands and queries; reads results, replies and balances."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keyring: Keyring = settings.keyring()
        self.results = ResultBook()
        self._waiting_results: dict[UUID, asyncio.Future[CommandResult]] = {}
        self._waiting_replies: dict[str, asyncio.Future[RawEnvelope]] = {}
        self._balance_followers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = False

    def topic(self, spec: TopicSpec) -> str:
        return self._settings.topic(spec)

    async def start(self) -> None:
        """Connect (aiokafka's clients belong to the running loop: made here, not before)."""
        options = kafka_client_options(self._settings)
        servers = self._settings.kafka_bootstrap_servers
        self._producer = AIOKafkaProducer(
            bootstrap_servers=servers, client_id="storecredit-gateway", acks="all", **options
        )

        def reader(name: str) -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                bootstrap_servers=servers,
                client_id=f"storecredit-gateway-{name}",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="latest",
                **RESTING_CONSUMER,
                **options,
            )

        self._results_reader = reader("results")
        self._replies_reader = reader("replies")
        self._balances_reader = reader("balances")
        await self._producer.start()
        started: list[AIOKafkaConsumer] = []
        try:
            for consumer in (self._results_reader, self._replies_reader, self._balances_reader):
                await consumer.start()
                started.append(consumer)
            lookback_ms = self._settings.gateway_result_lookback_s * 1000
            await self._assign(self._results_reader, RESULT_TOPICS, since_ms=lookback_ms)
            await self._assign(self._replies_reader, REPLY_TOPICS)
            await self._assign(self._balances_reader, (LEDGER_BALANCES,))
        except BaseException:
            for consumer in started:
                await consumer.stop()
            await self._producer.stop()
            raise
        self._tasks = [
            asyncio.create_task(self._read(self._results_reader, self._on_result), name="results"),
            asyncio.create_task(self._read(self._replies_reader, self._on_reply), name="replies"),
            asyncio.create_task(
                self._read(self._balances_reader, self._on_balance), name="balances"
            ),
        ]
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        waiting: list[asyncio.Future[Any]] = [
            *self._waiting_results.values(),
            *self._waiting_replies.values(),
        ]
        for future in waiting:
            future.cancel()
        for consumer in (self._results_reader, self._replies_reader, self._balances_reader):
            await consumer.stop()
        await self._producer.stop()

    async def _assign(
        self, consumer: AIOKafkaConsumer, specs: tuple[TopicSpec, ...], since_ms: int = 0
    ) -> None:
        """Every partition of ``specs``, from ``since_ms`` ago (0: from the end); the
        positions are fixed before the gateway serves, so no answer slips past."""
        partitions = []
        for spec in specs:
            name = self.topic(spec)
            found = await self._producer.partitions_for(name)
            if not found:
                raise RuntimeError(f"topic {name} does not exist: run storecredit setup")
            partitions += [TopicPartition(name, p) for p in sorted(found)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        if since_ms:
            start = int(time.time() * 1000) - since_ms
            offsets = await consumer.offsets_for_times(dict.fromkeys(partitions, start))
            for partition, found_offset in offsets.items():
                if found_offset is not None:
                    consumer.seek(partition, found_offset.offset)
        for partition in partitions:
            await consumer.position(partition)

    async def _read(self, consumer: AIOKafkaConsumer, handle: Any) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=LONG_POLL_MS)
            except Exception:
                log.exception("reading answers failed; trying again")
                await asyncio.sleep(READ_ERROR_PAUSE_S)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        handle(record)
                    except (ValidationError, ValueError):
                        continue  # not an answer of ours to read: someone else's problem

    def _on_result(self, record: Any) -> None:
        envelope = RawEnvelope.model_validate_json(record.value or b"")
        if envelope.type != CommandResult.message_type:
            return
        result = CommandResult.model_validate(envelope.payload)
        # A replay's result is the first one again (its command_id the first message's);
        # what it answers is its causation id.
        answers = UUID(envelope.causation_id) if envelope.causation_id else result.command_id
        self.results.add(answers, result)
        future = self._waiting_results.pop(answers, None)
        if future is not None and not future.done():
            future.set_result(result)

    def _on_reply(self, record: Any) -> None:
        headers = {name: value for name, value in record.headers or () if value}
        raw = headers.get(HEADER_CORRELATION_ID) or headers.get(FASTSTREAM_CORRELATION_HEADER)
        if raw is None:
            return
        future = self._waiting_replies.pop(raw.decode("utf-8", "replace"), None)
        if future is not None and not future.done():
            future.set_result(RawEnvelope.model_validate_json(record.value or b""))

    def _on_balance(self, record: Any) -> None:
        envelope = RawEnvelope.model_validate_json(record.value or b"")
        account_id = envelope.payload.get("account_id")
        for queue in self._balance_followers.get(str(account_id), ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(envelope.payload)

    async def _publish(
        self, spec: TopicSpec, key: str, envelope: Envelope[Message], extra: dict[str, str]
    ) -> None:
        value = encode(envelope)
        headers = {**headers_for(envelope), **extra}
        headers.update(self._keyring.headers(value, envelope.actor))
        await self._producer.send_and_wait(
            self.topic(spec),
            value,
            key=key.encode(),
            headers=[(name, text.encode()) for name, text in headers.items()],
        )

    async def republish(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        """Send bytes as they are (a dead letter re-driven): their partition and offset."""
        sent = await self._producer.send_and_wait(topic, value, key=key, headers=headers)
        return sent.partition, sent.offset

    async def command(
        self,
        spec: TopicSpec,
        payload: Message,
        actor: Actor,
        idempotency_key: str,
        wait_s: float,
        correlation_id: str | None = None,
    ) -> Sent:
        """Publish a command; its result if it comes within ``wait_s``, else None (it is
        on its way: ``results`` will have it, here or on another instance)."""
        envelope = new_envelope(
            payload, actor=actor, idempotency_key=idempotency_key, correlation_id=correlation_id
        )
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting_results[envelope.message_id] = future  # before: it may be quick
        try:
            await self._publish(spec, payload.message_key() or idempotency_key, envelope, {})
            try:
                async with asyncio.timeout(wait_s):
                    return Sent(envelope.message_id, await future)
            except TimeoutError:
                return Sent(envelope.message_id, None)
        finally:
            self._waiting_results.pop(envelope.message_id, None)

    async def query(
        self, spec: TopicSpec, replies: TopicSpec, payload: Message, actor: Actor, wait_s: float
    ) -> RawEnvelope:
        """Ask a query; its reply, or TimeoutError after ``wait_s``."""
        correlation_id = f"gateway-{uuid4()}"
        envelope = new_envelope(
            payload, actor=actor, idempotency_key=correlation_id, correlation_id=correlation_id
        )
        future: asyncio.Future[RawEnvelope] = asyncio.get_running_loop().create_future()
        self._waiting_replies[correlation_id] = future
        extra = {
            REPLY_TO_HEADER: self.topic(replies),
            FASTSTREAM_CORRELATION_HEADER: correlation_id,
        }
        try:
            async with asyncio.timeout(wait_s):
                await self._publish(spec, payload.message_key() or correlation_id, envelope, extra)
                return await future
        finally:
            self._waiting_replies.pop(correlation_id, None)

    @contextlib.asynccontextmanager
    async def balances_of(self, account_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """The BalanceChanged payloads of one account from now on, while the block runs."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        followers = self._balance_followers.setdefault(account_id, set())
        followers.add(queue)
        try:
            yield queue
        finally:
            followers.discard(queue)
            if not followers:
                self._balance_followers.pop(account_id, None)
