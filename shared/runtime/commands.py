"""Command handling: inbox, handler, result and outbox in one transaction.

Every command gets exactly one result. A handler returns ``Accepted`` (what
it produced and the messages to publish) or raises ``Rejected`` (a code and a
sentence); its database changes are rolled back on rejection, while the inbox
row and the result are kept, so a retry with the same key gets the same
answer without being evaluated again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorKind, Command, Envelope, Message, RawEnvelope
from contracts.results import CommandResult, RejectionCode, ResultStatus
from contracts.topics import TopicSpec
from shared.runtime import inbox, outbox
from shared.runtime.closing_writes import write_results_and_rows
from shared.runtime.codec import Incoming, payload_fingerprint
from shared.runtime.contract_checks import check_code, check_produced
from shared.runtime.db import SessionFactory
from shared.runtime.faults import crash_point
from shared.runtime.logging import correlation_id_var
from shared.runtime.metrics import UNKNOWN_TYPE, CommandOutcome, ServiceMetrics
from shared.runtime.outbox import Outgoing
from shared.runtime.redaction import mask_text
from shared.runtime.rules import Rejected
from shared.runtime.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    produced: dict[str, Any] = field(default_factory=dict)
    messages: list[Outgoing] = field(default_factory=list)
    remembered: dict[str, Any] | None = None
    """What the inbox keeps, and a retry gets, instead of ``produced`` when that holds a
    secret to be given once (a new store-credit code)."""


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may need besides the session and the message: its service's
    settings, and in a batch the service's state for it (:class:`BatchState`)."""

    service: str
    settings: Settings
    batch: BatchState | None = None


Handler = Callable[[AsyncSession, Incoming[Any], HandlerContext], Awaitable[Accepted]]


@dataclass(frozen=True)
class CommandRoute:
    model: type[Command]
    handle: Handler
    deferrable: bool = False
    """Its handler writes only through the batch's :class:`BatchState` when there is
    one (no SQL write of its own), so in a batch it needs no savepoint: undoing the
    state undoes it."""


class BatchState(Protocol):
    """What a service keeps for one batch transaction: rows locked and read once for
    the whole batch, and writes deferred to one statement per table at its end.

    The processor sets ``deferring`` before each handler (the route's ``deferrable``),
    takes a ``mark`` before it and ``undo``-es to it if it is rejected, and ``flush``-es
    before a handler that is not deferrable (its SQL must see every earlier write) and
    at the end of the batch.
    """

    deferring: bool

    def mark(self) -> object: ...

    def undo(self, mark: object) -> None: ...

    async def flush(self, session: AsyncSession) -> None: ...


BatchPreparer = Callable[[AsyncSession, list[Incoming[Any]]], Awaitable[BatchState]]
"""Makes a batch's state (locking, in one statement, what its commands will touch)."""


def derived_envelope(
    payload: Message, cause: RawEnvelope, index: int | str, service: str
) -> Envelope[Message]:
    """The envelope of the ``index``-th message caused by ``cause``.

    Its message id is derived from the cause, so handling the cause twice could
    never produce two different messages (the outbox keeps one per id). The
    cause is its message id *and* its idempotency key: a client that wrongly
    reuses a message id for another command must not have that command's
    result and effects taken for the first one's and dropped by the outbox.
    """
    origin = f"{cause.message_id}:{cause.idempotency_key}"
    return outbox.envelope_for(
        payload,
        message_id=outbox.stable_message_id(origin, index),
        actor=Actor(kind=ActorKind.SERVICE, id=service),
        correlation_id=cause.correlation_id,
        causation_id=str(cause.message_id),
    )


async def add_caused(
    session: AsyncSession,
    settings: Settings,
    service: str,
    cause: RawEnvelope,
    messages: list[Outgoing],
    sink: outbox.Sink = outbox.DIRECT,
) -> None:
    """Write what handling ``cause`` produced to the outbox (slot 0 is its result's)."""
    for index, message in enumerate(messages, start=1):
        envelope = derived_envelope(message.payload, cause, index, service)
        if message.message_id is not None:
            envelope = envelope.model_copy(
                update={
                    "message_id": message.message_id,
                    "idempotency_key": str(message.message_id),
                }
            )
        await sink.add(
            session,
            settings.topic(message.topic),
            message.key,
            envelope,
            settings.service_signer(service),
        )
        await outbox.add_companion(sink, session, settings, envelope)


def result_for(
    command: RawEnvelope,
    *,
    code: str | None = None,
    reason: str | None = None,
    produced: dict[str, Any] | None = None,
    retryable: bool = False,
) -> CommandResult:
    return CommandResult(
        command_id=command.message_id,
        command_type=command.type,
        idempotency_key=command.idempotency_key,
        status=ResultStatus.ACCEPTED if code is None else ResultStatus.REJECTED,
        code=code,
        reason=None if reason is None else mask_text(reason),  # a reason may quote input
        produced=produced or {},
        retryable=retryable,
    )


class RejectAndKeep(Exception):
    """Refuse a command, but keep some work of its handler (a count of wrong codes).

    The handler's changes are rolled back as for any rejection; then ``keep``
    runs in the command's transaction, so what it writes commits with the
    rejected result.
    """

    def __init__(
        self, rejection: Rejected, keep: Callable[[AsyncSession], Awaitable[None]]
    ) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection
        self.keep = keep


class _RefusedWithoutSavepoint(Exception):
    """A handler run without a savepoint refused its command: the transaction is given
    up, and the command handled again with one (its changes go, its inbox row stays)."""


def _retry_of_retryable(claim: inbox.ClaimOutcome, envelope: RawEnvelope) -> bool:
    """A new message with a key whose first answer was a retryable rejection."""
    return (
        isinstance(claim, inbox.Duplicate)
        and claim.first_message_id != str(envelope.message_id)
        and claim.first_result is not None
        and bool(claim.first_result.get("retryable"))
    )


class CommandProcessor:
    def __init__(
        self,
        *,
        service: str,
        settings: Settings,
        sessions: SessionFactory,
        routes: Mapping[str, CommandRoute],
        results_topic: TopicSpec,
        after_commit: Callable[[], None],
        metrics: ServiceMetrics | None = None,
        prepare_batch: BatchPreparer | None = None,
        hand_over: outbox.HandOver | None = None,
    ) -> None:
        self.service = service
        self._prepare_batch = prepare_batch
        self.consumer = f"{service}.commands"
        self.metrics = metrics or ServiceMetrics(service, process_metrics=False)
        self.context = HandlerContext(service, settings)
        self._settings = settings
        self._sessions = sessions
        self._routes = routes
        self._results_topic = results_topic
        self._after_commit = after_commit
        self._notice = outbox.AfterCommit(after_commit, hand_over)

    @property
    def known_types(self) -> dict[str, type[Message]]:
        return {name: route.model for name, route in self._routes.items()}

    async def process(self, incoming: Incoming[Any], key: str) -> None:
        """One command in a transaction of its own.

        Its handler runs first without a savepoint (two round trips fewer): most commands
        are accepted, and a refused one is handled again, from the start, in a new
        transaction with the savepoint that undoes the handler's changes."""
        try:
            outcome, code = await self._process_alone(incoming, key, optimistic=True)
        except _RefusedWithoutSavepoint:
            outcome, code = await self._process_alone(incoming, key, optimistic=False)
        self.metrics.command(incoming.envelope.type, outcome, code)  # counted once committed
        crash_point("after_commit")
        self._after_commit()

    async def _process_alone(
        self, incoming: Incoming[Any], key: str, *, optimistic: bool
    ) -> tuple[CommandOutcome, str | None]:
        async with self._sessions() as session, session.begin():
            return await self._process_in(
                session,
                incoming,
                key,
                inbox.Immediate(self.consumer),
                outbox.DIRECT,
                optimistic=optimistic,
            )

    async def process_batch(self, commands: list[tuple[Incoming[Any], str]]) -> None:
        """Commands (with their result keys), in order, in one transaction.

        Each is handled exactly as :meth:`process` would (a savepoint undoes a rejected
        one's changes), but the inbox keys are claimed in one statement, the results
        recorded in one, and every outbox row written in one, and there is one commit.
        If anything raises, nothing of the batch is kept. A batch of one command is tried
        without its savepoint first, as :meth:`process` does (a batch of more is not: a
        refusal would redo all of it).
        """
        optimistic = len(commands) == 1
        token = self._notice.token()
        try:
            counted, written = await self._batch_transaction(commands, optimistic=optimistic)
        except _RefusedWithoutSavepoint:
            counted, written = await self._batch_transaction(commands, optimistic=False)
        for command_type, outcome, code in counted:
            self.metrics.command(command_type, outcome, code)
        crash_point("after_commit")
        self._notice.committed(written, token)

    async def _batch_transaction(
        self, commands: list[tuple[Incoming[Any], str]], *, optimistic: bool
    ) -> tuple[list[tuple[str, CommandOutcome, str | None]], list[outbox.OutboxRow]]:
        """The batch's transaction; each command's type, outcome and code, and the outbox
        rows it wrote (every one: its messages all go through ``rows``)."""
        claims = inbox.BatchInbox(self.consumer)
        rows = outbox.BatchRows()
        counted: list[tuple[str, CommandOutcome, str | None]] = []
        async with self._sessions() as session, session.begin():
            await claims.claim_all(
                session,
                [(incoming.envelope, payload_fingerprint(incoming)) for incoming, _ in commands],
            )
            state = None
            if self._prepare_batch is not None:
                state = await self._prepare_batch(session, [incoming for incoming, _ in commands])
            for incoming, key in commands:
                token = correlation_id_var.set(incoming.envelope.correlation_id)
                try:
                    outcome, code = await self._process_in(
                        session, incoming, key, claims, rows, state, optimistic=optimistic
                    )
                finally:
                    correlation_id_var.reset(token)
                counted.append((incoming.envelope.type, outcome, code))
            if state is not None:
                await state.flush(session)
            await write_results_and_rows(session, claims, rows)
        return counted, rows.written

    async def _process_in(
        self,
        session: AsyncSession,
        incoming: Incoming[Any],
        key: str,
        claims: inbox.Claims,
        sink: outbox.Sink,
        state: BatchState | None = None,
        *,
        optimistic: bool = False,
    ) -> tuple[CommandOutcome, str | None]:
        """Claim, handle and answer one command in the caller's transaction; the outcome
        and the code of a rejection written now (not of a replayed one). ``optimistic``:
        its handler runs without a savepoint, and a refusal raises
        ``_RefusedWithoutSavepoint`` for the caller to start again with one."""
        envelope = incoming.envelope
        fingerprint = payload_fingerprint(incoming)
        claim = await claims.claim(session, envelope, fingerprint)
        if _retry_of_retryable(claim, envelope):
            assert isinstance(claim, inbox.Duplicate)
            claim = await claims.reclaim(session, envelope, fingerprint, claim.first_message_id)
        if isinstance(claim, inbox.Duplicate):
            return await self._answer_duplicate(session, envelope, key, claim, sink), None
        if isinstance(claim, inbox.KeyReused):
            code = RejectionCode.IDEMPOTENCY_KEY_REUSED
            result = result_for(
                envelope,
                code=code,
                reason=(
                    f"The idempotency key was already used by message "
                    f"{claim.first_message_id} ({claim.first_type}) with another payload."
                ),
            )
            await self._write(session, envelope, key, result, [], sink)
            return CommandOutcome.KEY_REUSED, code
        result, remembered, messages = await self._handle(session, incoming, state, optimistic)
        await claims.record_result(session, envelope, remembered.model_dump(mode="json"))
        await self._write(session, envelope, key, result, messages, sink)
        outcome = CommandOutcome.ACCEPTED if result.code is None else CommandOutcome.REJECTED
        return outcome, result.code

    async def _answer_duplicate(
        self,
        session: AsyncSession,
        envelope: RawEnvelope,
        key: str,
        claim: inbox.Duplicate,
        sink: outbox.Sink,
    ) -> CommandOutcome:
        """A redelivery (same message id) is ignored; a client's retry (a new
        message with the same key and payload) gets the first result again."""
        if claim.first_message_id == str(envelope.message_id) or claim.first_result is None:
            log.info("redelivered command ignored", extra={"type": envelope.type})
            return CommandOutcome.REDELIVERY_IGNORED
        log.info("command replayed, first result sent again", extra={"type": envelope.type})
        first = CommandResult.model_validate(claim.first_result)
        await self._write(session, envelope, key, first, [], sink)
        return CommandOutcome.REPLAYED

    async def _handle(
        self,
        session: AsyncSession,
        incoming: Incoming[Any],
        state: BatchState | None,
        optimistic: bool,
    ) -> tuple[CommandResult, CommandResult, list[Outgoing]]:
        """The result to publish, the result to remember, and the messages to send."""
        envelope = incoming.envelope
        route = self._routes[envelope.type]
        try:
            if state is None:
                accepted = await self._run_in_savepoint(
                    session, incoming, route, self.context, optimistic
                )
            else:
                accepted = await self._run_in_batch(session, incoming, route, state, optimistic)
        except Rejected as rejection:
            log.info("command rejected", extra={"type": envelope.type, "code": rejection.code})
            check_code(envelope.type, rejection.code, strict=self._settings.strict_contracts)
            rejected = result_for(
                envelope,
                code=rejection.code,
                reason=rejection.reason,
                retryable=rejection.retryable,
            )
            return rejected, rejected, []
        log.info("command accepted", extra={"type": envelope.type})
        strict = self._settings.strict_contracts
        check_produced(envelope.type, accepted.produced, strict=strict)
        result = result_for(envelope, produced=accepted.produced)
        remembered = result
        if accepted.remembered is not None:
            check_produced(envelope.type, accepted.remembered, strict=strict)
            remembered = result_for(envelope, produced=accepted.remembered)
        return result, remembered, accepted.messages

    async def _run_in_savepoint(
        self,
        session: AsyncSession,
        incoming: Incoming[Any],
        route: CommandRoute,
        context: HandlerContext,
        optimistic: bool = False,
    ) -> Accepted:
        """The handler's changes are kept only if it accepts (a savepoint undoes them;
        ``optimistic``: none, and a refusal gives up the whole transaction)."""
        if optimistic:
            try:
                accepted = await route.handle(session, incoming, context)
                for message in accepted.messages:
                    outbox.check_fits(message.payload)
            except (Rejected, RejectAndKeep) as refusal:
                raise _RefusedWithoutSavepoint() from refusal
            return accepted
        try:
            async with session.begin_nested():
                accepted = await route.handle(session, incoming, context)
                for message in accepted.messages:
                    outbox.check_fits(message.payload)
        except RejectAndKeep as refusal:
            await refusal.keep(session)
            raise refusal.rejection from None
        return accepted

    async def _run_in_batch(
        self,
        session: AsyncSession,
        incoming: Incoming[Any],
        route: CommandRoute,
        state: BatchState,
        optimistic: bool,
    ) -> Accepted:
        """As :meth:`_run_in_savepoint`, with the batch's state undone on a rejection too;
        a deferrable handler's writes are all in that state, so it needs no savepoint."""
        if not route.deferrable:
            await state.flush(session)  # its SQL sees every write before it
        state.deferring = route.deferrable
        mark = state.mark()
        context = replace(self.context, batch=state)
        try:
            if route.deferrable:
                accepted = await route.handle(session, incoming, context)
                for message in accepted.messages:
                    outbox.check_fits(message.payload)
                return accepted
            return await self._run_in_savepoint(session, incoming, route, context, optimistic)
        except RejectAndKeep as refusal:
            state.undo(mark)
            await refusal.keep(session)
            raise refusal.rejection from None
        except BaseException:
            state.undo(mark)
            raise

    async def reject_undeliverable(
        self, envelope: RawEnvelope, key: str, code: str, reason: str
    ) -> None:
        """Answer a command that could not be handled at all (bad payload, unknown type).

        Its result gets an id of its own ("undeliverable"), so if the message is
        fixed and replayed from the dead-letter topic, the real result is not
        mistaken for this one and dropped by the outbox.
        """
        async with self._sessions() as session, session.begin():
            await self._write(
                session,
                envelope,
                key,
                result_for(envelope, code=code, reason=reason),
                [],
                outbox.DIRECT,
                result_slot="undeliverable",
            )
        command_type = envelope.type if envelope.type in self._routes else UNKNOWN_TYPE
        self.metrics.command(command_type, CommandOutcome.REJECTED, code)
        self._after_commit()

    async def _write(
        self,
        session: AsyncSession,
        cause: RawEnvelope,
        key: str,
        result: CommandResult,
        messages: list[Outgoing],
        sink: outbox.Sink,
        *,
        result_slot: int | str = 0,
    ) -> None:
        result_envelope = derived_envelope(result, cause, result_slot, self.service)
        await sink.add(session, self._settings.topic(self._results_topic), key, result_envelope)
        await add_caused(session, self._settings, self.service, cause, messages, sink)
