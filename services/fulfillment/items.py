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
    CancelFulfillment,
    FulfillItem,
    Fulfillment,
    FulfillmentItemFailed,
    FulfillmentItemKind,
    FulfillmentItemStatus,
    PaymentStatus,
    RetryFulfillmentItem,
)
from contracts.ledger import (
    CommitPointTransaction,
    CreatePointTransaction,
    PointTransactionKind,
    ReversePointTransaction,
)
from contracts.order import OrderCheckedOut, SetOrderPaymentStatus
from contracts.topics import FULFILLMENT_EVENTS, LEDGER_COMMANDS, ORDER_COMMANDS
from services.fulfillment import db, domain, views
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.outbox import Outgoing, stable_message_id

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
    if stored is None:
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
    captures = any(row["kind"] in domain.PAYMENT_KINDS for row in rows)
    messages: list[Outgoing] = []
    for row in rows:
        if row["kind"] == FulfillmentItemKind.MANUAL:
            continue
        if captures and row["kind"] in domain.CREDIT_KINDS:
            continue  # no points given before the payment is captured
        messages.append(_send(row, 1))
    stored_items = await db.insert_items_and_sources(session, rows, _sources(order))
    view = await views.fulfillment_view(session, stored, stored_items)  # its first version
    return [Outgoing(FULFILLMENT_EVENTS, order.order_id, view), *messages]


def _send(row: dict[str, Any], attempt: int) -> Outgoing:
    """The item's ledger command for ``attempt``; the row says it is committing."""
    command = ledger_command(_Row(row), attempt)
    row.update(
        status=FulfillmentItemStatus.COMMITTING.value,
        attempts=attempt,
        command_id=command.message_id,
        code=None,
        reason=None,
    )
    return command


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


def payment_of(fulfillment: Any, order_items: list[Any]) -> PaymentStatus:
    return domain.payment_status(order_items, fulfillment.cancelled_at is not None)


async def fulfill_item(
    session: AsyncSession, command: Incoming[FulfillItem], _: HandlerContext
) -> Accepted:
    ship = command.payload
    domain.check_trusted(command.envelope.actor, "fulfil items")
    fulfillment = await locked_fulfillment(session, ship.order_id)
    order_items = await db.items_of(session, ship.order_id)
    item = next((i for i in order_items if i.id == ship.fulfillment_item_id), None)
    if item is None:
        raise domain.ItemNotFound(f"Order {ship.order_id} has no item {ship.fulfillment_item_id}.")
    if item.kind != FulfillmentItemKind.MANUAL:
        raise domain.NotManual("This item is fulfilled automatically, through the ledger.")
    if item.status == FulfillmentItemStatus.FULFILLED:
        return Accepted(produced={"fulfillment_item_id": item.id, "status": item.status})
    domain.check_captured(payment_of(fulfillment, order_items))
    await db.update_item(
        session,
        item.id,
        status=FulfillmentItemStatus.FULFILLED.value,
        fulfilled_at=datetime.now(UTC),
    )
    return Accepted(
        produced={"fulfillment_item_id": item.id, "status": "fulfilled"},
        messages=[await views.fulfillment_event(session, ship.order_id)],
    )


async def retry_fulfillment_item(
    session: AsyncSession, command: Incoming[RetryFulfillmentItem], _: HandlerContext
) -> Accepted:
    again = command.payload
    domain.check_trusted(command.envelope.actor, "retry items")
    fulfillment = await locked_fulfillment(session, again.order_id)
    if fulfillment.cancelled_at is not None:
        raise domain.FulfillmentCancelled("The order's fulfillment was cancelled.")
    item = await db.get_item(session, again.order_id, again.fulfillment_item_id)
    if item is None:
        raise domain.ItemNotFound(
            f"Order {again.order_id} has no item {again.fulfillment_item_id}."
        )
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
        messages=[await views.fulfillment_event(session, again.order_id), resend],
    )


def _tell_order(event: Outgoing, status: PaymentStatus) -> Outgoing:
    """The order shows what went wrong with its payment (or that it was mended)."""
    view = event.payload
    assert isinstance(view, Fulfillment)
    news = SetOrderPaymentStatus(
        order_id=view.order_id, payment_status=status.value, fulfillment_version=view.version
    )
    return Outgoing(ORDER_COMMANDS, view.order_id, news)


def _replacing(order_items: list[Any], changed: Any) -> list[Any]:
    return [changed if i.id == changed.id else i for i in order_items]


async def _credits_released(
    session: AsyncSession, order_items: list[Any]
) -> tuple[list[Any], list[Outgoing]]:
    """The payment is captured: the points the order deposits or earns are sent now."""
    messages: list[Outgoing] = []
    for item in order_items:
        if item.kind in domain.CREDIT_KINDS and item.status == FulfillmentItemStatus.PENDING:
            row = dict(item._mapping)
            messages.append(_send(row, 1))
            changed = await db.update_item(
                session,
                item.id,
                status=row["status"],
                attempts=row["attempts"],
                command_id=row["command_id"],
            )
            order_items = _replacing(order_items, changed)
    return order_items, messages


async def on_item_answer(
    session: AsyncSession,
    fulfillment: Any,
    item: Any,
    order_items: list[Any],
    accepted: bool,
    code: str | None,
    reason: str | None,
) -> list[Outgoing]:
    """The ledger answered ``item``'s command; ``order_items`` are all the order's
    items, read after its row was locked."""
    if item.status == FulfillmentItemStatus.REVERSING:
        return await _reversal_answered(session, item, order_items, accepted, code, reason)
    if item.status != FulfillmentItemStatus.COMMITTING:
        return []  # answered before
    if accepted:
        fulfilled, touched = await db.update_item_and_touch(
            session,
            item.order_id,
            item.id,
            status=FulfillmentItemStatus.FULFILLED.value,
            fulfilled_at=datetime.now(UTC),
        )
        items_now = _replacing(order_items, fulfilled)
        if item.kind not in domain.PAYMENT_KINDS or payment_of(fulfillment, items_now) is not (
            PaymentStatus.CAPTURED
        ):
            event = await views.fulfillment_event(
                session, item.order_id, items=items_now, touched=touched
            )
            return [event]
        items_now, released = await _credits_released(session, items_now)
        event = await views.fulfillment_event(
            session, item.order_id, items=items_now, touched=touched
        )
        mended = any(i.attempts > 1 for i in items_now if i.kind in domain.PAYMENT_KINDS)
        told = [_tell_order(event, PaymentStatus.CAPTURED)] if mended else []
        return [event, *released, *told]
    failed = FulfillmentItemFailed(
        order_id=item.order_id,
        fulfillment_item_id=item.id,
        kind=FulfillmentItemKind(item.kind),
        code=code or "refused",
        reason=reason or "",
        attempt=item.attempts,
    )
    was = payment_of(fulfillment, order_items)
    refused, touched = await db.update_item_and_touch(
        session,
        item.order_id,
        item.id,
        status=FulfillmentItemStatus.FAILED.value,
        code=code,
        reason=reason,
    )
    items_now = _replacing(order_items, refused)
    event = await views.fulfillment_event(session, item.order_id, items=items_now, touched=touched)
    messages = [event, Outgoing(FULFILLMENT_EVENTS, item.order_id, failed)]
    if item.kind in domain.PAYMENT_KINDS and was is not PaymentStatus.FAILED:
        messages.append(_tell_order(event, PaymentStatus.FAILED))
    return messages


# --- cancelling a fulfillment whose payment failed ----------------------------------------------


def _give_back(item: Any) -> Outgoing:
    """The reversal of what a capture item committed: all of it."""
    reverse = ReversePointTransaction(
        account_id=item.account_id,
        transaction_id=item.transaction_id,
        reversal_transaction_id=f"rt-cancel-{item.id}",
        description=f"Fulfillment of order {item.order_id} cancelled",
        references={"order_id": item.order_id, "fulfillment_item_id": item.id},
    )
    return Outgoing(
        LEDGER_COMMANDS,
        item.account_id,
        reverse,
        message_id=stable_message_id(f"fulfillment:{item.id}", "cancel"),
    )


async def cancel_fulfillment(
    session: AsyncSession, command: Incoming[CancelFulfillment], _: HandlerContext
) -> Accepted:
    """The operator's way out of a failed payment: nothing is given, captures go back."""
    cancel = command.payload
    domain.check_admin(command.envelope.actor, "cancel a fulfillment")
    fulfillment = await locked_fulfillment(session, cancel.order_id)
    order_items = await db.items_of(session, cancel.order_id)
    status = payment_of(fulfillment, order_items)
    if status is PaymentStatus.CANCELLED:
        return Accepted(produced={"order_id": cancel.order_id, "status": "cancelled"})
    if status is not PaymentStatus.FAILED:
        raise domain.PaymentNotFailed(
            f"The order's payment is {status.value}; only a fulfillment whose payment "
            "failed is cancelled (a captured order's items are returned instead)."
        )
    if any(i.status == FulfillmentItemStatus.COMMITTING for i in order_items):
        raise domain.PaymentNotCaptured("An item is still being committed; retry shortly.")
    messages: list[Outgoing] = []
    reversed_items = 0
    for item in order_items:
        if item.kind in domain.PAYMENT_KINDS and item.status == FulfillmentItemStatus.FULFILLED:
            give_back = _give_back(item)
            changed = await db.update_item(
                session,
                item.id,
                status=FulfillmentItemStatus.REVERSING.value,
                command_id=give_back.message_id,
            )
            messages.append(give_back)
            reversed_items += 1
        elif item.status != FulfillmentItemStatus.FULFILLED:
            changed = await db.update_item(
                session, item.id, status=FulfillmentItemStatus.CANCELLED.value
            )
        else:
            continue
        order_items = _replacing(order_items, changed)
    event = await views.fulfillment_event(
        session,
        cancel.order_id,
        items=order_items,
        cancelled_at=datetime.now(UTC),
        cancel_reason=cancel.reason,
    )
    return Accepted(
        produced={
            "order_id": cancel.order_id,
            "status": "cancelled",
            "captures_given_back": reversed_items,
        },
        messages=[event, *messages, _tell_order(event, PaymentStatus.CANCELLED)],
    )


async def _reversal_answered(
    session: AsyncSession,
    item: Any,
    order_items: list[Any],
    accepted: bool,
    code: str | None,
    reason: str | None,
) -> list[Outgoing]:
    if accepted:
        changed = await db.update_item(
            session, item.id, status=FulfillmentItemStatus.REVERSED.value
        )
        items_now = _replacing(order_items, changed)
        return [await views.fulfillment_event(session, item.order_id, items=items_now)]
    failed = FulfillmentItemFailed(
        order_id=item.order_id,
        fulfillment_item_id=item.id,
        kind=FulfillmentItemKind(item.kind),
        code=code or "refused",
        reason=f"Giving the capture back was refused: {reason or ''}",
        attempt=item.attempts,
    )
    changed = await db.update_item(session, item.id, code=code, reason=reason)
    items_now = _replacing(order_items, changed)
    return [
        await views.fulfillment_event(session, item.order_id, items=items_now),
        Outgoing(FULFILLMENT_EVENTS, item.order_id, failed),
    ]
