"""An order's fulfillment as others see it: the ``Fulfillment`` event, from its rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.fulfillment import (
    Fulfillment,
    FulfillmentItemKind,
    FulfillmentItemStatus,
    FulfillmentItemView,
    ReturnPartKind,
    ReturnPartStatus,
    ReturnPartView,
    ReturnStatus,
    ReturnView,
)
from contracts.topics import FULFILLMENT_EVENTS
from services.fulfillment import db, domain
from shared.runtime.outbox import Outgoing


def item_view(item: Any) -> FulfillmentItemView:
    return FulfillmentItemView(
        fulfillment_item_id=item.id,
        kind=FulfillmentItemKind(item.kind),
        status=FulfillmentItemStatus(item.status),
        line_item_id=item.line_item_id,
        application_id=item.application_id,
        name=item.name,
        quantity=item.quantity,
        returned_quantity=item.returned_quantity,
        account_id=item.account_id,
        transaction_id=item.transaction_id,
        amount=item.amount,
        attempts=item.attempts,
        code=item.code,
        reason=item.reason,
        fulfilled_at=item.fulfilled_at,
    )


def part_view(part: Any) -> ReturnPartView:
    return ReturnPartView(
        kind=ReturnPartKind(part.kind),
        status=ReturnPartStatus(part.status),
        amount=part.amount,
        account_id=part.account_id,
        transaction_id=part.transaction_id,
        store_credit_id=part.store_credit_id,
        code=part.code,
        reason=part.reason,
    )


def return_view(row: Any, parts: list[Any]) -> ReturnView:
    return ReturnView(
        return_id=row.id,
        line_item_id=row.line_item_id,
        quantity=row.quantity,
        reason=row.reason,
        status=ReturnStatus(row.status),
        parts=[part_view(p) for p in parts if p.return_id == row.id],
        returned_at=row.created_at,
    )


async def fulfillment_event(
    session: AsyncSession,
    order_id: str,
    *,
    items: list[Any] | None = None,
    touched: Any = None,
    **changes: Any,
) -> Outgoing:
    """Count a new version of the order's fulfillment and publish it whole.

    ``items`` are the order's items as they are now, when the caller has them (else
    they are read); ``touched``, the fulfillment's row when the caller counted the new
    version already (``db.update_item_and_touch``). Returns are read only if an item has
    some quantity returned: a return always counts its quantity (at least 1) on its item
    in the same transaction.
    """
    row = touched if touched is not None else await db.touch(session, order_id, **changes)
    view = await fulfillment_view(session, row, items)
    return Outgoing(FULFILLMENT_EVENTS, order_id, view)


async def fulfillment_view(
    session: AsyncSession, row: Any, items: list[Any] | None = None
) -> Fulfillment:
    """The fulfillment of the order of ``row`` (its fulfillments row) as it is now."""
    if items is None:
        items = await db.items_of(session, row.order_id)
    any_returned = any(i.returned_quantity for i in items)
    returned = await db.returns_of(session, row.order_id) if any_returned else []
    parts = await db.parts_of(session, row.order_id) if returned else []
    return Fulfillment(
        order_id=row.order_id,
        number=row.number,
        customer_id=row.customer_id,
        currency=row.currency,
        items=[item_view(i) for i in items],
        returns=[return_view(r, parts) for r in returned],
        payment_status=domain.payment_status(items, row.cancelled_at is not None),
        version=row.version,
    )
