"""Order service: carts with line items, store credit applied, checkout.

Money is in minor units of the order's currency (integers); points are
integers in the unit of their account. Every command is keyed by ``order_id``.

A point-transaction line item is worth its points at the account's exchange
rate for the order's currency, rounded toward zero to a whole minor unit:
``-3000`` points at ``0.01`` USD are ``-30.00`` USD, ``-3000`` cents;
``-3001`` points at ``0.0033`` USD are ``-9.9033`` USD, ``-990`` cents. Points
never pay for more than they are worth.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from contracts.envelope import (
    Command,
    Event,
    Identifier,
    Message,
    Part,
    SealedCode,
    exactly_one_of,
)
from contracts.ledger import INT64_MAX, Unit
from contracts.store_credit import Currency

Money = Annotated[int, Field(strict=True, ge=0, le=10**15)]
PositiveMoney = Annotated[int, Field(strict=True, ge=1, le=10**15)]
Quantity = Annotated[int, Field(strict=True, ge=1, le=100_000)]
Points = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
CodeText = Annotated[str, StringConstraints(min_length=12, max_length=40)]


class OrderStatus(StrEnum):
    OPEN = "open"
    CHECKING_OUT = "checking_out"
    """Checkout asked the ledger to bind every spend and hold that pays the order; it
    becomes ``checked_out`` once all are bound, or ``open`` again (``checkout_failure``)."""
    CHECKED_OUT = "checked_out"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"


class LineItemKind(StrEnum):
    PRODUCT = "product"
    DEPOSIT = "deposit"
    POINT_TRANSACTION = "point_transaction"


class AppliedCreditStatus(StrEnum):
    REQUESTED = "requested"
    """Sent to the store-credit service, which checks the code and the credit."""
    HOLDING = "holding"
    """Authorized; the ledger is asked to hold the amount."""
    HELD = "held"
    """The ledger holds the amount: it counts against the amount due."""
    REFUSED = "refused"
    """Refused by the store-credit service or the ledger: see ``code`` and ``reason``."""
    REMOVED = "removed"
    """Removed from the order (or the order cancelled or abandoned): the hold is voided."""
    EXPIRED = "expired"
    """The ledger voided the hold (it expired): apply the credit again."""
    CAPTURED = "captured"
    """The order was checked out with it: fulfillment commits the hold."""


# --- commands ----------------------------------------------------------------------------------


class CreateOrder(Command):
    """Open a cart (a customer for themselves, or a service). Key: ``order_id``."""

    message_type: ClassVar[str] = "CreateOrder"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    customer_id: Identifier
    currency: Currency
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        default=None, description="The shop's order number; default: made from the id."
    )


class EarnPoints(Part):
    """Points a product earns per unit bought, into the customer's account of ``unit``."""

    unit: Unit = Field(examples=["points:loyalty"])
    points_per_unit: Points


class AddProductLineItem(Command):
    """A product, at its price; with points earned once the order is checked out."""

    message_type: ClassVar[str] = "AddProductLineItem"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    line_item_id: Identifier
    sku: Text
    name: Text
    unit_price: Money
    quantity: Quantity = 1
    earn: EarnPoints | None = None


class AddDepositLineItem(Command):
    """A depositable product: paying its price deposits points into one of the
    customer's accounts once the order is checked out."""

    message_type: ClassVar[str] = "AddDepositLineItem"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    line_item_id: Identifier
    sku: Text
    name: Text
    unit_price: Money
    quantity: Quantity = 1
    account_id: Identifier
    points_per_unit: Points


class AddPointTransactionLineItem(Command):
    """Pay with points: target a pending spend the customer created on their own
    account; its money value follows from the account's exchange rate. One line
    item per pending transaction. Removing the line item voids the transaction."""

    message_type: ClassVar[str] = "AddPointTransactionLineItem"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    line_item_id: Identifier
    transaction_id: Identifier


class RemoveLineItem(Command):
    message_type: ClassVar[str] = "RemoveLineItem"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    line_item_id: Identifier


class SetOrderCharges(Command):
    """Shipping and tax, as the shop computed them (the platform does not)."""

    message_type: ClassVar[str] = "SetOrderCharges"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    shipping: Money = 0
    shipping_description: str = Field(default="", max_length=200)
    tax: Money = 0
    tax_description: str = Field(default="", max_length=200)


class ApplyStoreCredit(Command):
    """Apply a store credit: by its code, its token, or (a customer's own) its id.

    Accepted means asked: the store-credit service checks the credit and the
    ledger holds min(available, amount due). The outcome is the applied
    credit's status in the next ``Order`` events (``held``, or ``refused`` with a
    code). A code comes sealed by the customer's storefront for the store-credit
    service alone (``sealed_code``, sealed by this command's actor) and is passed
    on as it is; a clear ``code`` is refused ``code_not_sealed``.
    """

    message_type: ClassVar[str] = "ApplyStoreCredit"
    key_field: ClassVar[str | None] = "order_id"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"sealed_code"})
    sealed_instead: ClassVar[dict[str, str]] = {"code": "sealed_code"}

    order_id: Identifier
    application_id: Identifier
    sealed_code: SealedCode | None = None
    token: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    store_credit_id: Identifier | None = None

    _one_way = exactly_one_of("sealed_code", "token", "store_credit_id")


class RemoveStoreCredit(Command):
    """Take an applied store credit off the order; its hold is voided."""

    message_type: ClassVar[str] = "RemoveStoreCredit"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    application_id: Identifier


class ExternalPayment(Part):
    """The remainder, paid through another payment provider, as upstream reports it.

    The token stays with the order (its database): events and views carry the
    provider, the amount and ``reference`` instead.
    """

    provider_reference_name: Text = Field(examples=["Stripe-USD"])
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        examples=["tok_1DFSimLjwcuEFMMJEh7zFLrq"]
    )
    amount: PositiveMoney
    reference: Text | None = Field(
        default=None,
        description=(
            "A non-secret id of the payment (the provider's charge id, say), shown in "
            "events and views; default: the token's last four characters, masked."
        ),
        examples=["ch_3MmlLrLkdIwHu7ix0snN0B15"],
    )


class CheckoutOrder(Command):
    """Check the order out: store credit held, plus ``payment`` for any remainder.

    Accepted means begun: every pending spend and store-credit hold that pays the
    order is first bound to it in the ledger (it can no longer expire, or be voided
    by anyone but this order), so what pays for the order can always be captured.
    Then ``OrderCheckedOut`` follows, once per order; or, if a spend or hold can no
    longer be bound (voided, expired) or the ledger does not answer in time,
    ``CheckoutFailed`` and the order is ``open`` again (check it out with a new
    idempotency key once the cause is mended). With nothing to bind (a card or a
    balance owing pays it all) the order is checked out at once.
    """

    message_type: ClassVar[str] = "CheckoutOrder"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    payment: ExternalPayment | None = None


class SetOrderPaymentStatus(Command):
    """Fulfillment's word on a checked-out order's payment when something went wrong
    (``failed``, ``cancelled``) or was mended (``captured`` after a failure), shown on
    the order (service only; the fulfillment service sends it). A status older than
    the one shown (``fulfillment_version``) changes nothing."""

    message_type: ClassVar[str] = "SetOrderPaymentStatus"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    payment_status: Literal["captured", "failed", "cancelled"]
    fulfillment_version: Annotated[int, Field(strict=True, ge=1)]


class CancelOrder(Command):
    """Cancel an open order: its holds and targeted point transactions are voided."""

    message_type: ClassVar[str] = "CancelOrder"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    reason: str = Field(default="", max_length=200)


# --- views and events -------------------------------------------------------------------------


class LineItemView(Part):
    line_item_id: str
    kind: LineItemKind
    sku: str | None
    name: str
    unit_price: int | None
    quantity: int
    amount: int = Field(description="Money, minor units; negative for points spent.")
    account_id: str | None = Field(description="Points: spent from, deposited to, earned in.")
    unit: str | None
    points: int | None = Field(
        description="Spent (negative), deposited or earned in total (positive)."
    )
    transaction_id: str | None = Field(description="The pending spend a point line targets.")
    exchange_rate: str | None = Field(description="Money per point used, an exact decimal.")


class AppliedCreditView(Part):
    application_id: str
    status: AppliedCreditStatus
    store_credit_id: str | None
    name: str | None
    code: str | None = Field(description="Masked: ******5744.")
    hold_transaction_id: str | None
    ledger_account_id: str | None
    held: int = Field(description="What the ledger holds (minor units).")
    applied: int = Field(description="What of it pays this order (min of held and what is due).")
    allow_balance_owing: bool
    refusal_code: str | None
    refusal_reason: str | None


class PaymentView(Part):
    """A payment as events and views show it: never its token."""

    provider_reference_name: str
    amount: int
    reference: str = Field(
        description="The payment's reference, else its token masked: ******rq7X.",
        examples=["ch_3MmlLrLkdIwHu7ix0snN0B15", "******FLrq"],
    )


class Totals(Part):
    subtotal: int = Field(description="Products and deposits.")
    points_value: int = Field(description="Point line items, negative.")
    shipping: int
    tax: int
    total: int = Field(description="subtotal + points_value + shipping + tax.")
    store_credit_applied: int
    amount_due: int = Field(description="total - store_credit_applied.")
    paid_externally: int
    balance_owing: int = Field(
        description="What the customer still owes after checkout (credits allowing it)."
    )


class CheckoutFailure(Part):
    """Why the last checkout attempt did not complete."""

    attempt: int
    code: str = Field(examples=["transaction_not_pending", "checkout_timed_out"])
    reason: str


class Order(Event):
    """The order as it is now, after any change. Key: ``order_id``."""

    message_type: ClassVar[str] = "Order"

    order_id: str
    number: str
    customer_id: str
    currency: str
    status: OrderStatus
    line_items: list[LineItemView]
    applied_credits: list[AppliedCreditView]
    totals: Totals
    shipping_description: str
    tax_description: str
    payment: PaymentView | None
    expires_at: datetime
    checked_out_at: datetime | None
    checkout_failure: CheckoutFailure | None = Field(
        default=None, description="Set when the last checkout attempt failed (order open)."
    )
    payment_status: str | None = Field(
        default=None,
        description=(
            "Fulfillment's word (SetOrderPaymentStatus) on a checked-out order's payment "
            "when something went wrong: failed (nothing ships until an operator resolves "
            "it), cancelled, or captured once a failure was mended. None while all is well."
        ),
        examples=["captured"],
    )
    version: int


class PendingSpendToCommit(Part):
    line_item_id: str
    account_id: str
    transaction_id: str
    amount: int = Field(description="Points, negative: commit exactly this.")


class HoldToCapture(Part):
    application_id: str
    store_credit_id: str
    ledger_account_id: str
    transaction_id: str
    held: int
    capture: int = Field(
        description="Commit this much of the hold (negative); the rest is released."
    )


class PointsToCredit(Part):
    line_item_id: str
    account_id: str
    unit: str
    points: int


class OrderCheckedOut(Event):
    """An order was checked out; fulfillment takes it from here. Once per order.

    Amounts to commit are negative (spends); deposits and earned points are
    positive and still to be created, committed, by fulfillment.
    """

    message_type: ClassVar[str] = "OrderCheckedOut"

    order_id: str
    number: str
    customer_id: str
    currency: str
    line_items: list[LineItemView]
    pending_spends: list[PendingSpendToCommit]
    holds: list[HoldToCapture]
    deposits: list[PointsToCredit]
    points_earned: list[PointsToCredit]
    payment: PaymentView | None
    totals: Totals
    checked_out_at: datetime


class CheckoutFailed(Event):
    """A checkout did not complete; the order is open again. Key: ``order_id``.

    ``code`` is the ledger's refusal of a spend or hold (``not_pending``,
    ``hold_expired``, ...) or ``checkout_timed_out``; ``transaction_id`` names the
    spend or hold when one was refused.
    """

    message_type: ClassVar[str] = "CheckoutFailed"

    order_id: str
    attempt: int
    code: str
    reason: str
    transaction_id: str | None = None


# --- queries ----------------------------------------------------------------------------------


class GetOrder(Message):
    """The whole order (a query), like the seed's Order.Get."""

    message_type: ClassVar[str] = "GetOrder"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier


class OrderFound(Message):
    message_type: ClassVar[str] = "OrderFound"

    order: Order
