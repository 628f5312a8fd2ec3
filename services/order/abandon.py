"""Abandoned carts: an open order past its ``expires_at`` is closed as ``abandoned``.

Its holds were placed to expire at the same moment, so the ledger voids them
on its own; this job also voids them (and the point transactions its line
items target) as the system, so nothing stays held even if the ledger's sweep
is slower, and says so with an ``Order`` event. A void the ledger already did
is answered ``not_pending`` and changes nothing.

Safe in several instances at once: each order is handled in its own
transaction under its row lock, and only if it is still open then.
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.order import OrderStatus
from services.order import db
from services.order.carts import changed, release_everything
from shared.jobs import JobContext, PeriodicJob
from shared.outbox import add_system_messages

BATCH = 100


async def abandon_expired_carts(context: JobContext) -> int:
    now = datetime.now(UTC)
    async with context.sessions() as session:
        candidates = await db.expired_open_orders(session, now, BATCH)
    abandoned = 0
    for order_id in candidates:
        async with context.sessions() as session, session.begin():
            order = await db.lock_order(session, order_id)
            if order is None or order.status != OrderStatus.OPEN or order.expires_at > now:
                continue
            voids = await release_everything(session, order, "cart abandoned")
            event = await changed(session, order.id, status=OrderStatus.ABANDONED.value)
            await add_system_messages(
                session,
                context.settings,
                context.service,
                [event, *voids],
                origin=f"cart-abandoned:{order.id}",
                correlation_id=order.correlation_id or f"cart-abandoned:{order.id}",
            )
        abandoned += 1
    return abandoned


abandoned_carts = PeriodicJob(
    name="abandoned-carts",
    interval=lambda settings: settings.cart_sweep_ms / 1000,
    run=abandon_expired_carts,
)
