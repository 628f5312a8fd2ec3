"""CheckoutOrder (a thin handler): settle the amount due, then OrderCheckedOut, once.

Checks, from the order's own data: the cart is open and its holds outlive
checkout by ``STORECREDIT_CHECKOUT_MARGIN_S``; no store credit is still being
applied; every targeted point transaction is still pending (and lasts as
long); store credit plus the external payment cover the amount due, or the
applied credits allow the rest to stay owing (``domain.settle``).

Held credits pay in the order they were applied; a hold larger than its share
is captured in part (the ledger releases the rest when fulfillment commits);
a hold with no share left is voided now. The order becomes ``checked_out``
under its row lock, so a second checkout is refused (``order_not_open``) and a
retry of the first gets its result again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import (
    AppliedCreditStatus,
    CheckoutOrder,
    HoldToCapture,
    LineItemKind,
    Order,
    OrderCheckedOut,
    OrderStatus,
    PaymentView,
    PendingSpendToCommit,
    PointsToCredit,
)
from contracts.topics import ORDER_EVENTS
from services.order import db, domain, views
from services.order.carts import changed, void_hold
from shared.codec import Incoming
from shared.commands import Accepted, HandlerContext
from shared.outbox import Outgoing


def _points(line: Any) -> PointsToCredit:
    return PointsToCredit(
        line_item_id=line.id, account_id=line.account_id, unit=line.unit, points=line.points
    )


async def checkout_order(
    session: AsyncSession, command: Incoming[CheckoutOrder], context: HandlerContext
) -> Accepted:
    c = command.payload
    actor = command.envelope.actor
    now = datetime.now(UTC)
    margin = timedelta(seconds=context.settings.checkout_margin_s)
    order = await db.lock_order(session, c.order_id)
    if order is None:
        raise domain.OrderNotFound(f"There is no order {c.order_id}.")
    domain.check_customer_or_trusted(actor, order.customer_id, "check it out")
    if c.payment is not None:
        domain.check_trusted(actor, "report a payment")
    domain.check_open(order.status, order.expires_at - margin, now)
    state = await views.load(session, order)
    for line in state.lines:
        if line.kind != LineItemKind.POINT_TRANSACTION:
            continue
        transaction = await db.get_pending_transaction(session, line.transaction_id)
        if transaction is None or transaction.status != "pending":
            status = transaction.status if transaction else "unknown"
            raise domain.TransactionNotPending(
                f"Line item {line.id}: its point transaction is {status}; remove the item."
            )
        if not domain.holds_last_long_enough(transaction.expires_at, now, margin):
            raise domain.TransactionExpiresTooSoon(
                f"Line item {line.id}: its point transaction expires too soon."
            )
    totals = state.totals
    settlement = domain.settle(
        totals, state.holds, c.payment.amount if c.payment is not None else None
    )

    holds: list[HoldToCapture] = []
    messages: list[Outgoing] = []
    for credit in state.credits:
        if credit.status != AppliedCreditStatus.HELD:
            continue
        share = totals.applied.get(credit.id, 0)
        if share == 0:
            messages.append(void_hold(credit, "not needed at checkout"))
            await db.update_credit(
                session, order.id, credit.id, status=AppliedCreditStatus.REMOVED.value, held=0
            )
            continue
        holds.append(
            HoldToCapture(
                application_id=credit.id,
                store_credit_id=credit.store_credit_id,
                ledger_account_id=credit.ledger_account_id,
                transaction_id=credit.hold_transaction_id,
                held=-credit.held,
                capture=-share,
            )
        )
        await db.update_credit(
            session, order.id, credit.id, status=AppliedCreditStatus.CAPTURED.value
        )
    payment = (
        PaymentView(
            provider_reference_name=c.payment.provider_reference_name,
            token=c.payment.token,
            amount=c.payment.amount,
        )
        if c.payment is not None
        else None
    )
    credits_changed = any(c.status == AppliedCreditStatus.HELD for c in state.credits)
    event = await changed(
        session,
        order.id,
        lines=state.lines,
        credits=None if credits_changed else state.credits,
        status=OrderStatus.CHECKED_OUT.value,
        checked_out_at=now,
        payment=payment.model_dump(mode="json") if payment else None,
        paid_externally=settlement.paid_externally,
        balance_owing=settlement.balance_owing,
    )
    assert isinstance(event.payload, Order)  # the order as checked out, with its totals
    checked_out = OrderCheckedOut(
        order_id=order.id,
        number=order.number,
        customer_id=order.customer_id,
        currency=order.currency,
        line_items=[views.line_view(li) for li in state.lines],
        pending_spends=[
            PendingSpendToCommit(
                line_item_id=li.id,
                account_id=li.account_id,
                transaction_id=li.transaction_id,
                amount=li.points,
            )
            for li in state.lines
            if li.kind == LineItemKind.POINT_TRANSACTION
        ],
        holds=holds,
        deposits=[
            PointsToCredit(
                line_item_id=li.id, account_id=li.account_id, unit=li.unit, points=li.points
            )
            for li in state.lines
            if li.kind == LineItemKind.DEPOSIT
        ],
        points_earned=[
            PointsToCredit(
                line_item_id=li.id, account_id=li.account_id, unit=li.unit, points=li.points
            )
            for li in state.lines
            if li.kind == LineItemKind.PRODUCT and li.account_id is not None and li.points
        ],
        payment=payment,
        totals=event.payload.totals,
        checked_out_at=now,
    )
    return Accepted(
        produced={
            "order_id": order.id,
            "status": "checked_out",
            "amount_due": totals.amount_due,
            "store_credit_applied": totals.store_credit_applied,
            "paid_externally": settlement.paid_externally,
            "balance_owing": settlement.balance_owing,
        },
        messages=[event, Outgoing(ORDER_EVENTS, order.id, checked_out), *messages],
    )
