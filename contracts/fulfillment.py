"""Fulfillment service: what happens to an order after checkout, and its returns.

``OrderCheckedOut`` (on ``order.events``) becomes one fulfillment item per thing to
fulfil. Auto items are done through the ledger, manual ones by an admin:

- ``points_spent``: a point-transaction line item; its pending spend is committed
  for exactly its amount (``CommitPointTransaction``).
- ``store_credit``: a store-credit hold; committed for exactly what the order
  captures (``CommitPointTransaction`` with ``amount``; the rest is released).
- ``deposit``: a depositable product; its points are deposited, committed.
- ``points_earned``: a product that earns points; they are credited, committed.
- ``manual``: a product (goods); ``FulfillItem`` marks it fulfilled.

An auto item is ``committing`` until the ledger answers, then ``fulfilled``, or
``failed`` with the ledger's code and reason (and a ``FulfillmentItemFailed``
event); ``RetryFulfillmentItem`` sends a failed item's command again.

**No goods without money.** The order's payment is its ``points_spent`` and
``store_credit`` items (``payment_status``): ``capturing`` until the ledger has
committed each, then ``captured``; ``failed`` if one was refused. Until it is
captured nothing of the order is given: manual items cannot be fulfilled
(``payment_not_captured``, retryable; ``payment_failed`` once it failed) and the
points it deposits or earns wait, ``pending``. A failed payment is resolved by an
operator: ``RetryFulfillmentItem`` (the cause mended), or ``CancelFulfillment``,
which gives nothing and gives back what was captured (``cancelled``).

Every command fulfillment sends has a message id and an idempotency key derived
from its fulfillment item (and return), so an ``OrderCheckedOut`` delivered
twice, or a restart in the middle, never commits, deposits or reverses twice.

**Returns** (``ReturnItem``, per line item and quantity; see services/fulfillment/README.md for the
allocation rule): a point line's spend is reversed; an item's share of each
store credit that paid the order is restored to that credit; its points earned
or deposited are taken back; the share paid by other means is, under the
no-refund policy, issued as new store credit, and otherwise reported as a
refund due from the shop's payment provider. Every command is keyed by
``order_id``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from contracts.envelope import Command, Event, Identifier, Message, Part
from contracts.order import Quantity

Reason = Annotated[str, StringConstraints(max_length=500)]


class FulfillmentItemKind(StrEnum):
    MANUAL = "manual"
    POINTS_SPENT = "points_spent"
    STORE_CREDIT = "store_credit"
    DEPOSIT = "deposit"
    POINTS_EARNED = "points_earned"


class FulfillmentItemStatus(StrEnum):
    PENDING = "pending"
    """A manual item waiting for an admin's ``FulfillItem``, or points to deposit or earn
    waiting for the order's payment to be captured."""
    COMMITTING = "committing"
    """An auto item whose ledger command is sent and not yet answered."""
    FULFILLED = "fulfilled"
    FAILED = "failed"
    """The ledger refused: see ``code`` and ``reason``; ``RetryFulfillmentItem`` tries again."""
    CANCELLED = "cancelled"
    """The fulfillment was cancelled before this item was done: it never will be."""
    REVERSING = "reversing"
    """Cancelled after its capture: the ledger is asked to give the captured amount back."""
    REVERSED = "reversed"
    """Cancelled after its capture, and the captured amount given back."""


class PaymentStatus(StrEnum):
    CAPTURING = "capturing"
    """The ledger is committing the order's spends and holds: nothing ships yet."""
    CAPTURED = "captured"
    """Every spend and hold that pays the order is committed (or it had none)."""
    FAILED = "failed"
    """A capture was refused: nothing ships until an operator resolves it."""
    CANCELLED = "cancelled"
    """An operator cancelled the fulfillment (``CancelFulfillment``)."""


class ReturnPartKind(StrEnum):
    REVERSE_POINTS_SPENT = "reverse_points_spent"
    """Points spent on a point line item, given back by a reversal."""
    RESTORE_STORE_CREDIT = "restore_store_credit"
    """The item's share of a store credit, given back to that credit by a reversal."""
    REVERSE_DEPOSIT = "reverse_deposit"
    """Points a returned depositable product deposited, taken back by a reversal."""
    REVERSE_POINTS_EARNED = "reverse_points_earned"
    """Points a returned product earned, taken back by a reversal."""
    ISSUE_STORE_CREDIT = "issue_store_credit"
    """Under the no-refund policy: the share paid by other means, as new store credit."""
    REFUND_DUE = "refund_due"
    """Without it: the share paid by other means, for the shop's payment provider to refund."""
    OWING_CANCELLED = "owing_cancelled"
    """The item's share of a balance owing: no longer owed."""


class ReturnPartStatus(StrEnum):
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


class ReturnStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    """A part failed: see its code and reason."""


# --- commands ----------------------------------------------------------------------------------


class FulfillItem(Command):
    """Mark a manual fulfillment item (goods) fulfilled (admin or service)."""

    message_type: ClassVar[str] = "FulfillItem"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    fulfillment_item_id: Identifier


class RetryFulfillmentItem(Command):
    """Send a failed auto item's ledger command again, as a new attempt (admin)."""

    message_type: ClassVar[str] = "RetryFulfillmentItem"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    fulfillment_item_id: Identifier


class CancelFulfillment(Command):
    """Cancel an order's fulfillment whose payment failed (admin): nothing of it is given,
    and what was captured is given back (a reversal per captured spend or hold). What
    the order was paid by other means is the shop's to refund. Key: ``order_id``."""

    message_type: ClassVar[str] = "CancelFulfillment"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    reason: Reason = ""


class ReturnItem(Command):
    """Mark ``quantity`` of a line item returned (admin or service).

    ``return_id`` is chosen by the caller and names this return; the same
    return id twice is refused (``return_exists``), whatever its quantity.
    """

    message_type: ClassVar[str] = "ReturnItem"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier
    return_id: Identifier
    line_item_id: Identifier
    quantity: Quantity = 1
    reason: Reason = ""


# --- events --------------------------------------------------------------------------------


class FulfillmentItemView(Part):
    fulfillment_item_id: str
    kind: FulfillmentItemKind
    status: FulfillmentItemStatus
    line_item_id: str | None = Field(description="The order's line item; None for a hold.")
    application_id: str | None = Field(description="The applied store credit of a hold.")
    name: str
    quantity: int
    returned_quantity: int
    account_id: str | None = Field(description="The ledger account its command is for.")
    transaction_id: str | None = Field(
        description="The transaction committed (a spend, a hold) or created (a credit)."
    )
    amount: int | None = Field(
        description="What the ledger is asked for: points, or minor units of a store credit."
    )
    attempts: int
    code: str | None
    reason: str | None
    fulfilled_at: datetime | None


class ReturnPartView(Part):
    kind: ReturnPartKind
    status: ReturnPartStatus
    amount: int = Field(description="Points, or minor units (store credit, money), positive.")
    account_id: str | None
    transaction_id: str | None = Field(description="The transaction reversed, if any.")
    store_credit_id: str | None = Field(description="The credit restored or issued, if any.")
    code: str | None
    reason: str | None


class ReturnView(Part):
    return_id: str
    line_item_id: str
    quantity: int
    reason: str
    status: ReturnStatus
    parts: list[ReturnPartView]
    returned_at: datetime


class Fulfillment(Event):
    """An order's fulfillment, whole, after every change. Key: ``order_id``."""

    message_type: ClassVar[str] = "Fulfillment"

    order_id: str
    number: str
    customer_id: str
    currency: str
    items: list[FulfillmentItemView]
    returns: list[ReturnView]
    payment_status: PaymentStatus = Field(
        description="Whether the order's spends and holds are captured: nothing ships before."
    )
    version: int = Field(description="Increases by one with every change.")


class GetFulfillment(Message):
    """An order's fulfillment as it is now (a query): the last ``Fulfillment`` event's
    content. A customer gets only their own orders'."""

    message_type: ClassVar[str] = "GetFulfillment"
    key_field: ClassVar[str | None] = "order_id"

    order_id: Identifier


class FulfillmentFound(Message):
    message_type: ClassVar[str] = "FulfillmentFound"

    fulfillment: Fulfillment


class ListFulfillmentProblems(Message):
    """The fulfillments that need a person (a query, for admins and services; a customer
    is refused ``forbidden``): an item failed (the ledger refused its commit: a capture
    of the order's payment or points to move; see ``RetryFulfillmentItem`` and
    ``CancelFulfillment``) or a return part failed. A page at a time, by order id."""

    message_type: ClassVar[str] = "ListFulfillmentProblems"
    key_hint: ClassVar[str | None] = "any key: by custom `problems`"

    after: Identifier | None = Field(
        default=None, description="The next_after of the previous page; none: the first."
    )
    limit: int = Field(default=20, ge=1, le=100)


class FulfillmentProblems(Message):
    message_type: ClassVar[str] = "FulfillmentProblems"

    fulfillments: list[Fulfillment] = Field(
        description="Whole, as GetFulfillment answers them: the failed items and parts "
        "carry their code and reason."
    )
    next_after: str | None = Field(description="Ask again with it for the next page.")


class FulfillmentItemFailed(Event):
    """The ledger refused an auto item's command: operators should look. Key: ``order_id``."""

    message_type: ClassVar[str] = "FulfillmentItemFailed"

    order_id: str
    fulfillment_item_id: str
    kind: FulfillmentItemKind
    code: str
    reason: str
    attempt: int


class ReturnPartFailed(Event):
    """A part of a return could not be done: operators should look. Key: ``order_id``."""

    message_type: ClassVar[str] = "ReturnPartFailed"

    order_id: str
    return_id: str
    kind: ReturnPartKind
    amount: int
    code: str
    reason: str
