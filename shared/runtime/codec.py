"""Envelope to bytes and back, with the reason when bytes are not a message."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from contracts.envelope import (
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_MESSAGE_ID,
    HEADER_TYPE,
    Actor,
    ActorKind,
    Envelope,
    Message,
    RawEnvelope,
)
from shared.runtime.redaction import mask_text

P = TypeVar("P", bound=Message)


class DecodeError(Exception):
    """Bytes that are not a valid message; ``code`` says why, for the dead-letter topic."""

    def __init__(self, code: str, detail: str, envelope: RawEnvelope | None = None) -> None:
        detail = mask_text(detail)  # it quotes field names, which may be anything
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.envelope = envelope


@dataclass(frozen=True)
class Incoming(Generic[P]):
    """A decoded message: the envelope's metadata and the typed payload."""

    envelope: RawEnvelope
    payload: P
    signer: str | None = None
    """The signer whose actor claim vouched for it (its client principal), once verified."""


def encode(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json(serialize_as_any=True).encode()


def headers_for(envelope: Envelope[Any]) -> dict[str, str]:
    return {
        HEADER_TYPE: envelope.type,
        HEADER_IDEMPOTENCY_KEY: envelope.idempotency_key,
        HEADER_CORRELATION_ID: envelope.correlation_id,
        HEADER_MESSAGE_ID: str(envelope.message_id),
    }


def _summary(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(message)"
        parts.append(f"{_short(where)}: {_short(item['msg'])}")
    return "; ".join(parts)


def _short(text: str, limit: int = 120) -> str:
    """A field name or message cut short: a client may send a key of a megabyte, and the
    reason goes into a result that must fit in a Kafka record."""
    return text if len(text) <= limit else text[:limit] + "…"


NOT_SEALED = "code_not_sealed"
"""A store-credit code came in clear: refused, neither parked nor kept anywhere."""
HOW_TO_SEAL = (
    "seal it for the store-credit service (libsodium crypto_box_seal of the UTF-8 JSON "
    '{"actor": "<kind>:<id>", "code": "<code>"} with its public key, base64url; the '
    "README's Sealed codes) and send it as"
)

UNSTORABLE = "U+0000 in text, or NaN or Infinity, which no database column can hold"


def unstorable(value: Any, where: str = "") -> str | None:
    """Where ``value`` (parsed JSON) holds what PostgreSQL cannot store, or None.

    Text and JSONB columns refuse U+0000 and JSONB refuses NaN and Infinity, which
    JSON parsers here accept. A message carrying them would fail in its handler, or
    worse, while its result is written; it is refused as invalid instead.
    """
    if isinstance(value, str):
        return _short(where or "(text)") if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else _short(where or "(number)")
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if "\x00" in key:
                return _short(path.replace("\x00", "\\x00"))
            found = unstorable(item, path)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def salvaged(value: bytes) -> RawEnvelope | None:
    """What an invalid envelope says of itself, enough to answer it ``invalid_envelope``:
    its message id, idempotency key, type and correlation id where they are usable, the
    rest filled in (a message id derived from the bytes, so a redelivery is answered
    alike). None when it names none of the four: there is nothing to answer it by."""
    try:
        body = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None

    def text(name: str, limit: int) -> str | None:
        found = body.get(name)
        ok = isinstance(found, str) and 0 < len(found) <= limit and "\x00" not in found
        return found if ok else None

    try:
        message_id = uuid.UUID(str(body.get("message_id")))
    except ValueError:
        message_id = None
    key, kind, correlation = (
        text("idempotency_key", 200),
        text("type", 100),
        text("correlation_id", 200),
    )
    if message_id is None and key is None and correlation is None:
        return None
    message_id = message_id or uuid.uuid5(_SALVAGED, hashlib.sha256(value).hexdigest())
    try:
        actor = Actor.model_validate(body.get("actor"))
    except ValidationError:
        actor = Actor(kind=ActorKind.SYSTEM, id="unknown")
    return RawEnvelope.model_construct(
        message_id=message_id,
        idempotency_key=key or str(message_id),
        type=kind or "unknown",
        schema_version=1,
        correlation_id=correlation or str(message_id),
        causation_id=None,
        occurred_at=datetime.now(UTC),
        actor=actor,
        payload={},
    )


_SALVAGED = uuid.UUID("0d6c3f1e-5b7a-4c2e-9a61-4f0b1d2e3c4a")


def decode(value: bytes | None, known: Mapping[str, type[Message]]) -> Incoming[Message]:
    """Decode bytes into an envelope and its payload, or raise DecodeError."""
    if not value:
        raise DecodeError("undecodable", "empty message value")
    try:
        raw = RawEnvelope.model_validate_json(value)
    except ValidationError as error:
        invalid_json = any(e["type"] == "json_invalid" for e in error.errors())
        if invalid_json:
            raise DecodeError("undecodable", "value is not UTF-8 JSON") from error
        raise DecodeError("invalid_envelope", _summary(error), salvaged(value)) from error
    envelope_text = (raw.idempotency_key, raw.type, raw.correlation_id, raw.causation_id)
    if any(unstorable(text) is not None for text in envelope_text):
        raise DecodeError("invalid_envelope", f"an envelope field: {UNSTORABLE}", salvaged(value))
    model = known.get(raw.type)
    if model is None:
        raise DecodeError("unknown_type", f"no handler for message type {raw.type!r}", raw)
    if raw.schema_version != model.schema_version:
        raise DecodeError(
            "unsupported_schema_version",
            f"{raw.type} version {raw.schema_version} is not {model.schema_version}",
            raw,
        )
    clear = sorted(set(model.sealed_instead) & set(raw.payload))
    if clear:
        sealed = model.sealed_instead[clear[0]]
        raise DecodeError(
            NOT_SEALED, f"{clear[0]} is never sent in clear: {HOW_TO_SEAL} {sealed}.", raw
        )
    where = unstorable(raw.payload)
    if where is not None:
        raise DecodeError("invalid_payload", f"payload.{where}: {UNSTORABLE}", raw)
    try:
        payload = model.model_validate(raw.payload)
    except ValidationError as error:
        raise DecodeError("invalid_payload", _summary(error), raw) from error
    return Incoming(envelope=raw, payload=payload)


def payload_fingerprint(incoming: Incoming[Message]) -> str:
    """What makes two commands with one idempotency key "the same": type, actor, payload.

    The validated payload is used, so omitting a field that has a default and
    sending the default are the same command. A secret field (a sealed code)
    counts only by being there: each sealing of one code differs, so a retry
    that seals it again is still the same command.
    """
    payload = incoming.payload.model_dump(mode="json")
    for name in type(incoming.payload).secret_fields:
        if isinstance(payload.get(name), str):
            payload[name] = "(sealed)"
    canonical = json.dumps(
        {
            "type": incoming.envelope.type,
            "actor": incoming.envelope.actor.model_dump(mode="json"),
            "payload": payload,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
