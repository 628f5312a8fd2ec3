"""Ledger commands and events.

Amounts are integers: points, or minor units of a currency. A unit names
what is counted (``points:loyalty``, ``USD``); postings never mix units.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints, model_validator

from contracts.envelope import Command, Event, Identifier

INT64_MAX = 2**63 - 1

Unit = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
Amount = Annotated[int, Field(strict=True, ge=-INT64_MAX, le=INT64_MAX)]


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


class OpenLedgerAccount(Command):
    """Open a customer ledger account. Key: ``account_id``."""

    message_type: ClassVar[str] = "OpenLedgerAccount"

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


class CreatePointTransaction(Command):
    """Post a committed point transaction to an account. Key: ``account_id``."""

    message_type: ClassVar[str] = "CreatePointTransaction"

    account_id: Identifier
    transaction_id: Identifier = Field(description="Chosen by the caller, unique in the ledger.")
    amount: Amount = Field(description="Points or minor units; positive credits the account.")
    kind: PointTransactionKind
    description: str = Field(default="", max_length=500)
    references: dict[str, Identifier] = Field(
        default_factory=dict,
        description="Ids elsewhere: order_id, line_item_id, fulfillment_item_id.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_zero(self) -> CreatePointTransaction:
        if self.amount == 0:
            raise ValueError("amount must not be zero")
        return self


class LedgerAccountOpened(Event):
    message_type: ClassVar[str] = "LedgerAccountOpened"

    account_id: str
    unit: str
    customer_id: str | None
    allow_negative: bool
    negative_limit: int | None


class PointTransactionCreated(Event):
    message_type: ClassVar[str] = "PointTransactionCreated"

    transaction_id: str
    account_id: str
    unit: str
    amount: int
    kind: PointTransactionKind
    status: PointTransactionStatus
    description: str
    references: dict[str, str]
    created_at: datetime


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
