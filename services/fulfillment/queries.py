"""Read-only queries: an order's fulfillment as it is now (GetFulfillment), and the
fulfillments that need a person (ListFulfillmentProblems)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import ActorKind
from contracts.fulfillment import (
    FulfillmentFound,
    FulfillmentProblems,
    GetFulfillment,
    ListFulfillmentProblems,
)
from contracts.ledger import QueryFailed
from services.fulfillment import db, views
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext
from shared.runtime.queries import QueryFailure


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


async def list_problems(
    session: AsyncSession, query: Incoming[ListFulfillmentProblems], _: HandlerContext
) -> FulfillmentProblems:
    if query.envelope.actor.kind is ActorKind.CUSTOMER:
        raise QueryFailure("forbidden", "Only admins and services list fulfillment problems.")
    asked = query.payload
    rows = await db.with_problems(session, asked.after, asked.limit + 1)
    page = rows[: asked.limit]
    return FulfillmentProblems(
        fulfillments=[await views.fulfillment_view(session, row) for row in page],
        next_after=page[-1].order_id if len(rows) > asked.limit else None,
    )
