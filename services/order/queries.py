"""GetOrder: the whole order, like the seed's Order.Get (a read-only query)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import ActorKind
from contracts.ledger import QueryFailed
from contracts.order import GetOrder, OrderFound
from services.order import db, views
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext


async def get_order(
    session: AsyncSession, query: Incoming[GetOrder], _: HandlerContext
) -> OrderFound | QueryFailed:
    order = await db.get_order(session, query.payload.order_id)
    actor = query.envelope.actor
    if order is None or (actor.kind is ActorKind.CUSTOMER and actor.id != order.customer_id):
        return QueryFailed(code="order_not_found", reason="There is no such order of yours.")
    return OrderFound(order=views.order_view(await views.load(session, order)))
