"""No outbox row left unsent: the relay publishes every committed row within moments,
so a row still unpublished after the settle time means a relay that is down or
failing (its ``attempts`` and ``last_error`` say which)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.runtime.messaging_tables import outbox
from shared.runtime.settings import SERVICES
from shared.tools.invariants.model import LocalCheck, Scope, Violation, violation


async def unsent(connection: AsyncConnection, scope: Scope) -> list[Violation]:
    older_than = func.now() - timedelta(seconds=scope.settle_s)
    age = func.extract("epoch", func.now() - outbox.c.created_at)
    rows = await connection.execute(
        select(
            outbox.c.id,
            outbox.c.message_id,
            outbox.c.topic,
            outbox.c.key,
            outbox.c.attempts,
            outbox.c.last_error,
            age.label("age"),
        )
        .where(outbox.c.published_at.is_(None), outbox.c.created_at < older_than)
        .order_by(outbox.c.id)
    )
    found = []
    for row in rows:
        tried = f"after {row.attempts} attempts" if row.attempts else "never tried"
        error = f" (last error: {row.last_error})" if row.last_error else ""
        found.append(
            violation(
                "outbox_unsent",
                scope.service,
                f"Outbox row {row.id} of {scope.service} for topic {row.topic} (key {row.key}) "
                f"is unpublished {int(row.age)} s after it was written, {tried}{error}.",
                outbox_id=row.id,
                message_id=str(row.message_id),
            )
        )
    return found


CHECKS = (
    LocalCheck(
        ("outbox_unsent",),
        SERVICES,
        "no outbox row stays unpublished longer than the settle time",
        unsent,
    ),
)
