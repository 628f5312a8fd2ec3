"""Abandoned carts: an open order past its ``expires_at`` is closed as ``abandoned``.

Its holds were placed to expire at the same moment, so the ledger voids them
on its own; this job also voids them (and the point transactions its line
items target) as the system, on the order's behalf, so nothing stays held even
if the ledger's sweep is slower, or if a checkout attempt that failed bound them
(a bound hold no longer expires: only its order releases it), and says so with an
``Order`` event. A void the ledger already did is answered ``not_pending`` and
changes nothing.

Safe in several instances at once: each order is handled in its own
transaction under its row lock, and only if it is still open then.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import OrderStatus
from services.order import db
from services.order.carts import changed, release_everything
from shared.runtime.jobs import Swept, sweep


async def abandon_if_expired(session: AsyncSession, order_id: str, now: datetime) -> Swept | None:
    order = await db.lock_order(session, order_id)
    if order is None or order.status != OrderStatus.OPEN or order.expires_at > now:
        return None
    voids = await release_everything(session, order, "cart abandoned")
    event = await changed(session, order.id, status=OrderStatus.ABANDONED.value)
    return Swept(
        [event, *voids],
        origin=f"cart-abandoned:{order.id}",
        correlation_id=order.correlation_id or f"cart-abandoned:{order.id}",
    )


abandoned_carts = sweep(
    "abandoned-carts",
    lambda settings: settings.cart_sweep_ms / 1000,
    db.expired_open_orders,
    abandon_if_expired,
)
