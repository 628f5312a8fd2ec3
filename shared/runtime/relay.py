"""The outbox relay: publishes committed outbox rows in order, retries failures.

One relay per service publishes at a time: the leader, whose own connection holds a
PostgreSQL advisory lock for as long as it lives (its process gone, the connection
closes and another instance's relay takes the lead at its next look). Rows go out in
id order; a row is marked published only after Kafka confirmed it and every row
before it. A pass is one statement on that connection, outside any transaction: it
marks the rows the pass before sent and reads the next ones. Rows a pass sent are
marked by the next pass if one comes within ``STORECREDIT_OUTBOX_POLL_MS``, and by a
statement of their own if none does. A failure stops the pass, so a later row of the
same key never overtakes an earlier one; rows confirmed after the failed one are sent
again (consumers are idempotent: at-least-once). Rows survive restarts: whatever was
committed and not marked (sent, and the process died before its mark) is sent again.
Rows its own process committed are handed over once committed (``hand_over``: every row
the transaction wrote) and sent without being read back; their marks wait for the next
statement (at most :data:`MARKS_WAIT_FOR_ROWS` rows or ``STORECREDIT_OUTBOX_POLL_MS``).
Whenever older rows may be waiting (a follower's wake, a commit that handed nothing over,
a refused row, a full pass, a new lead, its own timer) the next pass reads instead.
It looks for rows when its process commits some (``wake``), when another instance of
the service did (a follower's wake is a ``NOTIFY`` the leader listens for), and on its
own every ``STORECREDIT_OUTBOX_POLL_MS``, less and less often while nothing happens (up
to ``STORECREDIT_OUTBOX_IDLE_POLL_MS``: :func:`idle_delay`).
A row that carries a secret (a sealed code or token: ``outbox.carries_secret``)
is emptied as it is marked published, and a pass that sent one marks it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import (
    BigInteger,
    Boolean,
    LargeBinary,
    Text,
    any_,
    bindparam,
    case,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts.envelope import HEADER_CORRELATION_ID
from shared.runtime.messaging_tables import outbox
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.outbox import OutboxRow

log = logging.getLogger(__name__)

STOP_WAIT_S = 10.0
"""How long a stop waits for the pass under way (Kafka unreachable: it is cut short)."""


MARKS_WAIT_FOR_ROWS = 100
"""Rows sent from memory whose marks may wait for a later statement: beyond it the next
pass reads (and marks them). Under load this keeps each mark small, as a pass's own
marks were (a thousand at a time took the relay's connection for 100 ms and more)."""


def idle_delay(poll: float, idle_poll: float, quiet: int) -> float:
    """How long the relay waits for a wake after ``quiet`` passes in a row that found
    nothing and were not woken: ``poll``, doubled each quiet pass up to ``idle_poll``.

    A pass that was woken (a commit of this process, or a follower's ``NOTIFY``) or sent
    rows sets ``quiet`` back to 0: only a system at rest is looked at rarely."""
    return min(poll * float(2 ** min(quiet, 16)), idle_poll)


def advisory_lock_id(name: str) -> int:
    digest = hashlib.sha256(f"outbox-relay:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_TAKE_ROWS = (
    text(
        """
    WITH marked AS (
        UPDATE outbox SET
            published_at = now(),
            attempts = outbox.attempts + 1,
            value = CASE WHEN outbox.secret THEN ''::bytea ELSE outbox.value END
        WHERE outbox.id = ANY(:sent) AND outbox.published_at IS NULL
    )
    SELECT id, topic, key, headers, value, secret FROM outbox
    WHERE published_at IS NULL AND id <> ALL(:sent)
    ORDER BY id LIMIT :limit
    """
    )
    .bindparams(bindparam("sent", type_=ARRAY(BigInteger)))
    .columns(id=BigInteger, topic=Text, key=Text, headers=JSONB, value=LargeBinary, secret=Boolean)
)
"""Mark published the rows Kafka confirmed (``sent``) and read the oldest of the others,
in one statement (both see the table as it was before it: ``sent`` are left out of the
read). A secret (even sealed) is kept no longer than it is needed: its value is emptied
as it is marked published, and a pass that sent one marks it at once."""

_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == any_(bindparam("sent", type_=ARRAY(BigInteger))))
    .where(outbox.c.published_at.is_(None))
    .values(
        published_at=func.now(),
        attempts=outbox.c.attempts + 1,
        value=case((outbox.c.secret, literal(b"", LargeBinary)), else_=outbox.c.value),
    )
)
"""The marks of :data:`_TAKE_ROWS` alone, when no pass comes to carry them."""

_RECORD_FAILURE = (
    update(outbox)
    .where(outbox.c.id == bindparam("p_id"))
    .values(attempts=outbox.c.attempts + 1, last_error=bindparam("p_error", type_=Text))
)
"""The row Kafka did not take counts the attempt and says why (those after it are left
as they were, to be sent after it)."""

_TRY_LEAD = text("SELECT pg_try_advisory_lock(:lock_id)")
_GIVE_UP_LEAD = text("SELECT pg_advisory_unlock(:lock_id)")
_NOTIFY = text("SELECT pg_notify(:channel, '')")


class OutboxRelay:
    def __init__(
        self,
        name: str,
        engine: AsyncEngine,
        broker: KafkaBroker,
        *,
        poll_interval: float = 0.5,
        idle_poll: float = 5.0,
        batch_size: int = 1000,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._lock_id = advisory_lock_id(name)
        self._channel = f"outbox_relay_{self._lock_id & 0xFFFFFFFFFFFFFFFF:016x}"
        self.metrics = metrics or ServiceMetrics(name, process_metrics=False)
        self._engine = engine
        self._broker = broker
        self._poll_interval = poll_interval
        self._idle_poll = max(idle_poll, poll_interval)
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connection: AsyncConnection | None = None
        self._leader = False
        self._sent: list[int] = []
        """Rows Kafka confirmed, in order, not yet marked published."""
        self._sent_since = 0.0
        """When the oldest of ``_sent`` was confirmed (the event loop's clock)."""
        self._handed: list[OutboxRow] = []
        """Rows this process committed, handed over in commit order, not sent yet."""
        self._reads = 0
        """Reads begun plus reads ended: odd while one is under way (see ``hand_over``)."""
        self._must_read = True
        """Whether rows may be waiting that were not handed over (a commit that did not
        hand its rows over, a follower's, a failure, a new lead): the next pass reads."""
        self._take_rows = _TAKE_ROWS.bindparams(limit=batch_size)

    @property
    def leads(self) -> bool:
        """Whether this relay holds the service's lead (the one that publishes)."""
        return self._leader

    def wake(self) -> None:
        """Look for new rows now (called after a handler commits rows it does not hand
        over)."""
        self._must_read = True
        self._wake.set()

    def hand_over_token(self) -> int:
        """Taken before a transaction whose rows will be handed over begins (see
        ``hand_over``)."""
        return self._reads

    def hand_over(self, rows: Sequence[OutboxRow], token: int) -> None:
        """Rows this process has just committed, every one its transaction wrote: the
        leader sends them without reading them back, unless older rows may be waiting (then
        it reads, and finds these too). Only after the commit: a row handed over is sent.

        A read that ran at any time between ``token`` (taken before the transaction) and now
        may have read these rows, and sent them: then they are not kept, the next pass reads
        (it leaves out what was sent), and none is sent twice."""
        if not rows:
            return
        if self._leader and not self._must_read and token == self._reads and token % 2 == 0:
            self._handed.extend(rows)
        else:
            self._must_read = True
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows and mark them; return how many Kafka
        confirmed (0 if another instance's relay leads)."""
        try:
            sent = await self._pass(woken=True)
            await self._mark_sent()
        except Exception:
            await self.close()
            raise
        return sent

    async def _pass(self, *, woken: bool) -> int:
        """Mark what the passes before sent, read the next rows and send them, or, woken
        with rows handed over and nothing older waiting, send those with no statement: how
        many Kafka confirmed (kept in ``_sent`` for a later statement to mark). A follower
        tells the leader about its process's commits instead (``woken``). A read drops
        what was handed over and not sent (it finds those rows itself)."""
        connection = await self._lead()
        if connection is None:
            self._sent, self._handed = [], []  # the leader sends them again
            if woken:
                assert self._connection is not None  # made by _lead
                await self._connection.execute(_NOTIFY, {"channel": self._channel})
            return 0
        rows: Sequence[Any]
        if woken and self._handed and not self._must_read and self._marks_can_wait():
            rows = self._handed[: self._batch_size]  # no statement: marked by a later one
            del self._handed[: self._batch_size]
        else:
            self._must_read, self._handed = False, []
            self._reads += 1
            try:
                rows = (await connection.execute(self._take_rows, {"sent": self._sent})).all()
            finally:
                self._reads += 1
            self.metrics.published(len(self._sent))  # counted once marked published
            self._sent = []
            if len(rows) >= self._batch_size:
                self._must_read = True  # older rows than those handed over may be left
        if not rows:
            return 0
        confirmed, failure = await self._send(rows)
        if confirmed and not self._sent:
            self._sent_since = asyncio.get_running_loop().time()
        self._sent += confirmed
        if any(row.secret for row in rows[: len(confirmed)]):
            await self._mark_sent()
        if failure is not None:
            self._must_read, self._handed = True, []  # the rest go in id order, read
            failed_id, error = failure
            log.warning(
                "outbox publish failed", extra={"outbox_id": failed_id, "error": repr(error)}
            )
            self.metrics.publish_failed()
            await connection.execute(
                _RECORD_FAILURE, {"p_id": failed_id, "p_error": repr(error)[:2000]}
            )
        return len(confirmed)

    def _marks_can_wait(self) -> bool:
        """Whether the rows sent and not marked may wait for a later statement: fewer than
        a batch, the oldest sent less than ``poll_interval`` ago."""
        if not self._sent:
            return True
        waited = asyncio.get_running_loop().time() - self._sent_since
        return len(self._sent) < MARKS_WAIT_FOR_ROWS and waited < self._poll_interval

    async def _mark_sent(self) -> None:
        if self._sent and self._connection is not None and self._leader:
            await self._connection.execute(_MARK_SENT, {"sent": self._sent})
            self.metrics.published(len(self._sent))
        self._sent = []

    async def _lead(self) -> AsyncConnection | None:
        """The relay's own connection if this relay leads (it tries to, if not yet), else
        None. The leader listens there for its followers' wakes."""
        connection = self._connection
        if connection is None:
            connection = await self._engine.connect()
            try:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            except BaseException:
                await connection.close()
                raise
            self._connection = connection
        if not self._leader:
            self._leader = bool(await connection.scalar(_TRY_LEAD, {"lock_id": self._lock_id}))
            if self._leader:
                driver = (await connection.get_raw_connection()).driver_connection
                assert driver is not None  # an open connection
                await driver.add_listener(self._channel, self._on_notify)
        return connection if self._leader else None

    def _on_notify(self, *_: Any) -> None:
        self._must_read = True  # a follower's rows: only a read finds them
        self._wake.set()

    async def close(self) -> None:
        """Give up the lead and the connection: it is closed, not returned to the pool, so
        the lock and the listener end with it (if the unlock did not reach the database)."""
        connection, leader = self._connection, self._leader
        self._connection, self._leader = None, False
        self._handed, self._must_read = [], True  # whoever leads next reads them
        if connection is not None:
            if leader:  # at once: the backend of a closed connection ends a moment later
                with contextlib.suppress(Exception):
                    await connection.execute(_GIVE_UP_LEAD, {"lock_id": self._lock_id})
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def measure_lag(self) -> None:
        """Set the outbox gauges: unpublished rows and the age of the oldest one.

        Both read the partial index on unpublished rows (``outbox_unpublished``),
        so the cost follows the backlog, not the table. The age is computed by
        the database's clock, as ``created_at`` was.
        """
        unpublished = outbox.c.published_at.is_(None)
        async with self._engine.connect() as connection:
            rows = await connection.scalar(
                select(func.count()).select_from(outbox).where(unpublished)
            )
            oldest = await connection.scalar(
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
                sent = await self._pass(woken=woken)
                failures = 0
            except Exception:
                failures += 1
                sent = 0
                log.exception("outbox relay pass failed", extra={"failures": failures})
                await self.close()
            if sent >= self._batch_size:
                continue
            quiet = 0 if sent or woken else quiet + 1
            delay = (
                idle_delay(self._poll_interval, self._idle_poll, quiet)
                if failures == 0
                else min(0.2 * 2**failures, 10.0)
            )
            if self._sent:
                waited = asyncio.get_running_loop().time() - self._sent_since
                carried = min(delay, max(self._poll_interval - waited, 0.0))
                if await self._woken_within(carried):
                    continue  # the next pass marks them with its read
                delay -= carried
                try:
                    await self._mark_sent()
                except Exception:
                    log.exception("outbox relay could not mark rows published")
                    await self.close()
            await self._woken_within(delay)

    async def _woken_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
            return True
        return False

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
        await self.close()
