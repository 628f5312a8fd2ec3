"""Test helpers that talk to the real broker: send messages, watch topics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind, Envelope, Message, RawEnvelope, new_envelope
from contracts.topics import TopicSpec
from shared.runtime.broker import kafka_client_options
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from shared.tools.topic_watch import Record, TopicWatcher, partitions_of, read_all

__all__ = ["Record", "TopicWatcher", "partitions_of", "read_all"]

ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-1")


async def send(
    producer: AIOKafkaProducer, topic: str, key: str | None, value: bytes, headers: dict[str, str]
) -> None:
    await producer.send_and_wait(
        topic,
        value,
        key=key.encode() if key is not None else None,
        headers=[(k, v.encode()) for k, v in headers.items()],
    )


async def send_envelope(
    producer: AIOKafkaProducer, topic: str, key: str, envelope: Envelope[Message]
) -> None:
    await send(producer, topic, key, encode(envelope), headers_for(envelope))


def command(payload: Message, *, actor: Actor = ADMIN, key: str | None = None) -> Envelope[Message]:
    return new_envelope(payload, actor=actor, idempotency_key=key)


def is_result_of(envelope: Envelope[Message]) -> Callable[[Record], bool]:
    def check(record: Record) -> bool:
        if record.headers.get("type") != "CommandResult":
            return False
        # A result names the message it answers as its causation id; a replayed
        # first result keeps the original command_id in its payload.
        return bool(record.json()["causation_id"] == str(envelope.message_id))

    return check


def has_type(message_type: str, **payload: Any) -> Callable[[Record], bool]:
    def check(record: Record) -> bool:
        if record.headers.get("type") != message_type:
            return False
        body = record.json()["payload"]
        return all(body.get(k) == v for k, v in payload.items())

    return check


class CommandClient:
    """Sends commands to one service's command topic and waits for their results."""

    commands: TopicSpec

    def __init__(self, producer: AIOKafkaProducer, settings: Settings, watcher: TopicWatcher):
        self.producer = producer
        self.settings = settings
        self.watcher = watcher

    async def send(self, key: str, envelope: Envelope[Message]) -> None:
        await send_envelope(self.producer, self.settings.topic(self.commands), key, envelope)

    async def result_of(self, envelope: Envelope[Message]) -> dict[str, Any]:
        """The payload of the result of ``envelope``, sent before."""
        [result] = await self.watcher.wait_for(is_result_of(envelope))
        payload: dict[str, Any] = result.json()["payload"]
        return payload

    async def ask(self, key: str, envelope: Envelope[Message]) -> dict[str, Any]:
        """Send ``envelope`` on ``key`` and return its result's payload."""
        await self.send(key, envelope)
        return await self.result_of(envelope)


class OrderCommandClient(CommandClient):
    """A client of a service whose commands are keyed by their order id, and whose
    ``event_type`` events each carry the whole state of one order."""

    default_actor: Actor
    event_type: str

    async def do(
        self, payload: Message, actor: Actor | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """Send one command (as ``default_actor`` unless told) and return its result."""
        order_id: str = payload.order_id  # type: ignore[attr-defined]
        as_actor = self.default_actor if actor is None else actor
        return await self.ask(order_id, command(payload, actor=as_actor, key=key))

    async def when(
        self, order_id: str, condition: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The first ``event_type`` event of ``order_id`` that meets ``condition``."""

        def check(record: Record) -> bool:
            body = record.json()
            return (
                body["type"] == self.event_type
                and body["payload"]["order_id"] == order_id
                and condition(body["payload"])
            )

        [event] = (await self.watcher.wait_for(check))[:1]
        payload: dict[str, Any] = event.json()["payload"]
        return payload


async def ask(
    settings: Settings,
    queries: TopicSpec,
    replies: TopicSpec,
    key: str,
    question: Message,
    actor: Actor,
) -> RawEnvelope:
    """One query on ``queries``, signed for ``actor``; the service's reply."""
    async with RequestClient(
        settings.kafka_bootstrap_servers,
        settings.topic(replies),
        keyring=settings.keyring(),
        **kafka_client_options(settings),
    ) as client:
        envelope = new_envelope(question, actor=actor)
        return await client.request(settings.topic(queries), key, envelope)
