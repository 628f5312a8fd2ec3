"""Fulfillment rules, free of Kafka and SQL: which items an order needs, who may
act on them, and how a return is paid back.

**Allocation of a return.** An order's chargeable amount is its products and
deposits plus shipping and tax. It was paid by point line items, by each
store credit captured, by an external payment and by a balance left owing. A
returned product or deposit gets back, from each money source (each store
credit, the external payment, the amount owing), that source's share in
proportion to the returned units' price over the chargeable amount:

    share(source, units) = floor(source * line_amount * units / (line_quantity * chargeable))

computed on the units returned so far, so returning two units one by one gives
back exactly what returning both at once does, and all units together never
more than the line's share. Rounding is toward zero: a return never gives back
more than was paid; what rounding keeps (at most a minor unit per source and
line) stays with the order, as shipping and tax do. Points spent on point line
items come back only by returning that point line item, in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from contracts.envelope import Actor, ActorKind
from contracts.fulfillment import (
    FulfillmentItemKind,
    FulfillmentItemStatus,
    PaymentStatus,
    ReturnPartKind,
)
from contracts.order import LineItemKind, OrderCheckedOut
from shared.runtime.rules import BrokenRule


class FulfillmentError(BrokenRule):
    code = "fulfillment_error"


class Forbidden(FulfillmentError):
    code = "forbidden"


class OrderNotKnown(FulfillmentError):
    """Its OrderCheckedOut has not arrived yet (or never will): retry shortly."""

    code = "order_not_known"
    retryable = True


class ItemNotFound(FulfillmentError):
    code = "fulfillment_item_not_found"


class NotManual(FulfillmentError):
    code = "not_a_manual_item"


class ItemNotFailed(FulfillmentError):
    code = "item_not_failed"


class LineItemNotFound(FulfillmentError):
    code = "line_item_not_found"


class ReturnExists(FulfillmentError):
    code = "return_exists"


class ReturnExceedsQuantity(FulfillmentError):
    code = "return_exceeds_quantity"


class TooManyReturns(FulfillmentError):
    code = "too_many_returns"


MAX_RETURNS = 50
"""Returns per order (one per line of the largest order): the order's Fulfillment event,
returns and all, stays far below Kafka's record limit (tests/unit/test_message_bounds.py)."""
MAX_REASON = 200
"""The most of a refusal's reason an item or a return part keeps (the whole is in the
refusing service's result)."""


def brief(reason: str | None) -> str | None:
    if reason is None or len(reason) <= MAX_REASON:
        return reason
    return reason[: MAX_REASON - 1] + "…"


def check_room_for_return(returns_so_far: int) -> None:
    if returns_so_far >= MAX_RETURNS:
        raise TooManyReturns(f"An order takes at most {MAX_RETURNS} returns.")


class ItemNotFulfilled(FulfillmentError):
    """Not yet: once shipped, or once the ledger has answered, the same key may be retried."""

    code = "item_not_fulfilled"
    retryable = True


class PaymentNotCaptured(FulfillmentError):
    """The order's spends and holds are still being committed: once they are, retry."""

    code = "payment_not_captured"
    retryable = True


class PaymentFailed(FulfillmentError):
    code = "payment_failed"


class PaymentNotFailed(FulfillmentError):
    code = "payment_not_failed"


class FulfillmentCancelled(FulfillmentError):
    code = "fulfillment_cancelled"


TRUSTED = frozenset({ActorKind.ADMIN, ActorKind.SERVICE, ActorKind.SYSTEM})
ADMINS = frozenset({ActorKind.ADMIN, ActorKind.SYSTEM})


def check_admin(actor: Actor, doing: str) -> None:
    if actor.kind not in ADMINS:
        raise Forbidden(f"Only an admin may {doing}.")


# --- the payment ---------------------------------------------------------------------------

PAYMENT_KINDS = frozenset({FulfillmentItemKind.POINTS_SPENT, FulfillmentItemKind.STORE_CREDIT})
"""Items that capture what pays the order: a spend's commit, a hold's."""
CREDIT_KINDS = frozenset({FulfillmentItemKind.DEPOSIT, FulfillmentItemKind.POINTS_EARNED})
"""Items that give points: only once the payment is captured."""


class ItemState(Protocol):
    kind: str
    status: str


def payment_status(items: Sequence[ItemState], cancelled: bool) -> PaymentStatus:
    """Whether what pays the order is captured, from its capture items."""
    if cancelled:
        return PaymentStatus.CANCELLED
    statuses = {i.status for i in items if i.kind in PAYMENT_KINDS}
    if FulfillmentItemStatus.FAILED in statuses:
        return PaymentStatus.FAILED
    if statuses - {FulfillmentItemStatus.FULFILLED}:
        return PaymentStatus.CAPTURING
    return PaymentStatus.CAPTURED


def check_captured(status: PaymentStatus) -> None:
    """Nothing of an order is given before its payment is captured."""
    if status is PaymentStatus.CAPTURING:
        raise PaymentNotCaptured("The order's payment is still being captured; retry shortly.")
    if status is PaymentStatus.FAILED:
        raise PaymentFailed(
            "The order's payment could not be captured; nothing of it is given until an "
            "operator resolves it (RetryFulfillmentItem or CancelFulfillment)."
        )
    if status is PaymentStatus.CANCELLED:
        raise FulfillmentCancelled("The order's fulfillment was cancelled.")


def check_trusted(actor: Actor, doing: str) -> None:
    """Fulfilling, retrying and returning are the shop's (an admin or a service)."""
    if actor.kind not in TRUSTED:
        raise Forbidden(f"Only the shop (an admin or a service) may {doing}.")


# --- the items an order needs --------------------------------------------------------------


@dataclass(frozen=True)
class PlannedItem:
    """One fulfillment item, before it is stored. ``ref`` is unique within the order."""

    ref: str
    kind: FulfillmentItemKind
    name: str
    quantity: int
    line_item_id: str | None = None
    application_id: str | None = None
    account_id: str | None = None
    transaction_id: str | None = None
    amount: int | None = None
    unit: str | None = None

    @property
    def is_auto(self) -> bool:
        return self.kind is not FulfillmentItemKind.MANUAL


def plan_items(order: OrderCheckedOut) -> list[PlannedItem]:
    """Every item the checked-out order needs, in a stable order."""
    items: list[PlannedItem] = []
    spends = {s.line_item_id: s for s in order.pending_spends}
    deposits = {d.line_item_id: d for d in order.deposits}
    earned = {e.line_item_id: e for e in order.points_earned}
    for line in order.line_items:
        if line.kind is LineItemKind.POINT_TRANSACTION:
            spend = spends[line.line_item_id]
            items.append(
                PlannedItem(
                    ref=f"line:{line.line_item_id}",
                    kind=FulfillmentItemKind.POINTS_SPENT,
                    name=line.name,
                    quantity=1,
                    line_item_id=line.line_item_id,
                    account_id=spend.account_id,
                    transaction_id=spend.transaction_id,
                    amount=spend.amount,
                    unit=line.unit,
                )
            )
        elif line.kind is LineItemKind.DEPOSIT:
            deposit = deposits[line.line_item_id]
            items.append(
                PlannedItem(
                    ref=f"line:{line.line_item_id}",
                    kind=FulfillmentItemKind.DEPOSIT,
                    name=line.name,
                    quantity=line.quantity,
                    line_item_id=line.line_item_id,
                    account_id=deposit.account_id,
                    amount=deposit.points,
                    unit=deposit.unit,
                )
            )
        else:
            items.append(
                PlannedItem(
                    ref=f"line:{line.line_item_id}",
                    kind=FulfillmentItemKind.MANUAL,
                    name=line.name,
                    quantity=line.quantity,
                    line_item_id=line.line_item_id,
                )
            )
            earn = earned.get(line.line_item_id)
            if earn is not None:
                items.append(
                    PlannedItem(
                        ref=f"earn:{line.line_item_id}",
                        kind=FulfillmentItemKind.POINTS_EARNED,
                        name=f"{earn.points} {earn.unit} earned on {line.name}",
                        quantity=line.quantity,
                        line_item_id=line.line_item_id,
                        account_id=earn.account_id,
                        amount=earn.points,
                        unit=earn.unit,
                    )
                )
    for hold in order.holds:
        items.append(
            PlannedItem(
                ref=f"hold:{hold.application_id}",
                kind=FulfillmentItemKind.STORE_CREDIT,
                name=f"Store credit {hold.store_credit_id}",
                quantity=1,
                application_id=hold.application_id,
                account_id=hold.ledger_account_id,
                transaction_id=hold.transaction_id,
                amount=hold.capture,
            )
        )
    return items


# --- returns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoneySource:
    """What paid the order: a store credit (``credit:<application id>``), ``external``
    (the payment reported at checkout) or ``owing`` (left owing). ``amount`` >= 0."""

    source_id: str
    amount: int


@dataclass(frozen=True)
class LineToReturn:
    line_item_id: str
    kind: LineItemKind
    amount: int
    quantity: int
    returned_before: int
    points: int | None = None
    """Spent (negative), deposited or earned, for the whole line."""


@dataclass(frozen=True)
class PlannedPart:
    kind: ReturnPartKind
    amount: int
    source_id: str | None = None


def share(source: int, line_amount: int, units: int, quantity: int, chargeable: int) -> int:
    """A line's share of one money source for ``units`` of its ``quantity`` (toward zero)."""
    if chargeable <= 0 or source <= 0 or line_amount <= 0:
        return 0
    return (source * line_amount * units) // (quantity * chargeable)


def plan_return(
    line: LineToReturn,
    units: int,
    *,
    chargeable: int,
    sources: Sequence[MoneySource],
    earned_points: int | None,
    no_refund_policy: bool,
) -> list[PlannedPart]:
    """What returning ``units`` more of ``line`` gives back, part by part (no zero parts)."""
    if line.kind is LineItemKind.POINT_TRANSACTION:
        return [PlannedPart(ReturnPartKind.REVERSE_POINTS_SPENT, -(line.points or 0))]
    parts: list[PlannedPart] = []
    before, after = line.returned_before, line.returned_before + units
    for source in sources:
        amount = share(source.amount, line.amount, after, line.quantity, chargeable) - share(
            source.amount, line.amount, before, line.quantity, chargeable
        )
        if amount <= 0:
            continue
        if source.source_id.startswith("credit:"):
            kind = ReturnPartKind.RESTORE_STORE_CREDIT
        elif source.source_id == "owing":
            kind = ReturnPartKind.OWING_CANCELLED
        elif no_refund_policy:
            kind = ReturnPartKind.ISSUE_STORE_CREDIT
        else:
            kind = ReturnPartKind.REFUND_DUE
        parts.append(PlannedPart(kind, amount, source.source_id))
    if line.kind is LineItemKind.DEPOSIT and line.points:
        parts.append(
            PlannedPart(ReturnPartKind.REVERSE_DEPOSIT, line.points // line.quantity * units)
        )
    if line.kind is LineItemKind.PRODUCT and earned_points:
        per_unit = earned_points // line.quantity
        parts.append(PlannedPart(ReturnPartKind.REVERSE_POINTS_EARNED, per_unit * units))
    return parts
