"""Ledger rules: who may post what, double entry, and the balance floor.

Pure: no Kafka, no SQL. Amounts are integers; a positive amount credits the
customer account, and the same amount is debited from a system account of the
same unit, so the balances of one unit always sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import Actor, ActorKind
from contracts.ledger import INT64_MAX, PointTransactionKind, PointTransactionStatus
from shared.runtime.rules import BrokenRule


class LedgerError(BrokenRule):
    """A broken ledger rule; it becomes a rejected result with its code."""

    code = "ledger_error"


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


class AccountNotEmpty(LedgerError):
    code = "account_not_empty"


class TransactionNotFound(LedgerError):
    code = "transaction_not_found"


class NotPending(LedgerError):
    code = "not_pending"


class NotCommitted(LedgerError):
    code = "not_committed"


class HoldExpired(LedgerError):
    code = "hold_expired"


class InvalidExpiry(LedgerError):
    code = "invalid_expiry"


class NotReversible(LedgerError):
    code = "not_reversible"


class ReversalExceedsOriginal(LedgerError):
    code = "reversal_exceeds_original"


class TransactionBound(LedgerError):
    """Bound to an order: only that order may commit or void it."""

    code = "transaction_bound"


class NotAHold(LedgerError):
    code = "not_a_hold"


class ReservedAccountId(LedgerError):
    code = "reserved_account_id"


SYSTEM_PREFIX = "system:"


def check_customer_account_id(account_id: str) -> None:
    """``system:`` ids are the ledger's own accounts (issuance, redemption, ...)."""
    if account_id.startswith(SYSTEM_PREFIX):
        raise ReservedAccountId(f"Account ids beginning with {SYSTEM_PREFIX!r} are the ledger's.")


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

    @property
    def floor(self) -> int:
        """The lowest ``available`` may go: 0, minus the limit, or unbounded."""
        if not self.allow_negative:
            return 0
        return -self.negative_limit if self.negative_limit is not None else -INT64_MAX


@dataclass(frozen=True)
class Transaction:
    transaction_id: str
    account_id: str
    unit: str
    amount: int
    kind: PointTransactionKind
    status: PointTransactionStatus
    committed_amount: int | None
    reversed_amount: int
    reverses: str | None
    expires_at: datetime | None
    references: dict[str, str]
    correlation_id: str | None = None
    bound_order_id: str | None = None

    @property
    def hold(self) -> int:
        """What a pending transaction holds: its size if it spends, else nothing."""
        if self.status is PointTransactionStatus.PENDING and self.amount < 0:
            return -self.amount
        return 0


@dataclass(frozen=True)
class Balances:
    balance: int
    holds: int


OPERATOR_KINDS = frozenset({ActorKind.ADMIN, ActorKind.SERVICE, ActorKind.SYSTEM})
POSITIVE_KINDS = frozenset(
    {PointTransactionKind.DEPOSIT, PointTransactionKind.EARN, PointTransactionKind.REFUND}
)
NEGATIVE_KINDS = frozenset({PointTransactionKind.SPEND, PointTransactionKind.EXPIRY})


def no_account(account_id: str) -> str:
    """The one sentence for an account that is not there, or not the asker's."""
    return f"There is no ledger account {account_id}."


def check_operator(actor: Actor, action: str) -> None:
    if actor.kind not in OPERATOR_KINDS:
        raise Forbidden(f"Only an admin or a service may {action}.")


def check_may_create(
    actor: Actor,
    account: Account,
    status: PointTransactionStatus,
    amount: int,
    kind: PointTransactionKind,
) -> None:
    """Operators may create anything; a customer only a pending spend on their own account.

    To a customer, another's account does not exist: the same answer as for none."""
    if actor.kind in OPERATOR_KINDS:
        return
    if actor.kind is not ActorKind.CUSTOMER:
        raise Forbidden("A customer may only use their own account.")
    if account.customer_id != actor.id:
        raise AccountNotFound(no_account(account.account_id))
    if status is not PointTransactionStatus.PENDING or amount >= 0:
        raise Forbidden(
            "A customer may only create pending transactions with a negative amount; "
            "committed ones need an admin or a service."
        )
    if kind is not PointTransactionKind.SPEND:
        raise Forbidden("A customer may only create spends.")


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


def _in_range(*values: int) -> None:
    if any(abs(v) > INT64_MAX for v in values):
        raise InvalidAmount("The balance would leave the 64-bit range.")


def _insufficient(account: Account, asked: int) -> InsufficientFunds:
    return InsufficientFunds(
        f"Account {account.account_id} has {account.available} available; {asked} was asked."
    )


def balance_after(account: Account, amount: int) -> int:
    """The committed balance after posting ``amount``; refuses overspending and overflow."""
    new_balance = account.balance + amount
    _in_range(new_balance, new_balance - account.holds)
    if amount < 0 and new_balance - account.holds < account.floor:
        raise _insufficient(account, -amount)
    return new_balance


def after_create(
    account: Account,
    amount: int,
    status: PointTransactionStatus,
    expires_at: datetime | None,
    now: datetime,
) -> Balances:
    """Balances after creating a transaction: committed moves the balance, a pending
    spend adds a hold (and needs the funds available now), a pending credit waits."""
    if expires_at is not None and expires_at <= now:
        raise InvalidExpiry("expires_at must be in the future.")
    if status is PointTransactionStatus.COMMITTED:
        return Balances(balance_after(account, amount), account.holds)
    if amount > 0:
        return Balances(account.balance, account.holds)
    holds = account.holds - amount
    _in_range(holds, account.balance - holds)
    if account.balance - holds < account.floor:
        raise _insufficient(account, -amount)
    return Balances(account.balance, holds)


def check_binding(transaction: Transaction, order_id: str | None, doing: str) -> None:
    """A transaction bound to an order is committed or voided only for that order."""
    bound = transaction.bound_order_id
    if bound is not None and order_id != bound:
        raise TransactionBound(
            f"Point transaction {transaction.transaction_id} is bound to an order; only that "
            f"order may {doing} it."
        )


def expired(transaction: Transaction, now: datetime) -> bool:
    """Past its ``expires_at`` and not bound to an order (a bound one no longer expires)."""
    return (
        transaction.bound_order_id is None
        and transaction.expires_at is not None
        and transaction.expires_at <= now
    )


def check_bindable(transaction: Transaction, order_id: str, now: datetime) -> bool:
    """Whether binding is still to do (False: bound to this order already)."""
    if transaction.bound_order_id == order_id:
        return False
    if transaction.bound_order_id is not None:
        raise TransactionBound(
            f"Point transaction {transaction.transaction_id} is bound to another order."
        )
    if transaction.status is not PointTransactionStatus.PENDING:
        raise NotPending(f"Point transaction {transaction.transaction_id} is {transaction.status}.")
    if transaction.amount >= 0:
        raise NotAHold(f"Point transaction {transaction.transaction_id} holds nothing to pay with.")
    if expired(transaction, now):
        raise HoldExpired(f"Point transaction {transaction.transaction_id} has expired.")
    return True


def after_replace(
    account: Account,
    old: Transaction,
    amount: int,
    expires_at: datetime | None,
    now: datetime,
) -> Balances:
    """Balances after a pending spend is replaced by one of ``amount``: the old hold goes,
    the new one needs the funds available with it gone."""
    if old.status is not PointTransactionStatus.PENDING:
        raise NotPending(f"Point transaction {old.transaction_id} is {old.status}.")
    if old.amount >= 0 or amount >= 0:
        raise NotAHold("Only a pending spend is replaced, by another spend.")
    if expired(old, now):
        raise HoldExpired(f"Point transaction {old.transaction_id} has expired.")
    if expires_at is not None and expires_at <= now:
        raise InvalidExpiry("expires_at must be in the future.")
    holds = account.holds - old.hold - amount
    _in_range(holds, account.balance - holds)
    if account.balance - holds < account.floor:
        raise _insufficient(account, -amount - old.hold)
    return Balances(account.balance, holds)


def amount_to_commit(transaction: Transaction, requested: int | None, now: datetime) -> int:
    """The committed amount: all of a pending transaction, or a part of the same sign."""
    if transaction.status is not PointTransactionStatus.PENDING:
        raise NotPending(f"Point transaction {transaction.transaction_id} is {transaction.status}.")
    if expired(transaction, now):
        raise HoldExpired(
            f"Point transaction {transaction.transaction_id} expired at "
            f"{transaction.expires_at}; it can no longer be committed."
        )
    if requested is None:
        return transaction.amount
    same_sign = (requested > 0) == (transaction.amount > 0) and requested != 0
    if not same_sign or abs(requested) > abs(transaction.amount):
        raise InvalidAmount(
            f"A commit of {transaction.transaction_id} must have the sign of its pending amount "
            f"{transaction.amount} and may not exceed it."
        )
    return requested


def after_commit(account: Account, transaction: Transaction, committed: int) -> Balances:
    """The hold goes, the committed part moves the balance. A committed spend never
    exceeds its hold, so it needs no new funds check; a credit only raises the balance."""
    balance = account.balance + committed
    holds = account.holds - transaction.hold
    _in_range(balance, balance - holds)
    return Balances(balance, holds)


def after_void(account: Account, transaction: Transaction) -> Balances:
    if transaction.status is not PointTransactionStatus.PENDING:
        raise NotPending(f"Point transaction {transaction.transaction_id} is {transaction.status}.")
    return Balances(account.balance, account.holds - transaction.hold)


def reversal_amount(transaction: Transaction, requested: int | None) -> int:
    """The signed amount of a reversal: opposite to the original, at most what is left."""
    if transaction.status is not PointTransactionStatus.COMMITTED:
        raise NotCommitted(
            f"Point transaction {transaction.transaction_id} is {transaction.status}; "
            "only committed transactions can be reversed."
        )
    if transaction.reverses is not None:
        raise NotReversible(f"{transaction.transaction_id} is itself a reversal.")
    committed = transaction.committed_amount or 0
    rest = abs(committed) - transaction.reversed_amount
    magnitude = rest if requested is None else requested
    if rest == 0 or magnitude > rest:
        raise ReversalExceedsOriginal(
            f"Point transaction {transaction.transaction_id} has {rest} left to reverse; "
            f"{magnitude} was asked."
        )
    return -magnitude if committed > 0 else magnitude


def check_closable(account: Account) -> None:
    if account.balance != 0 or account.holds != 0:
        raise AccountNotEmpty(
            f"Ledger account {account.account_id} has balance {account.balance} and holds "
            f"{account.holds}; only an empty account can be closed."
        )


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
