"""The envelope every message travels in, and the base classes of payloads.

On the wire a message is one JSON object: the envelope fields plus
``payload``. ``type``, ``idempotency-key``, ``correlation-id`` and
``message-id`` are repeated as Kafka headers so ``kcat`` shows them without
decoding the value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

HEADER_TYPE = "type"
HEADER_IDEMPOTENCY_KEY = "idempotency-key"
HEADER_CORRELATION_ID = "correlation-id"
HEADER_MESSAGE_ID = "message-id"
HEADER_ACTOR_CLAIM = "actor-claim"
"""Every command and query: the signed claim that vouches for its actor."""
HEADER_REPLY_TO = "reply_to"
"""Every query: the topic to answer on."""

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"),
]
"""An id chosen by a client: letters, digits and ``_ . : @ -``, at most 128."""

IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]

SealedCode = Annotated[
    str,
    StringConstraints(min_length=64, max_length=700, pattern=r"^[A-Za-z0-9_+/=-]+$"),
    Field(
        description=(
            "A store-credit code sealed for the store-credit service alone: libsodium's "
            'crypto_box_seal of the UTF-8 JSON {"actor": "<kind>:<id>", "code": "<code>"} '
            "(the actor who sends it) with the store-credit service's public key, in "
            "base64url. See the README's Sealed codes."
        ),
        examples=["Yk3xZ0c2…(base64url of the sealed box)"],
    ),
]
"""A code as it travels: sealed (``shared.runtime.sealing``), never in clear."""

PublicKeyHex = Annotated[
    str,
    StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$"),
    Field(description="An X25519 public key (libsodium crypto_box), 64 hex characters."),
]

MAX_REFERENCES = 20
References = Annotated[dict[Identifier, Identifier], Field(max_length=MAX_REFERENCES)]
"""Ids elsewhere (``order_id``, ``line_item_id``, ...): at most 20, names and values ids."""


def _representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once in UTC") from None
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_representable)]
"""A time with a zone (ISO 8601), within year 1 to 9999 once in UTC."""


_M = TypeVar("_M", bound=BaseModel)


def _given(model: BaseModel, fields: tuple[str, ...]) -> int:
    return sum(getattr(model, field) is not None for field in fields)


def exactly_one_of(*fields: str) -> Any:
    """A model check: exactly one of ``fields`` is given (not None)."""

    def check(model: _M) -> _M:
        if _given(model, fields) != 1:
            raise ValueError(f"give exactly one of {', '.join(fields)}")
        return model

    return model_validator(mode="after")(check)


def at_least_one_of(*fields: str) -> Any:
    """A model check: at least one of ``fields`` is given (not None)."""

    def check(model: _M) -> _M:
        if _given(model, fields) == 0:
            raise ValueError(f"give at least one of {', '.join(fields)}")
        return model

    return model_validator(mode="after")(check)


class Part(BaseModel):
    """A part of a message (an actor, a line item, a total): closed to unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActorKind(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"
    SERVICE = "service"
    SYSTEM = "system"


class Actor(Part):
    """Who asked: a customer acts for themself, an admin or a service for others."""

    kind: ActorKind = Field(description="customer, admin, service or system")
    id: Identifier = Field(description="The customer id, admin user id or service name.")


class Message(BaseModel):
    """Base of every payload. Subclasses set ``message_type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields that carry a secret (sealed): never kept, and an inbox fingerprint counts
    only whether they are there, since each sealing of one code differs."""
    sealed_instead: ClassVar[dict[str, str]] = {}
    """Secrets that must never come in clear, and the sealed field to send instead: a
    payload with such a field is refused ``code_not_sealed`` before it is read."""
    key_field: ClassVar[str | None] = None
    """The payload field a command or query is keyed by on Kafka (its value is the
    record's key), or None when its service handles it correctly under any key
    (``key_hint`` then says the custom). Every service is correct under any key: the
    key only decides which messages are handled in order."""
    key_hint: ClassVar[str | None] = None

    def message_key(self) -> str | None:
        """The Kafka key this payload travels with, or None if it names none."""
        if self.key_field is None:
            return None
        value = getattr(self, self.key_field)
        return value if isinstance(value, str) and value else None


class Command(Message):
    """Something a client asks a service to do; it gets exactly one result."""


class Event(Message):
    """Something that happened; never answered."""


PayloadT = TypeVar("PayloadT")


class Envelope(BaseModel, Generic[PayloadT]):
    """Metadata shared by all messages, around a typed payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: UUID = Field(description="Unique per message; a redelivery keeps it.")
    idempotency_key: IdempotencyKey = Field(
        description=(
            "One key, one effect: a repeat with the same key and payload changes "
            "nothing; the same key with another payload is rejected."
        )
    )
    type: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="The message type, such as OpenLedgerAccount."
    )
    schema_version: int = Field(ge=1, description="Version of the payload schema.")
    correlation_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Ties together every message of one business flow."
    )
    causation_id: str | None = Field(
        default=None, max_length=200, description="The message id of the message that caused this."
    )
    occurred_at: Moment = Field(description="When the message was created (with zone).")
    actor: Actor
    payload: PayloadT


RawEnvelope = Envelope[dict[str, Any]]


def new_envelope(
    payload: Message,
    *,
    actor: Actor,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope[Message]:
    """Wrap a payload in a fresh envelope (new message id, now as time)."""
    message_id = uuid4()
    return Envelope[Message](
        message_id=message_id,
        idempotency_key=idempotency_key or str(message_id),
        type=payload.message_type,
        schema_version=payload.schema_version,
        correlation_id=correlation_id or str(message_id),
        causation_id=causation_id,
        occurred_at=datetime.now(UTC),
        actor=actor,
        payload=payload,
    )
