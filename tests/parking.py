"""Dead letters parked by a test as a service parks them (contracts/dead_letters.py), and
signed messages to park: the session's services must park nothing themselves (the seed
stories check their dead-letter counts)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from contracts import dead_letters as dlt
from contracts.envelope import Actor, ActorKind, Message, new_envelope
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import Settings

FIXER = Actor(kind=ActorKind.ADMIN, id="back-office-1")


def signed_message(
    settings: Settings, message: Message, actor: Actor = FIXER
) -> tuple[bytes, dict[str, str]]:
    """``message``'s bytes and headers as a client sends it, its actor claim signed."""
    envelope = new_envelope(message, actor=actor)
    value = encode(envelope)
    return value, {**headers_for(envelope), **settings.keyring().headers(value, envelope.actor)}


async def park(
    producer: AIOKafkaProducer,
    dead_letters: str,
    value: bytes,
    key: str,
    original_topic: str,
    headers: dict[str, str] | None = None,
) -> int:
    """A dead letter on ``dead_letters`` as a service parks it; its offset."""
    parked = {
        dlt.REASON: "handler_failed",
        dlt.DETAIL: "the database was away",
        dlt.ORIGINAL_TOPIC: original_topic,
        dlt.ORIGINAL_PARTITION: "0",
        dlt.ORIGINAL_OFFSET: "3",
        **(headers or {}),
    }
    sent = await producer.send_and_wait(
        dead_letters,
        value,
        key=key.encode(),
        headers=[(name, text.encode()) for name, text in parked.items()],
    )
    return int(sent.offset)
