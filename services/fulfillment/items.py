"""Fulfillment items: made from OrderCheckedOut, done by the ledger or an admin.

Each auto item's ledger command has a message id (and so an idempotency key)
derived from the item and its attempt number. A redelivered OrderCheckedOut
finds the order already here and does nothing; a restart after the commit
publishes the outbox rows as they are; a retry by an admin is a new attempt
with an id of its own, because the first one's answer is already known.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.fulfillment import (
    FulfillItem,
    FulfillmentItemFailed,
    FulfillmentItemKind,
    FulfillmentItemStatus,
    RetryFulfillmentItem,
)
from contracts.ledger import (
    CommitPointTransaction,
    CreatePointTransaction,
    PointTransactionKind,
)
from contracts.order import OrderCheckedOut
from contracts.topics import FULFILLMENT_EVENTS, LEDGER_COMMANDS
from services.fulfillment import db, domain, views
from shared.codec import Incoming
from shared.commands import Accepted, HandlerContext
from shared.outbox import Outgoing, stable_message_id

_ITEMS = uuid.UUID("3d8f0b52-7c1e-4a9d-b6e2-5f4a3c2b1d0e")


def item_id(order_id: str, ref: str) -> str:
    return "fi-" + uuid.uuid5(_ITEMS, f"{order_id}/{ref}").hex


def credit_transaction_id(fulfillment_item_id: str) -> str:
    """The committed transaction a deposit or earn item creates in the ledger."""
    return f"{fulfillment_item_id}-credit"


def ledger_command(item: Any, attempt: int) -> Outgoing:
    """The command that does an auto item, with an id fixed by the item and attempt."""
    kind = FulfillmentItemKind(item.kind)
    references = {"order_id": item.order_id, "fulfillment_item_id": item.id}
    payload: CommitPointTransaction | CreatePointTransaction
    if kind in (FulfillmentItemKind.POINTS_SPENT, FulfillmentItemKind.STORE_CREDIT):
        payload = CommitPointTransaction(
            account_id=item.account_id,
            transaction_id=item.transaction_id,
            amount=item.amount,
            order_id=item.order_id,
        )
    else:
        payload = CreatePointTransaction(
            account_id=item.account_id,
            transaction_id=item.transaction_id,
            amount=item.amount,
            kind=(
                PointTransactionKind.DEPOSIT
                if kind is FulfillmentItemKind.DEPOSIT
                else PointTransactionKind.EARN
            ),
            description=item.name,
            references=references,
        )
    return Outgoing(
        LEDGER_COMMANDS,
        item.account_id,
        payload,
        message_id=stable_message_id(f"fulfillment:{item.id}", f"attempt:{attempt}"),
    )


def _sources(order: OrderCheckedOut) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "order_id": order.order_id,
            "source_id": f"credit:{hold.application_id}",
            "amount": -hold.capture,
            "store_credit_id": hold.store_credit_id,
            "ledger_account_id": hold.ledger_account_id,
            "transaction_id": hold.transaction_id,
        }
        for hold in order.holds
    ]
    for source_id, amount in (
        ("external", order.totals.paid_externally),
        ("owing", order.totals.balance_owing),
    ):
        if amount > 0:
            rows.append(
                {
                    "order_id": order.order_id,
                    "source_id": source_id,
                    "amount": amount,
                    "store_credit_id": None,
                    "ledger_account_id": None,
                    "transaction_id": None,
                }
            )
    return rows


async def on_order_checked_out(
    session: AsyncSession, event: Incoming[OrderCheckedOut], _: HandlerContext
) -> list[Outgoing]:
    """One item per thing to fulfil; the auto items' ledger commands go out at once."""
    order = event.payload
    totals = order.totals
    chargeable = totals.subtotal + totals.shipping + totals.tax
    stored = await db.insert_fulfillment(
        session,
        {
            "order_id": order.order_id,
            "number": order.number,
            "customer_id": order.customer_id,
            "currency": order.currency,
            "chargeable": chargeable,
            "line_items": [li.model_dump(mode="json") for li in order.line_items],
        },
    )
    if not stored:
        return []  # delivered before: its items exist and their commands were sent
    rows = []
    for position, planned in enumerate(domain.plan_items(order)):
        the_id = item_id(order.order_id, planned.ref)
        row: dict[str, Any] = {
            "id": the_id,
            "order_id": order.order_id,
            "position": position,
            "ref": planned.ref,
            "kind": planned.kind.value,
            "status": FulfillmentItemStatus.PENDING.value,
            "name": planned.name,
            "quantity": planned.quantity,
            "line_item_id": planned.line_item_id,
            "application_id": planned.application_id,
            "account_id": planned.account_id,
            "transaction_id": _transaction_id(planned, the_id),
            "amount": planned.amount,
            "unit": planned.unit,
            "attempts": 0,
            "command_id": None,
        }
        rows.append(row)
    messages: list[Outgoing] = []
    for row in rows:
        if row["kind"] == FulfillmentItemKind.MANUAL:
            continue
        command = ledger_command(_Row(row), 1)
        row.update(
            status=FulfillmentItemStatus.COMMITTING.value,
            attempts=1,
            command_id=command.message_id,
        )
        messages.append(command)
    stored_items = await db.insert_items(session, rows)
    await db.insert_sources(session, _sources(order))
    fulfillment = await views.fulfillment_event(session, order.order_id, items=stored_items)
    return [fulfillment, *messages]


def _transaction_id(planned: domain.PlannedItem, the_id: str) -> str | None:
    """What the item commits (a pending spend, a hold) or creates (a credit); None: goods."""
    if planned.transaction_id is not None:
        return planned.transaction_id
    if planned.kind in (FulfillmentItemKind.DEPOSIT, FulfillmentItemKind.POINTS_EARNED):
        return credit_transaction_id(the_id)
    return None


class _Row:
    """A planned row read like a stored one (attribute access)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


async def locked_fulfillment(session: AsyncSession, order_id: str) -> Any:
    row = await db.lock(session, order_id)
    if row is None:
        raise domain.OrderNotKnown(
            f"Order {order_id} has not reached fulfillment (yet); retry shortly."
        )
    return row


async def fulfill_item(
    session: AsyncSession, command: Incoming[FulfillItem], _: HandlerContext
) -> Accepted:
    c = command.payload
    domain.check_trusted(command.envelope.actor, "fulfil items")
    await locked_fulfillment(session, c.order_id)
    item = await db.get_item(session, c.order_id, c.fulfillment_item_id)
    if item is None:
        raise domain.ItemNotFound(f"Order {c.order_id} has no item {c.fulfillment_item_id}.")
    if item.kind != FulfillmentItemKind.MANUAL:
        raise domain.NotManual("This item is fulfilled automatically, through the ledger.")
    if item.status == FulfillmentItemStatus.FULFILLED:
        return Accepted(produced={"fulfillment_item_id": item.id, "status": item.status})
    await db.update_item(
        session,
        item.id,
        status=FulfillmentItemStatus.FULFILLED.value,
        fulfilled_at=datetime.now(UTC),
    )
    return Accepted(
        produced={"fulfillment_item_id": item.id, "status": "fulfilled"},
        messages=[await views.fulfillment_event(session, c.order_id)],
    )


async def retry_fulfillment_item(
    session: AsyncSession, command: Incoming[RetryFulfillmentItem], _: HandlerContext
) -> Accepted:
    c = command.payload
    domain.check_trusted(command.envelope.actor, "retry items")
    await locked_fulfillment(session, c.order_id)
    item = await db.get_item(session, c.order_id, c.fulfillment_item_id)
    if item is None:
        raise domain.ItemNotFound(f"Order {c.order_id} has no item {c.fulfillment_item_id}.")
    if item.status != FulfillmentItemStatus.FAILED:
        raise domain.ItemNotFailed(f"The item is {item.status}; only a failed item is retried.")
    attempt = item.attempts + 1
    resend = ledger_command(item, attempt)
    await db.update_item(
        session,
        item.id,
        status=FulfillmentItemStatus.COMMITTING.value,
        attempts=attempt,
        command_id=resend.message_id,
        code=None,
        reason=None,
    )
    return Accepted(
        produced={"fulfillment_item_id": item.id, "status": "committing", "attempt": attempt},
        messages=[await views.fulfillment_event(session, c.order_id), resend],
    )


def _replacing(order_items: list[Any], changed: Any) -> list[Any]:
    return [changed if i.id == changed.id else i for i in order_items]


async def on_item_answer(
    session: AsyncSession,
    item: Any,
    order_items: list[Any],
    accepted: bool,
    code: str | None,
    reason: str | None,
) -> list[Outgoing]:
    """The ledger answered ``item``'s command; ``order_items`` are all the order's
    items, read after its row was locked."""
    if item.status != FulfillmentItemStatus.COMMITTING:
        return []  # answered before
    if accepted:
        fulfilled = await db.update_item(
            session,
            item.id,
            status=FulfillmentItemStatus.FULFILLED.value,
            fulfilled_at=datetime.now(UTC),
        )
        items_now = _replacing(order_items, fulfilled)
        return [await views.fulfillment_event(session, item.order_id, items=items_now)]
    failed = FulfillmentItemFailed(
        order_id=item.order_id,
        fulfillment_item_id=item.id,
        kind=FulfillmentItemKind(item.kind),
        code=code or "refused",
        reason=reason or "",
        attempt=item.attempts,
    )
    refused = await db.update_item(
        session, item.id, status=FulfillmentItemStatus.FAILED.value, code=code, reason=reason
    )
    items_now = _replacing(order_items, refused)
    return [
        await views.fulfillment_event(session, item.order_id, items=items_now),
        Outgoing(FULFILLMENT_EVENTS, item.order_id, failed),
    ]
