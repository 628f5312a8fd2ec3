"""A test producer that signs what it sends, as a well-behaved client does.

The tests play every client at once (storefront, back office, the shop, each
service), so their settings hold every signer's key; this producer puts a
claim (``shared.runtime.claims``) on every record whose value is an envelope
with an actor, signed by a signer that may speak for that actor. A record
that already carries an ``actor-claim`` header (even an empty one: a test
sending an unsigned command on purpose) is sent as it is.
"""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from contracts.envelope import Actor
from shared.runtime.claims import CLAIM_HEADER, Keyring


def actor_of(value: bytes | None) -> Actor | None:
    """The envelope's actor, if ``value`` is an envelope that names a valid one."""
    try:
        body = json.loads(value or b"")
        return Actor.model_validate(body["actor"])
    except (ValueError, TypeError, KeyError, ValidationError, RecursionError):
        return None


class SigningProducer(AIOKafkaProducer):
    def __init__(self, keyring: Keyring, **options: Any) -> None:
        super().__init__(**options)
        self.keyring = keyring

    async def send(  # type: ignore[override]
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> Any:
        sent = list(headers or [])
        actor = actor_of(value) if isinstance(value, bytes) else None
        if actor is not None and not any(name == CLAIM_HEADER for name, _ in sent):
            sent.append((CLAIM_HEADER, self.keyring.claim(value, actor).encode()))
        return await super().send(
            topic, value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=sent
        )
