"""Operation ids: what a 202 points to, signed so that only its caller may poll it.

A command whose result takes longer than the bounded wait is not lost: it is on
its topic, and its result will come. The 202 names ``/v1/operations/<id>``, where
the id is the command's message id, when it was sent, and an HMAC-SHA256 (key:
``STORECREDIT_GATEWAY_OPERATION_KEY``, the same on every instance) over both and
the caller's actor. Any instance can check it without a database; another caller
cannot poll it, and an id cannot be made up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from uuid import UUID

from contracts.envelope import Actor

OPERATION_LIFE_S = 3 * 86_400
"""As long as the results topics keep a result."""


@dataclass(frozen=True)
class Operation:
    message_id: UUID
    sent_at: int


def _mac(key: bytes, message_id: UUID, sent_at: int, actor: Actor) -> str:
    text = f"{message_id}|{sent_at}|{actor.kind.value}:{actor.id}".encode()
    digest = hmac.new(key, text, hashlib.sha256).digest()[:20]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def operation_id(key: bytes, message_id: UUID, actor: Actor, now: float | None = None) -> str:
    sent_at = int(time.time() if now is None else now)
    return f"{message_id}.{sent_at}.{_mac(key, message_id, sent_at, actor)}"


def read_operation(key: bytes, presented: str, actor: Actor) -> Operation | None:
    """The operation ``presented`` names, if it is this actor's and not too old."""
    parts = presented.split(".")
    if len(parts) != 3 or len(presented) > 120:
        return None
    try:
        message_id, sent_at = UUID(parts[0]), int(parts[1])
    except ValueError:
        return None
    if not hmac.compare_digest(parts[2], _mac(key, message_id, sent_at, actor)):
        return None
    if time.time() - sent_at > OPERATION_LIFE_S:
        return None
    return Operation(message_id, sent_at)
