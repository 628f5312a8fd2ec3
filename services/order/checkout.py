"""Checkout, a saga over the ledger: settle, bind what pays, then OrderCheckedOut, once.

1. ``CheckoutOrder`` checks, from the order's own data: the cart is open and its
   holds outlive checkout by ``STORECREDIT_CHECKOUT_MARGIN_S``; no store credit is
   still being applied; every targeted point transaction is still pending (and lasts
   as long); store credit plus the external payment cover the amount due, or the
   applied credits allow the rest to stay owing (``domain.settle``). A hold with no
   share left is voided now. The order becomes ``checking_out`` (nothing changes it
   any more) and the ledger is asked to bind each pending spend and each hold that
   pays it to the order (``BindPointTransaction``, an id per attempt and
   transaction): bound, it can no longer expire, and only this order may commit or
   void it. With nothing to bind, the order is checked out at once.
2. Every bind accepted: the order is ``checked_out`` and ``OrderCheckedOut`` is
   published, once. So once it is out, every spend and hold that pays it can be
   captured: fulfillment's commits cannot meet an expired or voided hold.
3. A bind refused (the spend was voided or committed, the hold expired), or no
   answer by ``STORECREDIT_CHECKOUT_TIMEOUT_S`` (the ``checkout-deadlines`` job):
   the order is ``open`` again with its ``checkout_failure``, and ``CheckoutFailed``
   says why. What was bound stays bound to this order, which alone may still use or
   release it (removing an item or a credit, cancelling, abandoning voids it); late
   answers to the failed attempt are ignored.

Held credits pay in the order they were applied; a hold larger than its share is
captured in part (the ledger releases the rest when fulfillment commits). Every
step locks the order row and acts only from the state it expects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import BindPointTransaction
from contracts.order import (
    AppliedCreditStatus,
    CheckoutFailed,
    CheckoutFailure,
    CheckoutOrder,
    HoldToCapture,
    LineItemKind,
    Order,
    OrderCheckedOut,
    OrderStatus,
    PendingSpendToCommit,
    PointsToCredit,
    SetOrderPaymentStatus,
)
from contracts.results import CommandResult, ResultStatus
from contracts.topics import LEDGER_COMMANDS, ORDER_EVENTS
from services.order import db, domain, views
from services.order.carts import changed, remove_credit
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.jobs import Swept, sweep
from shared.runtime.outbox import Outgoing, stable_message_id

TIMED_OUT = "checkout_timed_out"


def _points(lines: list[Any], kind: LineItemKind) -> list[PointsToCredit]:
    return [
        PointsToCredit(line_item_id=li.id, account_id=li.account_id, unit=li.unit, points=li.points)
        for li in lines
        if li.kind == kind and li.account_id is not None and li.points
    ]


async def _check_spends(
    session: AsyncSession, spends: list[Any], now: datetime, margin: timedelta
) -> None:
    """Every targeted point transaction is still pending, as the copy says, and lasts."""
    for line in spends:
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


async def _credits_paying(
    session: AsyncSession, state: views.OrderState
) -> tuple[list[Any], list[Outgoing]]:
    """The held credits with a share of what is due; the others' holds are voided now."""
    applied = state.totals.applied
    paying: list[Any] = []
    voids: list[Outgoing] = []
    for credit in state.credits:
        if credit.status != AppliedCreditStatus.HELD:
            continue
        if applied.get(credit.id, 0) > 0:
            paying.append(credit)
            continue
        voids.extend(await remove_credit(session, credit, "not needed at checkout"))
    return paying, voids


def _bind_command(order_id: str, attempt: int, account_id: str, transaction_id: str) -> Outgoing:
    bind = BindPointTransaction(
        account_id=account_id, transaction_id=transaction_id, order_id=order_id
    )
    command_id = stable_message_id(f"order:{order_id}:checkout:{attempt}", transaction_id)
    return Outgoing(LEDGER_COMMANDS, account_id, bind, message_id=command_id)


async def _ask_to_bind(
    session: AsyncSession, order_id: str, attempt: int, to_bind: list[tuple[str, str]]
) -> list[Outgoing]:
    """Step 1's end: a bind per (ledger account, transaction), recorded to be answered."""
    binds = [_bind_command(order_id, attempt, *pair) for pair in to_bind]
    await db.insert_bindings(
        session,
        [
            {
                "order_id": order_id,
                "attempt": attempt,
                "transaction_id": transaction_id,
                "account_id": account_id,
                "command_id": bind.message_id,
                "status": "binding",
            }
            for (account_id, transaction_id), bind in zip(to_bind, binds, strict=True)
        ],
    )
    return binds


async def checkout_order(
    session: AsyncSession, command: Incoming[CheckoutOrder], context: HandlerContext
) -> Accepted:
    checkout = command.payload
    actor = command.envelope.actor
    now = datetime.now(UTC)
    margin = timedelta(seconds=context.settings.checkout_margin_s)
    order = await db.lock_order(session, checkout.order_id)
    if order is None:
        raise domain.OrderNotFound(domain.no_order(checkout.order_id))
    domain.check_may_touch(actor, checkout.order_id, order.customer_id, "check it out")
    if checkout.payment is not None:
        domain.check_trusted(actor, "report a payment")
    domain.check_open(order.status, order.expires_at - margin, now)
    state = await views.load(session, order)
    spends = [li for li in state.lines if li.kind == LineItemKind.POINT_TRANSACTION]
    await _check_spends(session, spends, now, margin)
    totals = state.totals
    payment = checkout.payment
    settlement = domain.settle(totals, state.holds, payment.amount if payment else None)
    paying, voids = await _credits_paying(session, state)

    attempt = order.checkout_attempt + 1
    settled = {
        "payment": payment.model_dump(mode="json") if payment else None,
        "paid_externally": settlement.paid_externally,
        "balance_owing": settlement.balance_owing,
        "checkout_attempt": attempt,
        "checkout_failure": None,
    }
    produced = {
        "order_id": order.id,
        "attempt": attempt,
        "amount_due": totals.amount_due,
        "store_credit_applied": totals.store_credit_applied,
        "paid_externally": settlement.paid_externally,
        "balance_owing": settlement.balance_owing,
    }
    to_bind = [(li.account_id, li.transaction_id) for li in spends] + [
        (c.ledger_account_id, c.hold_transaction_id) for c in paying
    ]
    if not to_bind:
        if voids:
            state = views.OrderState(order, state.lines, await db.credits_of(session, order.id))
        out = await _checked_out(session, order, now, state, **settled)
        return Accepted(produced={**produced, "status": "checked_out"}, messages=[*out, *voids])
    binds = await _ask_to_bind(session, order.id, attempt, to_bind)
    event = await changed(
        session,
        order.id,
        lines=state.lines,
        status=OrderStatus.CHECKING_OUT.value,
        checkout_deadline=now + timedelta(seconds=context.settings.checkout_timeout_s),
        **settled,
    )
    return Accepted(
        produced={**produced, "status": "checking_out"}, messages=[event, *voids, *binds]
    )


async def _checked_out(
    session: AsyncSession,
    order: Any,
    now: datetime,
    state: views.OrderState | None = None,
    **changes: Any,
) -> list[Outgoing]:
    """Check the order out (every spend and hold that pays it is bound): its credits
    are ``captured``, ``Order`` and ``OrderCheckedOut`` say so. ``state`` is the order's
    as it is now, if the caller has it; ``changes`` go with it (the settlement, when it
    is checked out at once)."""
    if state is None:
        state = await views.load(session, order)
    totals = state.totals
    holds: list[HoldToCapture] = []
    for credit in state.credits:
        share = totals.applied.get(credit.id, 0)
        if credit.status != AppliedCreditStatus.HELD or share == 0:
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
    event = await changed(
        session,
        order.id,
        lines=state.lines,
        credits=None if holds else state.credits,
        status=OrderStatus.CHECKED_OUT.value,
        checked_out_at=now,
        checkout_deadline=None,
        **changes,
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
        deposits=_points(state.lines, LineItemKind.DEPOSIT),
        points_earned=_points(state.lines, LineItemKind.PRODUCT),
        payment=event.payload.payment,
        totals=event.payload.totals,
        checked_out_at=now,
    )
    return [event, Outgoing(ORDER_EVENTS, order.id, checked_out)]


async def _failed(
    session: AsyncSession, order: Any, code: str, reason: str, transaction_id: str | None = None
) -> list[Outgoing]:
    """The attempt failed: the order is open again, and says why."""
    failure = CheckoutFailure(attempt=order.checkout_attempt, code=code, reason=reason)
    event = await changed(
        session,
        order.id,
        status=OrderStatus.OPEN.value,
        checkout_deadline=None,
        checkout_failure=failure.model_dump(mode="json"),
        payment=None,
        paid_externally=0,
        balance_owing=0,
    )
    failed = CheckoutFailed(
        order_id=order.id,
        attempt=order.checkout_attempt,
        code=code,
        reason=reason,
        transaction_id=transaction_id,
    )
    return [event, Outgoing(ORDER_EVENTS, order.id, failed)]


async def on_bind_result(session: AsyncSession, answer: CommandResult) -> list[Outgoing]:
    """Step 2 or 3: the ledger's answer to one of a checkout's binds."""
    binding = await db.binding_by_command(session, answer.command_id)
    if binding is None:
        return []  # not ours
    order = await db.lock_order(session, binding.order_id)
    if (
        order is None
        or order.status != OrderStatus.CHECKING_OUT
        or order.checkout_attempt != binding.attempt
    ):
        return []  # an attempt that is over
    binding = await db.binding_by_command(session, answer.command_id)
    if binding is None or binding.status != "binding":
        return []  # answered before
    if answer.status is ResultStatus.REJECTED:
        await db.update_binding(
            session, answer.command_id, status="refused", code=answer.code, reason=answer.reason
        )
        code = answer.code or "refused"
        reason = f"Point transaction {binding.transaction_id}: {answer.reason or code}"
        return await _failed(session, order, code, reason, binding.transaction_id)
    await db.update_binding(session, answer.command_id, status="bound")
    attempt = await db.bindings_of(session, order.id, binding.attempt)
    if any(b.status != "bound" for b in attempt):
        return []
    return await _checked_out(session, order, datetime.now(UTC))


async def set_payment_status(
    session: AsyncSession, command: Incoming[SetOrderPaymentStatus], _: HandlerContext
) -> Accepted:
    """After checkout: fulfillment says the payment failed, was cancelled or mended."""
    news = command.payload
    domain.check_trusted(command.envelope.actor, "report a checked-out order's payment")
    order = await db.lock_order(session, news.order_id)
    if order is None:
        raise domain.OrderNotFound(f"There is no order {news.order_id}.")
    if order.status != OrderStatus.CHECKED_OUT:
        raise domain.OrderNotCheckedOut(f"The order is {order.status}, not checked out.")
    produced = {"order_id": order.id, "payment_status": news.payment_status}
    shown = await db.set_payment_status(
        session, order.id, news.payment_status, news.fulfillment_version
    )
    if shown is None:
        return Accepted(produced={**produced, "changed": False})
    return Accepted(
        produced={**produced, "changed": True},
        messages=[await views.order_event(session, shown)],
    )


async def fail_if_overdue(session: AsyncSession, order_id: str, now: datetime) -> Swept | None:
    """Step 3, by the ``checkout-deadlines`` job: the ledger did not answer in time."""
    order = await db.lock_order(session, order_id)
    if order is None or order.status != OrderStatus.CHECKING_OUT or order.checkout_deadline > now:
        return None
    messages = await _failed(
        session,
        order,
        TIMED_OUT,
        "The ledger did not bind the order's spends and holds in time; check out again.",
    )
    return Swept(
        messages,
        origin=f"checkout-timed-out:{order.id}:{order.checkout_attempt}",
        correlation_id=order.correlation_id or f"checkout:{order.id}",
    )


checkout_deadlines = sweep(
    "checkout-deadlines",
    lambda settings: settings.cart_sweep_ms / 1000,
    db.overdue_checkouts,
    fail_if_overdue,
)
