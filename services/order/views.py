"""The order as others see it: the ``Order`` event and query answer, from its rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import (
    AppliedCreditStatus,
    AppliedCreditView,
    CheckoutFailure,
    LineItemKind,
    LineItemView,
    Order,
    OrderStatus,
    PaymentView,
    Totals,
)
from contracts.topics import ORDER_EVENTS
from services.order import db, domain
from shared.runtime.outbox import Outgoing


def payment_view(payment: dict[str, Any]) -> PaymentView:
    """What may be shown of a payment: the token stays in the order's row."""
    token = str(payment.get("token") or "")
    return PaymentView(
        provider_reference_name=payment["provider_reference_name"],
        amount=payment["amount"],
        reference=payment.get("reference") or "******" + token[-4:],
    )


def _in_flight_or_held(credit: Any) -> int:
    """What a credit holds, or will once the ledger answers (asked for, or resized to)."""
    if credit.status == AppliedCreditStatus.REQUESTED:
        return int(credit.requested)
    if credit.replacing_amount is not None:
        return int(credit.replacing_amount)
    return int(credit.held)


@dataclass(frozen=True)
class OrderState:
    """An order's row with its line items and applied credits, as read together."""

    order: Any
    lines: list[Any]
    credits: list[Any]

    @property
    def holds(self) -> list[domain.CreditHold]:
        return [
            domain.CreditHold(
                application_id=c.id,
                status=AppliedCreditStatus(c.status),
                held=_in_flight_or_held(c),
                allow_balance_owing=c.allow_balance_owing,
            )
            for c in self.credits
        ]

    @property
    def totals(self) -> domain.OrderTotals:
        return domain.compute_totals(
            (domain.LineAmount(LineItemKind(li.kind), li.amount) for li in self.lines),
            self.order.shipping,
            self.order.tax,
            self.holds,
        )


async def load(session: AsyncSession, order: Any) -> OrderState:
    lines, credits = await db.parts_of(session, order.id)
    return OrderState(order=order, lines=lines, credits=credits)


def line_view(li: Any) -> LineItemView:
    return LineItemView(
        line_item_id=li.id,
        kind=LineItemKind(li.kind),
        sku=li.sku,
        name=li.name,
        unit_price=li.unit_price,
        quantity=li.quantity,
        amount=li.amount,
        account_id=li.account_id,
        unit=li.unit,
        points=li.points,
        transaction_id=li.transaction_id,
        exchange_rate=li.exchange_rate,
    )


def totals_view(state: OrderState) -> Totals:
    t = state.totals
    return Totals(
        subtotal=t.subtotal,
        points_value=t.points_value,
        shipping=t.shipping,
        tax=t.tax,
        total=t.total,
        store_credit_applied=t.store_credit_applied,
        amount_due=t.amount_due,
        paid_externally=state.order.paid_externally,
        balance_owing=state.order.balance_owing,
    )


def credit_view(c: Any, applied: dict[str, int]) -> AppliedCreditView:
    return AppliedCreditView(
        application_id=c.id,
        status=AppliedCreditStatus(c.status),
        store_credit_id=c.store_credit_id,
        name=c.name,
        code=c.code,
        hold_transaction_id=c.hold_transaction_id,
        ledger_account_id=c.ledger_account_id,
        held=c.held,
        applied=applied.get(c.id, 0),
        allow_balance_owing=c.allow_balance_owing,
        refusal_code=c.refusal_code,
        refusal_reason=c.refusal_reason,
    )


def order_view(state: OrderState) -> Order:
    o = state.order
    applied = state.totals.applied
    return Order(
        order_id=o.id,
        number=o.number,
        customer_id=o.customer_id,
        currency=o.currency,
        status=OrderStatus(o.status),
        line_items=[line_view(li) for li in state.lines],
        applied_credits=[credit_view(c, applied) for c in state.credits],
        totals=totals_view(state),
        shipping_description=o.shipping_description,
        tax_description=o.tax_description,
        payment=payment_view(o.payment) if o.payment else None,
        expires_at=o.expires_at,
        checked_out_at=o.checked_out_at,
        checkout_failure=(
            CheckoutFailure.model_validate(o.checkout_failure) if o.checkout_failure else None
        ),
        payment_status=o.payment_status,
        version=o.version,
    )


async def order_event(
    session: AsyncSession,
    order: Any,
    *,
    lines: list[Any] | None = None,
    credits: list[Any] | None = None,
) -> Outgoing:
    """The ``Order`` event of ``order`` (its row as it is after the change).

    ``lines`` and ``credits`` are the order's line items and applied credits when the
    caller has them as they are now; whatever is not given is read.
    """
    if lines is None and credits is None:
        lines, credits = await db.parts_of(session, order.id)
    state = OrderState(
        order=order,
        lines=await db.lines_of(session, order.id) if lines is None else lines,
        credits=await db.credits_of(session, order.id) if credits is None else credits,
    )
    return Outgoing(ORDER_EVENTS, order.id, order_view(state))
