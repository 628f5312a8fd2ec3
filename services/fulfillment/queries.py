"""GetFulfillment: an order's fulfillment as it is now (a read-only query)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import ActorKind
from contracts.fulfillment import FulfillmentFound, GetFulfillment
from contracts.ledger import QueryFailed
from services.fulfillment import db, views
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext


async def get_fulfillment(
    session: AsyncSession, query: Incoming[GetFulfillment], _: HandlerContext
) -> FulfillmentFound | QueryFailed:
    row = await db.get(session, query.payload.order_id)
    actor = query.envelope.actor
    if row is None or (actor.kind is ActorKind.CUSTOMER and actor.id != row.customer_id):
        return QueryFailed(
            code="fulfillment_not_found", reason="There is no such fulfillment of yours."
        )
    return FulfillmentFound(fulfillment=await views.fulfillment_view(session, row))
