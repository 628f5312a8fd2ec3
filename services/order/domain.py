"""Order rules: who may do what, money from points, totals, what settles a checkout.

Pure: no Kafka, no SQL. Money is in minor units of the order's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Context, Decimal

from contracts.envelope import Actor, ActorKind
from contracts.order import AppliedCreditStatus, LineItemKind, OrderStatus
from shared.runtime.rules import BrokenRule


class OrderError(BrokenRule):
    code = "order_error"


class Forbidden(OrderError):
    code = "forbidden"


class OrderExists(OrderError):
    code = "order_exists"


class OrderNotFound(OrderError):
    code = "order_not_found"


class OrderNotOpen(OrderError):
    code = "order_not_open"


class OrderNotCheckedOut(OrderError):
    code = "order_not_checked_out"


class CartExpired(OrderError):
    code = "cart_expired"


class LineItemExists(OrderError):
    code = "line_item_exists"


class LineItemNotFound(OrderError):
    code = "line_item_not_found"


class AccountNotFound(OrderError):
    """The account is not known here (yet): its copy may still be on its way."""

    code = "account_not_found"
    retryable = True


class AccountNotUsable(OrderError):
    code = "account_not_usable"


class NoExchangeRate(OrderError):
    code = "no_exchange_rate"


class TransactionNotFound(OrderError):
    """The pending transaction is not known here (yet): the ledger's event may be on its way."""

    code = "transaction_not_found"
    retryable = True


class TransactionNotPending(OrderError):
    code = "transaction_not_pending"


class TransactionAlreadyTargeted(OrderError):
    """A pending transaction pays for one order only, once: it was used before."""

    code = "transaction_already_targeted"


class NotASpend(OrderError):
    code = "not_a_spend"


class TransactionExpiresTooSoon(OrderError):
    code = "transaction_expires_too_soon"


class ApplicationExists(OrderError):
    code = "application_exists"


class ApplicationNotFound(OrderError):
    code = "application_not_found"


class NothingDue(OrderError):
    code = "nothing_due"


class StoreCreditPending(OrderError):
    """A credit is still being applied: once it is held or refused, the same key may succeed."""

    code = "store_credit_pending"
    retryable = True


class TooManyLineItems(OrderError):
    code = "too_many_line_items"


class TooManyStoreCredits(OrderError):
    code = "too_many_store_credits"


class AmountTooLarge(OrderError):
    code = "amount_too_large"


class NegativeTotal(OrderError):
    code = "negative_total"


class PaymentExceedsAmountDue(OrderError):
    code = "payment_exceeds_amount_due"


class AmountNotCovered(OrderError):
    code = "amount_not_covered"


# --- bounds ----------------------------------------------------------------------------------

MAX_LINE_ITEMS = 50
"""Line items per order: every event about the order stays far below Kafka's record limit,
and building a whole cart line by line republishes well under a megabyte of ``Order``
events (each is the whole order: about 15 kB at 50 typical lines, 40 kB at the longest)."""
MAX_APPLIED_CREDITS = 10
"""Store-credit applications per order, refused and removed ones included."""
MAX_AMOUNT = 10**15
"""The most any line item or total may be, in minor units (and the most points a line moves)."""


def check_room_for_line(lines_now: int) -> None:
    if lines_now >= MAX_LINE_ITEMS:
        raise TooManyLineItems(f"An order holds at most {MAX_LINE_ITEMS} line items.")


def check_room_for_credit(applications_now: int) -> None:
    if applications_now >= MAX_APPLIED_CREDITS:
        raise TooManyStoreCredits(
            f"An order takes at most {MAX_APPLIED_CREDITS} store-credit applications."
        )


def bounded(amount: int, what: str) -> int:
    """``amount`` if its size is within :data:`MAX_AMOUNT`, else AmountTooLarge."""
    if abs(amount) > MAX_AMOUNT:
        raise AmountTooLarge(f"{what} would be {abs(amount)}; at most {MAX_AMOUNT} is taken.")
    return amount


# --- who may do what ---------------------------------------------------------------------------

TRUSTED = frozenset({ActorKind.ADMIN, ActorKind.SERVICE, ActorKind.SYSTEM})


def check_customer_or_trusted(actor: Actor, customer_id: str, doing: str) -> None:
    """The order's own customer, or the shop (admin, service, system)."""
    if actor.kind in TRUSTED:
        return
    if actor.kind is ActorKind.CUSTOMER and actor.id == customer_id:
        return
    raise Forbidden(f"Only the order's customer or the shop may {doing}.")


def check_may_touch(actor: Actor, order_id: str, customer_id: str, doing: str) -> None:
    """As :func:`check_customer_or_trusted`, for an order that exists: to another
    customer it does not, the same answer as for none."""
    if actor.kind is ActorKind.CUSTOMER and actor.id != customer_id:
        raise OrderNotFound(no_order(order_id))
    check_customer_or_trusted(actor, customer_id, doing)


def no_order(order_id: str) -> str:
    """The one sentence for an order that is not there, or not the asker's."""
    return f"There is no order {order_id}."


def check_trusted(actor: Actor, doing: str) -> None:
    """Prices, shipping, tax and payments come from the shop, never from a customer."""
    if actor.kind not in TRUSTED:
        raise Forbidden(f"Only the shop (an admin or a service) may {doing}.")


def check_open(status: str, expires_at: datetime, now: datetime) -> None:
    if status != OrderStatus.OPEN:
        raise OrderNotOpen(f"The order is {status}; only an open order changes.")
    if now >= expires_at:
        raise CartExpired("The cart has expired; its holds are released.")


# --- money from points -------------------------------------------------------------------------

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_WIDE = Context(prec=80)


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point of a currency (ISO 4217); 2 unless listed."""
    return _EXPONENTS.get(currency, 2)


def money_for_points(points: int, rate: Decimal, currency: str) -> int:
    """What ``points`` are worth, in minor units, rounded toward zero (never more).

    ``rate`` is the money (major units) one point is worth. Computed with 80
    significant digits, so no intermediate rounding happens before the last.
    """
    scale = Decimal(10) ** minor_unit_exponent(currency)
    exact = _WIDE.multiply(_WIDE.multiply(Decimal(points), rate), scale)
    return int(exact.to_integral_value(rounding=ROUND_DOWN))


# --- totals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineAmount:
    kind: LineItemKind
    amount: int


@dataclass(frozen=True)
class CreditHold:
    application_id: str
    status: AppliedCreditStatus
    held: int
    allow_balance_owing: bool


@dataclass(frozen=True)
class OrderTotals:
    subtotal: int
    points_value: int
    shipping: int
    tax: int
    total: int
    applied: dict[str, int]
    """Per application id: what of its hold pays this order."""
    store_credit_applied: int
    amount_due: int


COUNTING = frozenset({AppliedCreditStatus.HELD, AppliedCreditStatus.CAPTURED})
IN_FLIGHT = frozenset({AppliedCreditStatus.REQUESTED, AppliedCreditStatus.HOLDING})


def compute_totals(
    lines: Iterable[LineAmount], shipping: int, tax: int, credits: Sequence[CreditHold]
) -> OrderTotals:
    """Totals, with held credits applied in the order they were applied.

    Each credit pays min(its hold, what is still due): when items were
    removed after a credit was applied, a later credit may pay nothing and an
    earlier one only part of its hold (checkout captures that part; the rest
    of the hold is released).
    """
    lines = list(lines)
    subtotal = sum(li.amount for li in lines if li.kind is not LineItemKind.POINT_TRANSACTION)
    points_value = sum(li.amount for li in lines if li.kind is LineItemKind.POINT_TRANSACTION)
    total = subtotal + points_value + shipping + tax
    remaining = max(total, 0)
    applied: dict[str, int] = {}
    for credit in credits:
        if credit.status in COUNTING:
            share = min(credit.held, remaining)
            applied[credit.application_id] = share
            remaining -= share
    store_credit_applied = sum(applied.values())
    return OrderTotals(
        subtotal=subtotal,
        points_value=points_value,
        shipping=shipping,
        tax=tax,
        total=total,
        applied=applied,
        store_credit_applied=store_credit_applied,
        amount_due=total - store_credit_applied,
    )


def still_to_cover(totals: OrderTotals, credits: Sequence[CreditHold]) -> int:
    """What a newly applied credit should hold: due minus what credits in flight may hold."""
    in_flight = sum(c.held for c in credits if c.status in IN_FLIGHT)
    return totals.amount_due - in_flight


@dataclass(frozen=True)
class CreditRoom:
    """A held credit, and how much more it could hold (what store-credit said was
    available when it was authorized, less its hold)."""

    application_id: str
    status: AppliedCreditStatus
    held: int
    room: int


def resized_holds(totals: OrderTotals, credits: Sequence[CreditRoom]) -> dict[str, int]:
    """New holds for held credits with room, in the order they were applied, so that
    what they hold covers what is due (as far as their room goes). Nothing while a
    credit is in flight: one step at a time."""
    if any(c.status in IN_FLIGHT for c in credits):
        return {}
    shortfall = totals.amount_due
    resized: dict[str, int] = {}
    for credit in credits:
        if shortfall <= 0:
            break
        if credit.status is not AppliedCreditStatus.HELD or credit.room <= 0:
            continue
        extra = min(credit.room, shortfall)
        resized[credit.application_id] = credit.held + extra
        shortfall -= extra
    return resized


@dataclass(frozen=True)
class Settlement:
    paid_externally: int
    balance_owing: int


def settle(
    totals: OrderTotals, credits: Sequence[CreditHold], payment_amount: int | None
) -> Settlement:
    """How the amount due is paid at checkout, or why it cannot be.

    The external payment may not exceed the amount due. What it leaves unpaid
    may stay owing only when store credit was applied and every applied credit
    allows a balance owing; it is recorded on the order (``balance_owing``) for
    the shop to collect, not in the ledger.
    """
    if any(c.status in IN_FLIGHT for c in credits):
        raise StoreCreditPending(
            "A store credit is still being applied; wait for it to be held or refused."
        )
    if totals.total < 0:
        raise NegativeTotal("Points pay for more than the order costs; remove some.")
    paid = payment_amount or 0
    if paid > totals.amount_due:
        raise PaymentExceedsAmountDue(
            f"The payment ({paid}) is more than the amount due ({totals.amount_due})."
        )
    rest = totals.amount_due - paid
    if rest == 0:
        return Settlement(paid_externally=paid, balance_owing=0)
    paying = [c for c in credits if totals.applied.get(c.application_id, 0) > 0]
    if paying and all(c.allow_balance_owing for c in paying):
        return Settlement(paid_externally=paid, balance_owing=rest)
    raise AmountNotCovered(
        f"{rest} is still due: add a payment for it, or apply store credit that covers it."
    )


def holds_last_long_enough(expires_at: datetime | None, now: datetime, margin: timedelta) -> bool:
    """A hold must outlive checkout by ``margin``, so fulfillment can commit it in time."""
    return expires_at is None or expires_at - margin > now
