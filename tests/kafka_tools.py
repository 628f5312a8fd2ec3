"""Test helpers that talk to the real broker: send messages, watch topics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind, Envelope, Message, new_envelope
from shared.runtime.codec import encode, headers_for
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
