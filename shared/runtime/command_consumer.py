"""The command consumer: a service's commands through the one consumer pipeline
(:mod:`shared.runtime.pipeline`), handled by its :class:`CommandProcessor`.

What does not decode is parked on the dead-letter topic and, when its envelope was
readable, answered ``invalid_command``; one whose actor is not vouched for by a good
claim (:mod:`shared.runtime.claims`) is answered ``unauthenticated`` or ``forbidden``
and never handled; a command whose handler fails (a bug) is parked
and answered ``internal_error``. Every other command is answered by the processor, in
the transaction of its effect. Batches (``STORECREDIT_BATCH_SIZE`` above 1, the
default): each run of a poll's decodable commands in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from faststream.kafka import KafkaBroker

from contracts.results import RejectionCode
from contracts.topics import TopicSpec
from shared.runtime.claims import FORBIDDEN, UNAUTHENTICATED, ClaimError, Verifier
from shared.runtime.codec import NOT_SEALED, DecodeError, Incoming, decode
from shared.runtime.commands import CommandProcessor
from shared.runtime.dead_letters import Parking, Redactor
from shared.runtime.metrics import COMMANDS_CONSUMER
from shared.runtime.pipeline import Pipeline, Run, subscribe
from shared.runtime.settings import Settings

log = logging.getLogger(__name__)

MAX_RESULT_KEY_BYTES = 1024
UNPARKED = frozenset({UNAUTHENTICATED, FORBIDDEN, NOT_SEALED})
"""Refusals answered but never parked: an unvouched actor, a clear code."""


def _key_of(record: Any) -> str | None:
    """The command's key, for its result; None (then the correlation id is the result's
    key) if it has none, or one a result cannot carry: longer than any id could be, or
    with U+0000, which the outbox's text column refuses."""
    if record.key is None or len(record.key) > MAX_RESULT_KEY_BYTES:
        return None
    key: str = record.key.decode("utf-8", "replace")
    return None if "\x00" in key else key


class CommandStage:
    """The pipeline's steps for commands."""

    what = "command"

    def __init__(self, processor: CommandProcessor, park: Parking, verifier: Verifier) -> None:
        self.processor = processor
        self.park = park
        self.verifier = verifier
        self.known = processor.known_types

    def decode(self, record: Any) -> Incoming[Any] | DecodeError:
        try:
            incoming = decode(record.value, self.known)
        except DecodeError as error:
            return error
        try:
            signer = self.verifier.verify(
                record.value, record.headers or (), incoming.envelope.actor
            )
        except ClaimError as error:
            return DecodeError(error.code, error.reason, incoming.envelope)
        return replace(incoming, signer=signer)

    def skips(self, error: DecodeError) -> bool:
        return False  # every command gets an answer: none is another consumer's

    async def refuse(self, record: Any, error: DecodeError) -> None:
        if error.code in UNPARKED and error.envelope is not None:
            # Refused without a trace under the key it claims: a forgery must not take
            # a real client's idempotency key, and a clear code must be kept nowhere.
            # Answered, not parked: nothing to redrive.
            log.warning(
                "command refused: its actor is not vouched for, or it carries a clear code",
                extra={"type": error.envelope.type, "code": error.code, "reason": error.detail},
            )
            key = _key_of(record) or error.envelope.correlation_id
            await self.processor.reject_undeliverable(error.envelope, key, error.code, error.detail)
            return
        await self.park(record, error.code, error.detail)
        if error.envelope is not None:  # readable enough to be answered
            envelope_wrong = error.code == RejectionCode.INVALID_ENVELOPE
            await self.processor.reject_undeliverable(
                error.envelope,
                _key_of(record) or error.envelope.correlation_id,
                RejectionCode.INVALID_ENVELOPE if envelope_wrong else RejectionCode.INVALID_COMMAND,
                error.detail,
            )

    async def handle_one(self, record: Any, incoming: Incoming[Any]) -> None:
        await self.processor.process(incoming, _result_key(record, incoming))

    async def handle_run(self, run: Run) -> None:
        await self.processor.process_batch(
            [(incoming, _result_key(record, incoming)) for record, incoming in run]
        )

    async def failed(self, record: Any, incoming: Incoming[Any], error: Exception) -> None:
        await self.park(record, "handler_failed", repr(error))
        await self.processor.reject_undeliverable(
            incoming.envelope,
            _result_key(record, incoming),
            "internal_error",
            "The service failed to handle this command; it was parked for an operator.",
        )


def _result_key(record: Any, incoming: Incoming[Any]) -> str:
    return _key_of(record) or incoming.envelope.correlation_id


def register_command_consumer(
    broker: KafkaBroker,
    settings: Settings,
    processor: CommandProcessor,
    *,
    commands: TopicSpec,
    dead_letters: TopicSpec,
    redact: Redactor | None = None,
) -> None:
    group = f"{settings.topic_prefix}storecredit-{processor.service}"
    metrics = processor.metrics
    park = Parking(
        broker,
        settings.topic(dead_letters),
        group,
        lambda reason: metrics.dead_letter(COMMANDS_CONSUMER, reason),
        redact,
    )
    stage = CommandStage(processor, park, settings.verifier())
    pipeline = Pipeline(stage, metrics, COMMANDS_CONSUMER)
    subscribe(
        broker,
        settings,
        settings.topic(commands),
        group=group,
        title=f"{processor.service}:commands",
        consume=pipeline.consume,
    )
