"""Command results: every command gets exactly one, accepted or rejected."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.envelope import Event


class ResultStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


SEALED_PRODUCED = frozenset({"sealed_code", "sealed_token"})
"""What a result may carry sealed to its requester (a new store credit's code and token)."""


class CommandResult(Event):
    """The answer to one command, published on the service's results topic.

    Keyed like the command, with the command's correlation id, and with
    ``causation_id`` set to the message id of the command it answers: match
    results to commands on that. A retry (a new message with the same
    idempotency key and payload) is answered with the first result again:
    its ``command_id`` is the first message's id, its envelope's
    ``causation_id`` the retry's.
    """

    message_type: ClassVar[str] = "CommandResult"

    command_id: UUID = Field(description="The message id of the command answered.")
    command_type: str = Field(description="The type of the command answered.")
    idempotency_key: str = Field(description="The command's idempotency key.")
    status: ResultStatus
    code: str | None = Field(
        default=None,
        description="Machine-readable rejection code, such as insufficient_funds.",
        examples=["insufficient_funds"],
    )
    reason: str | None = Field(
        default=None, description="A sentence for people explaining a rejection."
    )
    produced: dict[str, Any] = Field(
        default_factory=dict,
        description="What an accepted command produced: ids, balances.",
    )
    retryable: bool = Field(
        default=False,
        description=(
            "A rejection that may not hold for long (data from another service not "
            "arrived yet, a step still in flight): retry with the same idempotency key, "
            "it is handled afresh and can succeed. False: the same key gets the same "
            "answer for good."
        ),
    )


class RejectionCode(StrEnum):
    """Codes shared by every service; services add their own."""

    FORBIDDEN = "forbidden"
    """Not allowed for this actor; also an actor claim by a signer that may not speak
    for that actor."""
    UNAUTHENTICATED = "unauthenticated"
    """No good actor claim vouches for the envelope's actor (README: "Security")."""
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    INVALID_COMMAND = "invalid_command"
    """The payload does not validate (the reason names the fields), or the type is unknown."""
    INVALID_ENVELOPE = "invalid_envelope"
    """The envelope itself is wrong (a time without a zone, a bad actor or id): answered by
    whatever message id, idempotency key and correlation id it carries, and parked."""
    CODE_NOT_SEALED = "code_not_sealed"
    """A store-credit code came in clear: seal it (README: "Sealed codes"). Never parked."""
    MESSAGE_TOO_LARGE = "message_too_large"
    """What the command would publish (an event repeating its payload) is more than
    Kafka takes in one record."""
