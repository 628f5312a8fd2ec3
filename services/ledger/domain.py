"""Ledger rules: who may post what, double entry, and the balance floor.

Pure: no Kafka, no SQL. Amounts are integers; a positive amount credits the
customer account, and the same amount is debited from a system account of the
same unit, so the balances of one unit always sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.envelope import Actor, ActorKind
from contracts.ledger import INT64_MAX, PointTransactionKind


class LedgerError(Exception):
    code = "ledger_error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(LedgerError):
    code = "forbidden"


class AccountNotFound(LedgerError):
    code = "account_not_found"


class AccountClosed(LedgerError):
    code = "account_closed"


class AccountExists(LedgerError):
    code = "account_exists"


class TransactionExists(LedgerError):
    code = "transaction_exists"


class InvalidAmount(LedgerError):
    code = "invalid_amount"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"


class UseReverseCommand(LedgerError):
    code = "use_reverse_command"


@dataclass(frozen=True)
class Account:
    account_id: str
    unit: str
    customer_id: str | None
    allow_negative: bool
    negative_limit: int | None
    status: str
    balance: int
    holds: int
    version: int

    @property
    def available(self) -> int:
        return self.balance - self.holds


OPERATOR_KINDS = frozenset({ActorKind.ADMIN, ActorKind.SERVICE, ActorKind.SYSTEM})
POSITIVE_KINDS = frozenset(
    {PointTransactionKind.DEPOSIT, PointTransactionKind.EARN, PointTransactionKind.REFUND}
)
NEGATIVE_KINDS = frozenset({PointTransactionKind.SPEND, PointTransactionKind.EXPIRY})


def check_may_open_account(actor: Actor) -> None:
    if actor.kind not in OPERATOR_KINDS:
        raise Forbidden("Only an admin or a service may open ledger accounts.")


def check_may_post_committed(actor: Actor) -> None:
    if actor.kind not in OPERATOR_KINDS:
        raise Forbidden(
            "Only an admin or a service may create a committed point transaction; "
            "a customer may only create pending spends on their own account."
        )


def check_amount(kind: PointTransactionKind, amount: int) -> None:
    if kind is PointTransactionKind.REVERSAL:
        raise UseReverseCommand("A reversal is made with ReversePointTransaction.")
    if amount == 0:
        raise InvalidAmount("The amount must not be zero.")
    if kind in POSITIVE_KINDS and amount < 0:
        raise InvalidAmount(f"A {kind.value} must have a positive amount.")
    if kind in NEGATIVE_KINDS and amount > 0:
        raise InvalidAmount(f"A {kind.value} must have a negative amount.")


def check_usable(account: Account) -> None:
    if account.status != "open":
        raise AccountClosed(f"Ledger account {account.account_id} is {account.status}.")


def balance_after(account: Account, amount: int) -> int:
    """The committed balance after ``amount``; refuses overspending and overflow."""
    new_balance = account.balance + amount
    if abs(new_balance) > INT64_MAX or abs(new_balance - account.holds) > INT64_MAX:
        raise InvalidAmount("The balance would leave the 64-bit range.")
    if amount < 0:
        floor = 0
        if account.allow_negative:
            floor = -account.negative_limit if account.negative_limit is not None else -INT64_MAX
        if new_balance - account.holds < floor:
            raise InsufficientFunds(
                f"Account {account.account_id} has {account.available} available; "
                f"{-amount} was asked."
            )
    return new_balance


def counterparty_role(kind: PointTransactionKind) -> str:
    """The system account on the other side of a customer posting."""
    return {
        PointTransactionKind.DEPOSIT: "issuance",
        PointTransactionKind.EARN: "issuance",
        PointTransactionKind.SPEND: "redemption",
        PointTransactionKind.REFUND: "redemption",
        PointTransactionKind.EXPIRY: "expiry",
        PointTransactionKind.ADJUSTMENT: "adjustment",
    }[kind]


def system_account_id(unit: str, role: str) -> str:
    return f"system:{role}:{unit}"


def same_terms(
    account: Account,
    unit: str,
    customer_id: str | None,
    allow_negative: bool,
    negative_limit: int | None,
) -> bool:
    return (account.unit, account.customer_id, account.allow_negative, account.negative_limit) == (
        unit,
        customer_id,
        allow_negative,
        negative_limit,
    )
