"""Request/reply over Kafka, the asking side: publish a query, wait for its answer.

FastStream 0.7's ``broker.request`` does not work on Kafka (it raises unless a
test client is used), so this client does what a requester must: publish with
a ``reply_to`` header and a correlation id, read the reply topic itself, and
hand each reply to whoever waits for its correlation id.

The reply topic may be shared by many clients (``ledger.query-replies``): every
client reads all of its partitions (no consumer group, nothing committed) and
ignores replies it does not wait for. That is cheap for a topic that only holds
an hour of small replies, and it needs no topic per client.

Correlation ids: each request must carry a correlation id that no other
request of this client has while it is in flight; ``new_envelope`` gives a fresh
one unless told otherwise, so do not pass ``correlation_id=`` to it for a
query. A reply that comes after its request timed out is ignored.

Usage::

    replies = settings.topic(LEDGER_QUERY_REPLIES)
    async with RequestClient(servers, replies, keyring=settings.keyring()) as client:
        reply = await client.request(topic, account_id, new_envelope(query, actor=actor))
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError
from pydantic import ValidationError

from contracts.envelope import HEADER_CORRELATION_ID, Envelope, Message, RawEnvelope
from shared.runtime.claims import Keyring
from shared.runtime.codec import encode, headers_for
from shared.tools.consumers import cancel_and_wait, groupless_consumer

log = logging.getLogger(__name__)

REPLY_TO_HEADER = "reply_to"
FASTSTREAM_CORRELATION_HEADER = "correlation_id"
POLL_TIMEOUT_MS = 200
PUMP_ERROR_PAUSE_SECONDS = 1.0


class InvalidReply(Exception):
    """A reply that matched a request's correlation id but is not an envelope."""


def correlation_id_of(headers: Any) -> str | None:
    """Our ``correlation-id`` header, else FastStream's ``correlation_id``; None if neither."""
    found = {key: value for key, value in headers or () if value}
    raw = found.get(HEADER_CORRELATION_ID) or found.get(FASTSTREAM_CORRELATION_HEADER)
    return raw.decode("utf-8", "replace") if raw is not None else None


class RequestClient:
    """Sends requests and waits for their replies; one instance serves many callers at once.

    ``kafka_options`` (security_protocol, sasl_mechanism, ssl_context, ...) go to
    both the aiokafka producer and consumer, for clusters that need them.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        reply_topic: str,
        *,
        client_id: str = "storecredit-requests",
        keyring: Keyring | None = None,
        **kafka_options: Any,
    ) -> None:
        self.reply_topic = reply_topic
        self._keyring = keyring
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, client_id=client_id, acks="all", **kafka_options
        )
        self._consumer = groupless_consumer(
            "latest", bootstrap_servers=bootstrap_servers, client_id=client_id, **kafka_options
        )
        self._waiting: dict[str, asyncio.Future[RawEnvelope]] = {}
        self._pump_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RequestClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect, and read the reply topic from its current end on.

        ``position()`` is awaited for every partition after ``seek_to_end``, so the
        end is fixed before the first request: no reply can slip in between.
        """
        await self._producer.start()
        await self._consumer.start()
        try:
            partitions = await self._reply_partitions()
            self._consumer.assign(partitions)
            await self._consumer.seek_to_end(*partitions)
            for partition in partitions:
                await self._consumer.position(partition)
        except BaseException:
            await self._close_clients()
            raise
        self._pump_task = asyncio.create_task(self._pump(), name=f"replies:{self.reply_topic}")

    async def _reply_partitions(self) -> list[TopicPartition]:
        try:
            found = await self._producer.partitions_for(self.reply_topic)
        except UnknownTopicOrPartitionError:
            raise ValueError(f"reply topic {self.reply_topic} does not exist") from None
        return [TopicPartition(self.reply_topic, p) for p in sorted(found)]

    async def stop(self) -> None:
        """Stop reading; requests still waiting fail with CancelledError."""
        await cancel_and_wait(self._pump_task)
        self._pump_task = None
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        await self._close_clients()

    async def _close_clients(self) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    async def request(
        self,
        topic: str,
        key: str,
        envelope: Envelope[Message],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (the documented API; asyncio.timeout inside)
    ) -> RawEnvelope:
        """Publish ``envelope`` to ``topic`` and return the reply with its correlation id.

        Raises TimeoutError when no reply comes within ``timeout`` seconds (publishing
        included), and
        ValueError when a request with this correlation id is already waiting.
        """
        if self._pump_task is None:
            raise RuntimeError("RequestClient.start() was not called")
        correlation_id = envelope.correlation_id
        if correlation_id in self._waiting:
            raise ValueError(f"a request with correlation id {correlation_id} is in flight")
        future: asyncio.Future[RawEnvelope] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future  # before publishing: the reply may be quick
        try:
            async with asyncio.timeout(timeout):
                await self._publish(topic, key, envelope)
                return await future
        except TimeoutError:
            raise TimeoutError(
                f"no reply to {envelope.type} (correlation id {correlation_id}) on "
                f"{self.reply_topic} within {timeout}s; is the consumer of {topic} running?"
            ) from None
        finally:
            self._waiting.pop(correlation_id, None)

    async def _publish(self, topic: str, key: str, envelope: Envelope[Message]) -> None:
        headers = headers_for(envelope)
        headers[REPLY_TO_HEADER] = self.reply_topic
        headers[FASTSTREAM_CORRELATION_HEADER] = envelope.correlation_id
        value = encode(envelope)
        if self._keyring is not None:
            headers.update(self._keyring.headers(value, envelope.actor))
        await self._producer.send_and_wait(
            topic,
            value,
            key=key.encode(),
            headers=[(name, value.encode()) for name, value in headers.items()],
        )

    async def _pump(self) -> None:
        """Read replies forever and resolve the futures that wait for them."""
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            except Exception:
                log.exception("reading replies failed; trying again")
                await asyncio.sleep(PUMP_ERROR_PAUSE_SECONDS)
                continue
            for records in batches.values():
                for record in records:
                    self._deliver(record)

    def _deliver(self, record: Any) -> None:
        """Hand a reply to its waiter; replies nobody waits for are someone else's."""
        correlation_id = correlation_id_of(record.headers)
        future = self._waiting.get(correlation_id) if correlation_id is not None else None
        if future is None or future.done():
            return
        try:
            future.set_result(RawEnvelope.model_validate_json(record.value or b""))
        except ValidationError as error:
            future.set_exception(
                InvalidReply(
                    f"the reply at {record.topic}/{record.partition}@{record.offset} "
                    f"is not an envelope: {error.error_count()} error(s)"
                )
            )
