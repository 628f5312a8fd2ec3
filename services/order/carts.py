"""Cart commands (thin handlers): open, line items, charges, cancel.

Prices, shipping and tax come from the shop (an admin or a service), never
from a customer; a customer adds point-transaction line items and removes
items on their own cart. Removing a point-transaction line item voids its
pending transaction: the customer made it for this cart, and leaving it
pending would keep their points held until it expires.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor
from contracts.ledger import PointTransactionKind, VoidPointTransaction
from contracts.order import (
    AddDepositLineItem,
    AddPointTransactionLineItem,
    AddProductLineItem,
    AppliedCreditStatus,
    CancelOrder,
    CreateOrder,
    LineItemKind,
    OrderStatus,
    RemoveLineItem,
    SetOrderCharges,
)
from contracts.topics import LEDGER_COMMANDS
from services.order import db, domain, resize, views
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.outbox import Outgoing

_NUMBERS = uuid.UUID("0b7d1c52-6e1f-4a8e-9c3d-2f4b5a6c7d8e")


def default_number(order_id: str) -> str:
    """An order number made from the id: eight hex digits, as in the seed's ``0D138546``."""
    return uuid.uuid5(_NUMBERS, order_id).hex[:8].upper()


async def changeable_order(
    session: AsyncSession, order_id: str, actor: Actor, doing: str, now: datetime
) -> Any:
    """The locked order, if ``actor`` may change it and it is open."""
    order = await db.lock_order(session, order_id)
    if order is None:
        raise domain.OrderNotFound(domain.no_order(order_id))
    domain.check_may_touch(actor, order_id, order.customer_id, doing)
    domain.check_open(order.status, order.expires_at, now)
    return order


async def changed_and_resized(
    session: AsyncSession, order_id: str, **changes: Any
) -> list[Outgoing]:
    """As :func:`changed`, after a change that may raise what is due: the held credits
    grow to cover it as far as they can (``resize``), and the event shows them so."""
    order = await db.touch_order(session, order_id, **changes)
    credits, resizes = await resize.resize_holds(session, order)
    return [await views.order_event(session, order, credits=credits), *resizes]


async def changed(
    session: AsyncSession,
    order_id: str,
    *,
    lines: list[Any] | None = None,
    credits: list[Any] | None = None,
    **changes: Any,
) -> Outgoing:
    """Count a new version of the order and say so with an ``Order`` event.

    ``lines`` and ``credits``, when given, are the order's as they are now (see
    ``views.order_event``); the order's row is the one the update returns.
    """
    order = await db.touch_order(session, order_id, **changes)
    return await views.order_event(session, order, lines=lines, credits=credits)


async def create_order(
    session: AsyncSession, command: Incoming[CreateOrder], context: HandlerContext
) -> Accepted:
    opening = command.payload
    domain.check_customer_or_trusted(command.envelope.actor, opening.customer_id, "open a cart")
    expires_at = datetime.now(UTC) + timedelta(seconds=context.settings.cart_ttl_s)
    row = await db.insert_order(
        session,
        {
            "id": opening.order_id,
            "number": opening.number or default_number(opening.order_id),
            "customer_id": opening.customer_id,
            "currency": opening.currency,
            "status": OrderStatus.OPEN.value,
            "expires_at": expires_at,
            "correlation_id": command.envelope.correlation_id,
        },
    )
    if row is None:
        raise domain.OrderExists(f"Order {opening.order_id} already exists.")
    return Accepted(
        produced={
            "order_id": row.id,
            "number": row.number,
            "expires_at": row.expires_at.isoformat(),
        },
        messages=[await views.order_event(session, row, lines=[], credits=[])],
    )


async def _new_line(
    session: AsyncSession, order: Any, line_item_id: str, values: dict[str, Any]
) -> None:
    if await db.line_exists(session, order.id, line_item_id):
        raise domain.LineItemExists(f"The order already has a line item {line_item_id}.")
    domain.check_room_for_line(await db.count_lines(session, order.id))
    position = await db.next_position(session, db.line_items, order.id)
    await db.insert_line(
        session, {"order_id": order.id, "id": line_item_id, "position": position, **values}
    )


async def add_product_line_item(
    session: AsyncSession, command: Incoming[AddProductLineItem], _: HandlerContext
) -> Accepted:
    item = command.payload
    actor = command.envelope.actor
    domain.check_trusted(actor, "add a product at a price")
    order = await changeable_order(session, item.order_id, actor, "add items", datetime.now(UTC))
    account_id = unit = points = None
    if item.earn is not None:
        account = await db.customer_account_in_unit(session, order.customer_id, item.earn.unit)
        if account is None:
            raise domain.AccountNotFound(
                f"The customer has no active account of {item.earn.unit} to earn points in."
            )
        account_id, unit = account.id, account.unit
        points = domain.bounded(item.earn.points_per_unit * item.quantity, "The points earned")
    amount = domain.bounded(item.unit_price * item.quantity, "The line's amount")
    await _new_line(
        session,
        order,
        item.line_item_id,
        {
            "kind": LineItemKind.PRODUCT.value,
            "sku": item.sku,
            "name": item.name,
            "unit_price": item.unit_price,
            "quantity": item.quantity,
            "amount": amount,
            "account_id": account_id,
            "unit": unit,
            "points": points,
        },
    )
    return Accepted(
        produced={"line_item_id": item.line_item_id},
        messages=await changed_and_resized(session, order.id),
    )


async def add_deposit_line_item(
    session: AsyncSession, command: Incoming[AddDepositLineItem], _: HandlerContext
) -> Accepted:
    item = command.payload
    actor = command.envelope.actor
    domain.check_trusted(actor, "add a depositable product at a price")
    order = await changeable_order(session, item.order_id, actor, "add items", datetime.now(UTC))
    account = await db.get_point_account(session, item.account_id)
    if account is None:
        raise domain.AccountNotFound(f"Point account {item.account_id} is not known (yet).")
    if account.customer_id != order.customer_id:
        raise domain.AccountNotUsable("The account belongs to another customer.")
    if account.status != "active":
        raise domain.AccountNotUsable(f"The account is {account.status}.")
    await _new_line(
        session,
        order,
        item.line_item_id,
        {
            "kind": LineItemKind.DEPOSIT.value,
            "sku": item.sku,
            "name": item.name,
            "unit_price": item.unit_price,
            "quantity": item.quantity,
            "amount": domain.bounded(item.unit_price * item.quantity, "The line's amount"),
            "account_id": account.id,
            "unit": account.unit,
            "points": domain.bounded(item.points_per_unit * item.quantity, "The points deposited"),
        },
    )
    return Accepted(
        produced={"line_item_id": item.line_item_id},
        messages=await changed_and_resized(session, order.id),
    )


async def add_point_transaction_line_item(
    session: AsyncSession, command: Incoming[AddPointTransactionLineItem], context: HandlerContext
) -> Accepted:
    """Pay with a pending spend the customer made on their own point account.

    Owned twice over: the point account is the order's customer's (store-credit's
    word) and so is the ledger account the spend is on (the ledger's), whatever the
    ids look like. A spend pays for one order, once: its use is recorded for ever.
    """
    item = command.payload
    now = datetime.now(UTC)
    order = await changeable_order(
        session, item.order_id, command.envelope.actor, "pay with points", now
    )
    transaction = await db.get_pending_transaction(session, item.transaction_id)
    if transaction is None or transaction.customer_id != order.customer_id:
        # Another customer's transaction is, to this order, one it does not know of.
        raise domain.TransactionNotFound(
            f"Point transaction {item.transaction_id} is not known here (yet); retry shortly."
        )
    if transaction.amount >= 0 or transaction.kind not in (None, PointTransactionKind.SPEND):
        raise domain.NotASpend("Only a pending spend (a negative amount) pays for an order.")
    account = await db.get_point_account(session, transaction.account_id)
    if account is None:
        raise domain.AccountNotFound(f"Point account {transaction.account_id} is not known (yet).")
    if account.customer_id != order.customer_id:
        raise domain.Forbidden("The point transaction is not on an account of this customer.")
    if transaction.status != "pending":
        raise domain.TransactionNotPending(f"The point transaction is {transaction.status}.")
    margin = timedelta(seconds=context.settings.checkout_margin_s)
    if not domain.holds_last_long_enough(transaction.expires_at, now, margin):
        raise domain.TransactionExpiresTooSoon("The point transaction expires too soon to use.")
    if account.status != "active":
        raise domain.AccountNotUsable(f"The account is {account.status}.")
    rate = account.exchange_rates.get(order.currency)
    if rate is None:
        raise domain.NoExchangeRate(f"The account has no exchange rate for {order.currency}.")
    amount = domain.bounded(
        domain.money_for_points(transaction.amount, Decimal(rate), order.currency),
        "The points' value",
    )
    if not await db.use_transaction(
        session, transaction.id, order.id, line_item_id=item.line_item_id
    ):
        raise domain.TransactionAlreadyTargeted(
            "This point transaction was already used for an order; it pays for one only, once."
        )
    await _new_line(
        session,
        order,
        item.line_item_id,
        {
            "kind": LineItemKind.POINT_TRANSACTION.value,
            "name": f"{-transaction.amount} {account.unit}",
            "quantity": 1,
            "amount": amount,
            "account_id": account.id,
            "unit": account.unit,
            "points": transaction.amount,
            "transaction_id": transaction.id,
            "transaction_expires_at": transaction.expires_at,
            "exchange_rate": str(rate),
        },
    )
    return Accepted(
        produced={"line_item_id": item.line_item_id, "amount": amount},
        messages=[await changed(session, order.id)],
    )


async def release_transaction(
    session: AsyncSession, order_id: str, account_id: str, transaction_id: str, reason: str
) -> Outgoing:
    """Void a spend or hold this order holds. It is gone from this moment on: the copy
    says voided before the ledger has even heard (its one use is spent already)."""
    await db.release_pending_copy(session, transaction_id)
    void = VoidPointTransaction(
        account_id=account_id, transaction_id=transaction_id, reason=reason, order_id=order_id
    )
    return Outgoing(LEDGER_COMMANDS, account_id, void)


async def void_point_line(session: AsyncSession, line: Any, reason: str) -> Outgoing:
    return await release_transaction(
        session, line.order_id, line.account_id, line.transaction_id, reason
    )


async def void_hold(session: AsyncSession, credit: Any, reason: str) -> list[Outgoing]:
    """Void a credit's hold, and the larger one replacing it if a resize is in flight
    (whichever of the two the ledger holds when the voids arrive, both end voided)."""
    holds = [credit.hold_transaction_id, credit.replacing_transaction_id]
    return [
        await release_transaction(
            session, credit.order_id, credit.ledger_account_id, transaction_id, reason
        )
        for transaction_id in holds
        if transaction_id is not None
    ]


async def remove_credit(session: AsyncSession, credit: Any, reason: str) -> list[Outgoing]:
    """Take an applied credit off the order: ``removed``, its hold (if any) voided."""
    voids: list[Outgoing] = []
    if credit.status in (AppliedCreditStatus.HOLDING, AppliedCreditStatus.HELD):
        voids = await void_hold(session, credit, reason)
    await db.update_credit(
        session,
        credit.order_id,
        credit.id,
        status=AppliedCreditStatus.REMOVED.value,
        held=0,
        replacing_transaction_id=None,
        replacing_amount=None,
    )
    return voids


async def remove_line_item(
    session: AsyncSession, command: Incoming[RemoveLineItem], _: HandlerContext
) -> Accepted:
    removal = command.payload
    order = await changeable_order(
        session, removal.order_id, command.envelope.actor, "remove items", datetime.now(UTC)
    )
    line = await db.delete_line(session, order.id, removal.line_item_id)
    if line is None:
        raise domain.LineItemNotFound(f"The order has no line item {removal.line_item_id}.")
    messages = await changed_and_resized(session, order.id)
    if line.kind == LineItemKind.POINT_TRANSACTION:
        messages.append(await void_point_line(session, line, "removed from the cart"))
    return Accepted(produced={"line_item_id": removal.line_item_id}, messages=messages)


async def set_order_charges(
    session: AsyncSession, command: Incoming[SetOrderCharges], _: HandlerContext
) -> Accepted:
    charge = command.payload
    actor = command.envelope.actor
    domain.check_trusted(actor, "set shipping and tax")
    order = await changeable_order(
        session, charge.order_id, actor, "set charges", datetime.now(UTC)
    )
    messages = await changed_and_resized(
        session,
        order.id,
        shipping=charge.shipping,
        shipping_description=charge.shipping_description,
        tax=charge.tax,
        tax_description=charge.tax_description,
    )
    return Accepted(produced={"order_id": order.id}, messages=messages)


async def release_everything(session: AsyncSession, order: Any, reason: str) -> list[Outgoing]:
    """Void the order's holds and targeted point transactions; mark its credits removed."""
    messages: list[Outgoing] = []
    for line in await db.lines_of(session, order.id):
        if line.kind == LineItemKind.POINT_TRANSACTION:
            messages.append(await void_point_line(session, line, reason))
    for credit in await db.credits_of(session, order.id):
        if credit.status in domain.IN_FLIGHT | domain.COUNTING:
            messages.extend(await remove_credit(session, credit, reason))
    return messages


async def cancel_order(
    session: AsyncSession, command: Incoming[CancelOrder], _: HandlerContext
) -> Accepted:
    cancelling = command.payload
    order = await db.lock_order(session, cancelling.order_id)
    if order is None:
        raise domain.OrderNotFound(domain.no_order(cancelling.order_id))
    domain.check_may_touch(
        command.envelope.actor, cancelling.order_id, order.customer_id, "cancel it"
    )
    if order.status != OrderStatus.OPEN:
        raise domain.OrderNotOpen(f"The order is {order.status}; only an open order cancels.")
    voids = await release_everything(session, order, cancelling.reason or "order cancelled")
    event = await changed(session, order.id, status=OrderStatus.CANCELLED.value)
    return Accepted(
        produced={"order_id": order.id, "status": "cancelled"}, messages=[event, *voids]
    )
