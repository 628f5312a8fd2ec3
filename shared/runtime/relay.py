"""The outbox relay: publishes committed outbox rows in order, retries failures.

One relay per service publishes at a time (a PostgreSQL advisory lock held for
each batch), rows go out in id order, and a row's mark as published commits only
after Kafka confirmed it and every row before it (a pass reads and marks its rows in
one statement, sends them, puts back in the same transaction those Kafka did not
confirm, and commits: three round trips). A failure stops the batch, so a
later row of the same key never overtakes an earlier one; rows confirmed after
the failed one are sent again (consumers are idempotent: at-least-once).
Rows survive restarts: whatever was committed and not marked is sent next time.
It looks for rows when its process commits some (``wake``), and on its own every
``STORECREDIT_OUTBOX_POLL_MS``, less and less often while nothing happens (up to
``STORECREDIT_OUTBOX_IDLE_POLL_MS``: :func:`idle_delay`).
A row that carries a secret (a sealed code or token: ``outbox.carries_secret``)
is emptied as it is marked published.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import (
    BigInteger,
    Boolean,
    LargeBinary,
    Text,
    bindparam,
    case,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from contracts.envelope import HEADER_CORRELATION_ID
from shared.runtime.db import SessionFactory
from shared.runtime.messaging_tables import outbox
from shared.runtime.metrics import ServiceMetrics

log = logging.getLogger(__name__)

STOP_WAIT_S = 10.0
"""How long a stop waits for the pass under way (Kafka unreachable: it is cut short)."""


def idle_delay(poll: float, idle_poll: float, quiet: int) -> float:
    """How long the relay waits for a wake after ``quiet`` passes in a row that found
    nothing and were not woken: ``poll``, doubled each quiet pass up to ``idle_poll``.

    A pass that was woken (a commit of this process) or sent rows sets ``quiet`` back to
    0: rows another instance committed while it held the relay lock are then looked for
    again after ``poll``, and only a system at rest is looked at rarely."""
    return min(poll * float(2 ** min(quiet, 16)), idle_poll)


def advisory_lock_id(name: str) -> int:
    digest = hashlib.sha256(f"outbox-relay:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_TAKE_ROWS = text(
    """
    WITH lock AS (SELECT pg_try_advisory_xact_lock(:lock_id) AS locked),
    taken AS (
        SELECT id, topic, key, headers, value FROM outbox
        WHERE published_at IS NULL AND (SELECT locked FROM lock)
        ORDER BY id LIMIT :limit
    ),
    marked AS (
        UPDATE outbox SET
            published_at = now(),
            attempts = outbox.attempts + 1,
            value = CASE WHEN outbox.secret THEN ''::bytea ELSE outbox.value END
        FROM taken WHERE outbox.id = taken.id
    )
    SELECT id, topic, key, headers, value FROM taken ORDER BY id
    """
).columns(id=BigInteger, topic=Text, key=Text, headers=JSONB, value=LargeBinary)
"""A secret (even sealed) is kept no longer than it is needed: its value is emptied as
it is marked published (``taken`` still holds it, to be sent)."""

_PUT_BACK = (
    update(outbox)
    .where(outbox.c.id == bindparam("p_id"))
    .values(
        published_at=None,
        value=bindparam("p_value", type_=LargeBinary),
        attempts=outbox.c.attempts - case((bindparam("p_failed", type_=Boolean), 0), else_=1),
        last_error=case(
            (bindparam("p_failed", type_=Boolean), bindparam("p_error", type_=Text)),
            else_=outbox.c.last_error,
        ),
    )
)
"""A row Kafka did not confirm, as it was before it was taken; the one that failed
keeps its attempt and says why."""


class OutboxRelay:
    def __init__(
        self,
        name: str,
        sessions: SessionFactory,
        broker: KafkaBroker,
        *,
        poll_interval: float = 0.5,
        idle_poll: float = 5.0,
        batch_size: int = 1000,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._lock_id = advisory_lock_id(name)
        self.metrics = metrics or ServiceMetrics(name, process_metrics=False)
        self._sessions = sessions
        self._broker = broker
        self._poll_interval = poll_interval
        self._idle_poll = max(idle_poll, poll_interval)
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._take_rows = _TAKE_ROWS.bindparams(lock_id=self._lock_id, limit=batch_size)
        """The oldest unpublished rows, marked published as they are read, if this relay
        gets the lock: one round trip (the transaction stays open while Kafka confirms)."""

    def wake(self) -> None:
        """Look for new rows now (called after a handler commits)."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; return how many were confirmed."""
        confirmed, failed = await self._publish_batch()
        self.metrics.published(confirmed)  # counted once marked published (committed)
        if failed:
            self.metrics.publish_failed()
        return confirmed

    async def _publish_batch(self) -> tuple[int, bool]:
        """One batch: how many rows were confirmed, and whether one failed. The rows are
        marked published by the statement that reads them; those Kafka did not confirm
        are put back as they were, in the same transaction, before it commits."""
        async with self._sessions() as session, session.begin():
            rows = (await session.execute(self._take_rows)).all()
            if not rows:  # none, or another relay holds the lock
                return 0, False
            confirmed, failure = await self._send(rows)
            failed_id, error = failure if failure is not None else (None, None)
            unconfirmed = rows[len(confirmed) :]
            if unconfirmed:
                await session.execute(
                    _PUT_BACK,
                    [
                        {
                            "p_id": row.id,
                            "p_value": row.value,
                            "p_failed": row.id == failed_id,
                            "p_error": repr(error)[:2000] if row.id == failed_id else None,
                        }
                        for row in unconfirmed
                    ],
                )
            if failure is not None:
                log.warning(
                    "outbox publish failed", extra={"outbox_id": failed_id, "error": repr(error)}
                )
            return len(confirmed), failure is not None

    async def measure_lag(self) -> None:
        """Set the outbox gauges: unpublished rows and the age of the oldest one.

        Both read the partial index on unpublished rows (``outbox_unpublished``),
        so the cost follows the backlog, not the table. The age is computed by
        the database's clock, as ``created_at`` was.
        """
        unpublished = outbox.c.published_at.is_(None)
        async with self._sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(outbox).where(unpublished))
            oldest = await session.scalar(
                select(func.extract("epoch", func.now() - outbox.c.created_at))
                .where(unpublished)
                .order_by(outbox.c.id)
                .limit(1)
            )
        self.metrics.outbox_lag(int(rows or 0), max(float(oldest or 0), 0.0))

    async def _send(self, rows: Any) -> tuple[list[int], tuple[int, BaseException] | None]:
        """Send rows in order; return the confirmed prefix and the first failure."""
        pending: list[tuple[int, asyncio.Future[Any]]] = []
        refused: tuple[int, BaseException] | None = None
        for row in rows:
            try:
                future = await self._broker.publish(
                    row.value,
                    row.topic,
                    key=row.key.encode() if row.key is not None else None,
                    headers=dict(row.headers),
                    correlation_id=row.headers.get(HEADER_CORRELATION_ID),
                    no_confirm=True,
                )
            except Exception as error:  # the producer refused the record at once
                refused = (row.id, error)
                break
            pending.append((row.id, future))
        outcomes = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        confirmed: list[int] = []
        for (row_id, _), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                return confirmed, (row_id, outcome)
            confirmed.append(row_id)
        return confirmed, refused

    async def run(self) -> None:
        failures = 0
        quiet = 0
        while not self._stopping:
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                sent = await self.publish_pending()
                failures = 0
            except Exception:
                failures += 1
                sent = 0
                log.exception("outbox relay pass failed", extra={"failures": failures})
            if sent >= self._batch_size:
                continue
            quiet = 0 if sent or woken else quiet + 1
            delay = (
                idle_delay(self._poll_interval, self._idle_poll, quiet)
                if failures == 0
                else min(0.2 * 2**failures, 10.0)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        """Let the pass under way finish (a pass cut short leaves rows Kafka has but the
        outbox does not know it has, sent again at the next start), then one last pass,
        so rows committed just before are not left waiting."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT_S)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._stopping = False
        with contextlib.suppress(Exception):
            await self.publish_pending()
