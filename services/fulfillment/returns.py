"""Returns: ``ReturnItem`` gives back what a returned line item was paid with.

The parts of a return are planned by ``domain.plan_return`` (the allocation
rule is there) and stored with the return in one transaction, with the
commands that carry them out: reversals in the ledger, and under the no-refund
policy a new store credit from the store-credit service. Each command's id is
derived from the return and the part, so nothing is reversed or issued twice.
A part with nothing to send (a refund due from the payment provider, a balance
no longer owing) is done at once; the others are done when answered.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.fulfillment import (
    FulfillmentItemStatus,
    ReturnItem,
    ReturnPartFailed,
    ReturnPartKind,
    ReturnPartStatus,
    ReturnStatus,
)
from contracts.ledger import ReversePointTransaction
from contracts.order import LineItemView
from contracts.store_credit import CreateStoreCredit, StoreCreditReason
from contracts.topics import FULFILLMENT_EVENTS, LEDGER_COMMANDS, STORE_CREDIT_COMMANDS
from services.fulfillment import db, domain, views
from services.fulfillment.items import locked_fulfillment
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.outbox import Outgoing, stable_message_id

_RETURNS = uuid.UUID("9b7e2d14-5a3c-4f8e-a1d6-0c2b4e6f8a90")

_IMMEDIATE = {ReturnPartKind.REFUND_DUE, ReturnPartKind.OWING_CANCELLED}


def part_ref(order_id: str, return_id: str, position: int) -> str:
    return uuid.uuid5(_RETURNS, f"{order_id}/{return_id}/{position}").hex


def reversal_transaction_id(ref: str) -> str:
    """The ledger reversal of one return part (``ref`` is its :func:`part_ref`)."""
    return f"rt-{ref}"


def _line(fulfillment: Any, line_item_id: str) -> LineItemView | None:
    for raw in fulfillment.line_items:
        line = LineItemView.model_validate(raw)
        if line.line_item_id == line_item_id:
            return line
    return None


async def return_item(
    session: AsyncSession, command: Incoming[ReturnItem], context: HandlerContext
) -> Accepted:
    back = command.payload
    domain.check_trusted(command.envelope.actor, "mark items returned")
    fulfillment = await locked_fulfillment(session, back.order_id)
    if fulfillment.cancelled_at is not None:
        raise domain.FulfillmentCancelled("The order's fulfillment was cancelled.")
    returns_so_far = await db.return_ids(session, back.order_id)
    if back.return_id in returns_so_far:
        raise domain.ReturnExists(f"Order {back.order_id} already has a return {back.return_id}.")
    domain.check_room_for_return(len(returns_so_far))
    line = _line(fulfillment, back.line_item_id)
    if line is None:
        raise domain.LineItemNotFound(
            f"Order {back.order_id} has no line item {back.line_item_id}."
        )
    items = await db.items_of(session, back.order_id)
    main = next(i for i in items if i.ref == f"line:{back.line_item_id}")
    earned = next((i for i in items if i.ref == f"earn:{back.line_item_id}"), None)
    if main.status != FulfillmentItemStatus.FULFILLED:
        raise domain.ItemNotFulfilled(
            f"The line item's fulfillment is {main.status}; only what was fulfilled is returned."
        )
    if earned is not None and earned.status == FulfillmentItemStatus.COMMITTING:
        raise domain.ItemNotFulfilled("Its earned points are still being credited; retry shortly.")
    if main.returned_quantity + back.quantity > main.quantity:
        raise domain.ReturnExceedsQuantity(
            f"{main.returned_quantity} of {main.quantity} are returned already; "
            f"{back.quantity} more is too many."
        )
    await db.insert_return(
        session,
        {
            "order_id": back.order_id,
            "id": back.return_id,
            "line_item_id": back.line_item_id,
            "quantity": back.quantity,
            "reason": back.reason,
            "status": ReturnStatus.IN_PROGRESS.value,
        },
    )
    sources = {s.source_id: s for s in await db.sources_of(session, back.order_id)}
    planned = domain.plan_return(
        domain.LineToReturn(
            line_item_id=line.line_item_id,
            kind=line.kind,
            amount=line.amount,
            quantity=main.quantity,
            returned_before=main.returned_quantity,
            points=line.points,
        ),
        back.quantity,
        chargeable=fulfillment.chargeable,
        sources=[domain.MoneySource(s.source_id, s.amount) for s in sources.values()],
        earned_points=(
            earned.amount
            if earned is not None and earned.status == FulfillmentItemStatus.FULFILLED
            else None
        ),
        no_refund_policy=context.settings.no_refund_policy,
    )
    rows: list[dict[str, Any]] = []
    messages: list[Outgoing] = []
    for position, part in enumerate(planned):
        row, message = _part(fulfillment, back, position, part, main, earned, sources)
        rows.append(row)
        if message is not None:
            messages.append(message)
    await db.insert_parts(session, rows)
    await db.update_item(session, main.id, returned_quantity=main.returned_quantity + back.quantity)
    if not messages:
        await db.update_return(session, back.order_id, back.return_id, ReturnStatus.COMPLETED.value)
    return Accepted(
        produced={
            "return_id": back.return_id,
            "status": ReturnStatus.IN_PROGRESS.value if messages else ReturnStatus.COMPLETED.value,
            "parts": [{"kind": p.kind.value, "amount": p.amount} for p in planned],
        },
        messages=[await views.fulfillment_event(session, back.order_id), *messages],
    )


def _part(
    fulfillment: Any,
    c: ReturnItem,
    position: int,
    part: domain.PlannedPart,
    main: Any,
    earned: Any | None,
    sources: dict[str, Any],
) -> tuple[dict[str, Any], Outgoing | None]:
    """A part's row and the command that carries it out (None when there is none)."""
    ref = part_ref(c.order_id, c.return_id, position)
    command_id = stable_message_id(f"fulfillment-return:{ref}", "command")
    row: dict[str, Any] = {
        "order_id": c.order_id,
        "return_id": c.return_id,
        "position": position,
        "kind": part.kind.value,
        "source_id": part.source_id,
        "amount": part.amount,
        "status": ReturnPartStatus.SENDING.value,
        "account_id": None,
        "transaction_id": None,
        "store_credit_id": None,
        "command_id": None,
    }
    references = {"order_id": c.order_id, "return_id": c.return_id}
    if part.kind in _IMMEDIATE:
        row["status"] = ReturnPartStatus.DONE.value
        return row, None
    if part.kind is ReturnPartKind.ISSUE_STORE_CREDIT:
        store_credit_id = f"sc-{ref}"
        issue = CreateStoreCredit(
            store_credit_id=store_credit_id,
            name=f"Store credit for a return on order {fulfillment.number}",
            amount=part.amount,
            currency=fulfillment.currency,
            customer_id=fulfillment.customer_id,
            reason=StoreCreditReason.REFUND,
            references=references,
        )
        row.update(store_credit_id=store_credit_id, command_id=command_id)
        return row, Outgoing(STORE_CREDIT_COMMANDS, store_credit_id, issue, message_id=command_id)
    if part.kind is ReturnPartKind.RESTORE_STORE_CREDIT:
        source = sources[part.source_id or ""]
        account_id, transaction_id = source.ledger_account_id, source.transaction_id
        row["store_credit_id"] = source.store_credit_id
    elif part.kind is ReturnPartKind.REVERSE_POINTS_EARNED and earned is not None:
        account_id, transaction_id = earned.account_id, earned.transaction_id
    else:  # the line's own transaction: a spend of points, or a deposit
        account_id, transaction_id = main.account_id, main.transaction_id
    reverse = ReversePointTransaction(
        account_id=account_id,
        transaction_id=transaction_id,
        reversal_transaction_id=reversal_transaction_id(ref),
        amount=part.amount,
        description=f"Return {c.return_id} on order {fulfillment.number}",
        references=references,
    )
    row.update(account_id=account_id, transaction_id=transaction_id, command_id=command_id)
    return row, Outgoing(LEDGER_COMMANDS, account_id, reverse, message_id=command_id)


async def on_part_answer(
    session: AsyncSession, part: Any, accepted: bool, code: str | None, reason: str | None
) -> list[Outgoing]:
    """A ledger or store-credit answer to a return's part (the order's row is locked)."""
    if part.status != ReturnPartStatus.SENDING:
        return []
    status = ReturnPartStatus.DONE if accepted else ReturnPartStatus.FAILED
    await db.update_part(
        session,
        part.order_id,
        part.return_id,
        part.position,
        status=status.value,
        code=None if accepted else code,
        reason=None if accepted else reason,
    )
    parts = [p for p in await db.parts_of(session, part.order_id) if p.return_id == part.return_id]
    statuses = {ReturnPartStatus(p.status) for p in parts}
    if ReturnPartStatus.SENDING not in statuses:
        final = (
            ReturnStatus.FAILED if ReturnPartStatus.FAILED in statuses else ReturnStatus.COMPLETED
        )
        await db.update_return(session, part.order_id, part.return_id, final.value)
    messages = [await views.fulfillment_event(session, part.order_id)]
    if not accepted:
        failed = ReturnPartFailed(
            order_id=part.order_id,
            return_id=part.return_id,
            kind=ReturnPartKind(part.kind),
            amount=part.amount,
            code=code or "refused",
            reason=reason or "",
        )
        messages.append(Outgoing(FULFILLMENT_EVENTS, part.order_id, failed))
    return messages
