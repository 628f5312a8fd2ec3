"""One Kafka record as an operator reads it: the envelope's fields decoded, or why not.

Decoding never fails: bytes that are not a message become a view that says so,
with the reason the services would give (shared/runtime/codec.py), so a tail or a
dead-letter listing goes on past them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contracts import dead_letters as dlt
from contracts.envelope import HEADER_TYPE, Message, RawEnvelope
from contracts.registry import MESSAGES
from shared.runtime.codec import DecodeError, decode

KNOWN_TYPES: dict[str, type[Message]] = {spec.model.message_type: spec.model for spec in MESSAGES}
DEAD_LETTER_SUFFIX = ".dead-letters"
DLT_HEADER_PREFIX = "dlt-"
VALUE_PREVIEW_BYTES = 300


@dataclass(frozen=True)
class RecordView:
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    key: str | None
    key_bytes: bytes | None
    headers: dict[str, str]
    value: bytes
    envelope: RawEnvelope | None
    problem: str | None
    """Why the value is not a valid message (``invalid_payload: amount: ...``), or None."""

    @property
    def message_type(self) -> str | None:
        """The envelope's type; for bytes that are no envelope, the ``type`` header's."""
        return self.envelope.type if self.envelope is not None else self.headers.get(HEADER_TYPE)

    @property
    def correlation_id(self) -> str | None:
        return self.envelope.correlation_id if self.envelope is not None else None

    @property
    def on_dead_letter_topic(self) -> bool:
        return self.topic.endswith(DEAD_LETTER_SUFFIX)

    @property
    def redacted(self) -> bool:
        return self.headers.get(dlt.REDACTED) == "true"

    def dead_letter_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.startswith(DLT_HEADER_PREFIX)}

    def value_preview(self) -> str:
        """The first bytes of the value, readable whatever they are."""
        preview = self.value[:VALUE_PREVIEW_BYTES].decode("utf-8", "backslashreplace")
        return preview + ("…" if len(self.value) > VALUE_PREVIEW_BYTES else "")


def view_of(record: Any) -> RecordView:
    """Decode an aiokafka ConsumerRecord for showing."""
    value: bytes = record.value or b""
    envelope: RawEnvelope | None
    problem: str | None = None
    try:
        envelope = decode(value, KNOWN_TYPES).envelope
    except DecodeError as error:
        envelope = error.envelope
        problem = f"{error.code}: {error.detail}"
    return RecordView(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=_time(record.timestamp),
        key=record.key.decode("utf-8", "replace") if record.key is not None else None,
        key_bytes=record.key,
        headers={name: raw.decode("utf-8", "replace") for name, raw in record.headers or ()},
        value=value,
        envelope=envelope,
        problem=problem,
    )


def _time(milliseconds: int | None) -> datetime | None:
    if milliseconds is None or milliseconds < 0:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


def as_json(view: RecordView) -> dict[str, Any]:
    """The record as one JSON object (``tail --json`` prints one per line)."""
    envelope = view.envelope
    data: dict[str, Any] = {
        "topic": view.topic,
        "partition": view.partition,
        "offset": view.offset,
        "timestamp": iso(view.timestamp),
        "key": view.key,
        "type": view.message_type,
        "message_id": str(envelope.message_id) if envelope else None,
        "idempotency_key": envelope.idempotency_key if envelope else None,
        "actor": f"{envelope.actor.kind}:{envelope.actor.id}" if envelope else None,
        "correlation_id": view.correlation_id,
        "causation_id": envelope.causation_id if envelope else None,
        "payload": envelope.payload if envelope else None,
        "problem": view.problem,
    }
    if envelope is None:
        data["value"] = view.value_preview()
    if view.on_dead_letter_topic:
        data["dead_letter"] = view.dead_letter_headers()
    return data


def as_block(view: RecordView) -> str:
    """The record as a few aligned lines for people (``tail`` without ``--json``)."""
    envelope = view.envelope
    lines = [f"{iso(view.timestamp) or '-'}  {view.topic} [{view.partition}] @{view.offset}"]
    fields: list[tuple[str, str | None]] = []
    if view.problem is not None:
        label = "UNDECODABLE" if envelope is None else "INVALID"
        fields.append((label, view.problem))
    if envelope is None:
        fields += [("type", _header_only(view.message_type)), ("key", view.key)]
        fields.append(("value", view.value_preview()))
    else:
        fields += [
            ("type", envelope.type),
            ("key", view.key),
            ("idempotency", envelope.idempotency_key),
            ("actor", f"{envelope.actor.kind}:{envelope.actor.id}"),
            ("correlation", envelope.correlation_id),
            ("message id", str(envelope.message_id)),
            ("payload", compact(envelope.payload)),
        ]
    if view.on_dead_letter_topic:
        fields += list(view.dead_letter_headers().items())
    width = max(len(label) for label, _ in fields)
    lines += [f"  {label.ljust(width)}  {'-' if text is None else text}" for label, text in fields]
    return "\n".join(lines)


def _header_only(message_type: str | None) -> str | None:
    return f"{message_type} (type header only)" if message_type is not None else None
