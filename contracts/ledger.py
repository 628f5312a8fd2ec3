"""Ledger commands and events.

Amounts are integers: points, or minor units of a currency. A unit names
what is counted (``points:loyalty``, ``USD``); postings never mix units.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from contracts.envelope import Command, Event, Identifier, Message, Moment, Part, References

INT64_MAX = 2**63 - 1
MAX_METADATA_BYTES = 4_096

Unit = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
Amount = Annotated[int, Field(strict=True, ge=-INT64_MAX, le=INT64_MAX)]
Magnitude = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]


class PointTransactionKind(StrEnum):
    DEPOSIT = "deposit"
    SPEND = "spend"
    EARN = "earn"
    REFUND = "refund"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    EXPIRY = "expiry"


class PointTransactionStatus(StrEnum):
    PENDING = "pending"
    COMMITTED = "committed"
    VOIDED = "voided"


class VoidReason(StrEnum):
    REQUESTED = "requested"
    EXPIRED = "expired"
    REPLACED = "replaced"
    """By ``ReplacePointTransaction``: a new pending transaction holds instead."""


# --- commands ------------------------------------------------------------------------------


class OpenLedgerAccount(Command):
    """Open a customer ledger account. Key: ``account_id``. Admin or service only."""

    message_type: ClassVar[str] = "OpenLedgerAccount"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier = Field(description="Chosen by the caller; the Kafka key.")
    unit: Unit = Field(description="What the account counts.", examples=["points:loyalty", "USD"])
    customer_id: Identifier | None = Field(
        default=None, description="The customer who owns the account, if any."
    )
    allow_negative: bool = Field(
        default=False, description="Whether the balance may go below zero."
    )
    negative_limit: Annotated[int, Field(strict=True, ge=0, le=INT64_MAX)] | None = Field(
        default=None,
        description="With allow_negative: how far below zero, at most (none: no limit).",
    )

    @model_validator(mode="after")
    def _limit_needs_negative(self) -> OpenLedgerAccount:
        if self.negative_limit is not None and not self.allow_negative:
            raise ValueError("negative_limit is only meaningful with allow_negative")
        return self


class CloseLedgerAccount(Command):
    """Close an account whose balance and holds are zero. Key: ``account_id``."""

    message_type: ClassVar[str] = "CloseLedgerAccount"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier


class CreatePointTransaction(Command):
    """Create a pending or committed point transaction. Key: ``account_id``.

    A customer may only create a pending spend (negative amount) on their own
    account; everything else needs an admin or a service. A pending negative
    amount holds funds (``available`` drops, ``balance`` does not) until it is
    committed, voided, or expires at ``expires_at``.
    """

    message_type: ClassVar[str] = "CreatePointTransaction"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier
    transaction_id: Identifier = Field(description="Chosen by the caller, unique in the ledger.")
    amount: Amount = Field(description="Points or minor units; positive credits the account.")
    kind: PointTransactionKind
    status: Literal[PointTransactionStatus.PENDING, PointTransactionStatus.COMMITTED] = Field(
        default=PointTransactionStatus.COMMITTED,
        description="pending (a hold, for a later commit) or committed (final).",
    )
    expires_at: Moment | None = Field(
        default=None,
        description="Pending only: when the hold is voided automatically if not committed.",
    )
    description: str = Field(default="", max_length=500)
    references: References = Field(
        default_factory=dict,
        description="Ids elsewhere: order_id, line_item_id, fulfillment_item_id.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Kept with the transaction; at most 4,096 bytes of JSON."
    )

    @model_validator(mode="after")
    def _check(self) -> CreatePointTransaction:
        if self.amount == 0:
            raise ValueError("amount must not be zero")
        if self.expires_at is not None and self.status != PointTransactionStatus.PENDING:
            raise ValueError("expires_at is only for pending transactions")
        if len(json.dumps(self.metadata, separators=(",", ":"), default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata may hold at most {MAX_METADATA_BYTES} bytes of JSON")
        return self


class CommitPointTransaction(Command):
    """Commit a pending transaction, in full or in part. Key: ``account_id``.

    ``amount`` (same sign as the pending amount, not larger) commits part of it
    and releases the rest; without it the whole amount is committed. A transaction
    bound to an order (``BindPointTransaction``) is committed only for that order.
    """

    message_type: ClassVar[str] = "CommitPointTransaction"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier
    transaction_id: Identifier
    amount: Amount | None = Field(default=None, description="Part to commit; default: all.")
    order_id: Identifier | None = Field(
        default=None,
        description="The order it is committed for: required if it is bound to one.",
    )

    @model_validator(mode="after")
    def _not_zero(self) -> CommitPointTransaction:
        if self.amount == 0:
            raise ValueError("amount must not be zero")
        return self


class VoidPointTransaction(Command):
    """Void a pending transaction and release its hold. Key: ``account_id``.

    A transaction bound to an order is voided only by that order (its compensation).
    """

    message_type: ClassVar[str] = "VoidPointTransaction"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier
    transaction_id: Identifier
    reason: str = Field(default="", max_length=500)
    order_id: Identifier | None = Field(
        default=None, description="The order voiding it: required if it is bound to one."
    )


class BindPointTransaction(Command):
    """Bind a pending spend to the order it pays for. Key: ``account_id``. Service or admin.

    The order service binds every spend and hold that pays an order before it
    publishes ``OrderCheckedOut``. A bound transaction no longer expires, and only
    that order may commit or void it (``transaction_bound`` for anyone else), so
    the money that paid for an order can always be captured. Binding it to the same
    order again is accepted (``already_bound``); a transaction is bound once, ever.
    """

    message_type: ClassVar[str] = "BindPointTransaction"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier
    transaction_id: Identifier
    order_id: Identifier


class ReplacePointTransaction(Command):
    """Replace a pending spend by a new one of another amount, at once. Key: ``account_id``.

    One step: the old transaction is voided (reason ``replaced``) and the new one
    created pending, with its kind and references, so the funds are checked with the
    old hold released and nothing else can take them in between; refused, nothing
    changes. The order service resizes a store-credit hold with it when what an order
    owes grows. A bound transaction is replaced only for its order, and the new one is
    bound to that order too. Service or admin.
    """

    message_type: ClassVar[str] = "ReplacePointTransaction"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier
    transaction_id: Identifier = Field(description="The pending transaction replaced.")
    new_transaction_id: Identifier = Field(description="The id of the new one.")
    amount: Annotated[int, Field(strict=True, ge=-INT64_MAX, le=-1)] = Field(
        description="The new pending amount (negative: a spend)."
    )
    expires_at: Moment | None = Field(
        default=None, description="When the new one expires; default: as the old one."
    )
    description: str = Field(default="", max_length=500)
    order_id: Identifier | None = Field(
        default=None, description="The order replacing it: required if it is bound to one."
    )


class ReversePointTransaction(Command):
    """Reverse a committed transaction, in full or in part, by a new committed one.

    Key: ``account_id``. The reversals of one transaction never add up to more
    than its committed amount.
    """

    message_type: ClassVar[str] = "ReversePointTransaction"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier
    transaction_id: Identifier = Field(description="The committed transaction to reverse.")
    reversal_transaction_id: Identifier = Field(description="The id of the new transaction.")
    amount: Magnitude | None = Field(
        default=None, description="How much to reverse, as a positive number; default: the rest."
    )
    description: str = Field(default="", max_length=500)
    references: References = Field(default_factory=dict)


# --- events --------------------------------------------------------------------------------


class LedgerAccountOpened(Event):
    message_type: ClassVar[str] = "LedgerAccountOpened"

    account_id: str
    unit: str
    customer_id: str | None
    allow_negative: bool
    negative_limit: int | None


class LedgerAccountClosed(Event):
    message_type: ClassVar[str] = "LedgerAccountClosed"

    account_id: str
    unit: str


class PointTransactionCreated(Event):
    """A transaction was created, pending (a hold) or directly committed."""

    message_type: ClassVar[str] = "PointTransactionCreated"

    transaction_id: str
    account_id: str
    customer_id: str | None = Field(
        default=None, description="Who owns the account, as the ledger knows it."
    )
    unit: str
    amount: int
    kind: PointTransactionKind
    status: PointTransactionStatus
    expires_at: datetime | None = None
    description: str
    references: dict[str, str]
    reverses: str | None = Field(default=None, description="For a reversal: the original.")
    replaces: str | None = Field(
        default=None, description="For a replacement: the pending transaction it replaced."
    )
    created_at: datetime


class PointTransactionCommitted(Event):
    """A pending transaction was committed; ``released`` is the part not committed."""

    message_type: ClassVar[str] = "PointTransactionCommitted"

    transaction_id: str
    account_id: str
    unit: str
    amount: int = Field(description="The committed amount.")
    released: int = Field(description="Pending amount - committed amount (0 for a full commit).")
    kind: PointTransactionKind
    references: dict[str, str]
    committed_at: datetime


class PointTransactionBound(Event):
    """A pending spend was bound to the order it pays for: it no longer expires."""

    message_type: ClassVar[str] = "PointTransactionBound"

    transaction_id: str
    account_id: str
    unit: str
    amount: int
    order_id: str
    references: dict[str, str]
    bound_at: datetime


class PointTransactionVoided(Event):
    message_type: ClassVar[str] = "PointTransactionVoided"

    transaction_id: str
    account_id: str
    unit: str
    amount: int
    reason: VoidReason
    note: str = ""
    references: dict[str, str]
    voided_at: datetime


class PointTransactionReversed(Event):
    """A committed transaction was (partly) reversed by a new committed one."""

    message_type: ClassVar[str] = "PointTransactionReversed"

    transaction_id: str = Field(description="The original transaction.")
    reversal_transaction_id: str
    account_id: str
    unit: str
    amount: int = Field(description="The reversal's amount (opposite sign to the original).")
    reversed_total: int = Field(description="All reversals of the original so far, positive.")
    reversible_rest: int = Field(description="What may still be reversed, positive.")
    references: dict[str, str]
    reversed_at: datetime


class BalanceChanged(Event):
    """The current balance of one account; the latest per key wins (compacted)."""

    message_type: ClassVar[str] = "BalanceChanged"

    account_id: str
    unit: str
    balance: int = Field(description="Sum of committed transactions.")
    holds: int = Field(description="Sum of open pending spends, as a positive number.")
    available: int = Field(description="balance - holds")
    version: int = Field(description="Increases by one with every change of this account.")
    transaction_id: str | None = Field(description="The transaction that changed it, if any.")
    changed_at: datetime


# --- queries (request/reply) ---------------------------------------------------------------


class GetAccountBalances(Message):
    """Ask for an account's balances. Publish with a ``reply_to`` header."""

    message_type: ClassVar[str] = "GetAccountBalances"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier


class GetTransactionHistory(Message):
    """Ask for an account's transactions, newest first, one page at a time."""

    message_type: ClassVar[str] = "GetTransactionHistory"
    key_field: ClassVar[str | None] = "account_id"

    account_id: Identifier
    page_size: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(
        default=None, max_length=100, description="next_cursor of the previous page."
    )


class AccountBalances(Message):
    message_type: ClassVar[str] = "AccountBalances"

    account_id: str
    unit: str
    customer_id: str | None
    status: str
    balance: int
    holds: int
    available: int
    version: int


class TransactionEntry(Part):
    transaction_id: str
    amount: int
    kind: PointTransactionKind
    status: PointTransactionStatus
    committed_amount: int | None
    reversed_amount: int
    reverses: str | None
    description: str
    references: dict[str, str]
    created_at: datetime
    committed_at: datetime | None
    voided_at: datetime | None
    expires_at: datetime | None
    bound_order_id: str | None = Field(
        default=None, description="The order it is bound to (it no longer expires)."
    )


class TransactionHistory(Message):
    message_type: ClassVar[str] = "TransactionHistory"

    account_id: str
    transactions: list[TransactionEntry]
    next_cursor: str | None = Field(description="Pass it to get the next page; none at the end.")


class QueryFailed(Message):
    message_type: ClassVar[str] = "QueryFailed"

    code: str = Field(examples=["account_not_found"])
    reason: str
