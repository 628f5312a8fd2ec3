"""Ledger tables and the few queries the handlers need.

Customer accounts keep their balance on the account row, changed only under a
row lock (``SELECT ... FOR UPDATE``) together with a version that increases by
one per change. System accounts keep no cached balance (that row would be
every transaction's hot spot): theirs is the sum of their postings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    bindparam,
    case,
    func,
    null,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import PointTransactionKind, PointTransactionStatus
from services.ledger import batch_writes
from services.ledger.batch import (
    LedgerBatch,
    TransactionChange,
    account_ids,
    named_transactions,
    new_transaction_ids,
)
from services.ledger.domain import Account, Transaction
from shared.runtime.codec import Incoming
from shared.runtime.columns import created_at, timestamps

metadata = MetaData()

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("unit", Text, nullable=False),
    Column("kind", Text, nullable=False),  # customer or system
    Column("customer_id", Text, nullable=True),
    Column("allow_negative", Boolean, nullable=False, server_default=text("false")),
    Column("negative_limit", BigInteger, nullable=True),
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("balance", BigInteger, nullable=False, server_default=text("0")),
    Column("holds", BigInteger, nullable=False, server_default=text("0")),
    Column("version", BigInteger, nullable=False, server_default=text("0")),
    *timestamps(),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("kind IN ('customer', 'system')", name="ledger_accounts_kind"),
    CheckConstraint("status IN ('open', 'closed')", name="ledger_accounts_status"),
    CheckConstraint("holds >= 0", name="ledger_accounts_holds_not_negative"),
)

point_transactions = Table(
    "point_transactions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("account_id", Text, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("unit", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("references", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    created_at(),
    Column("committed_at", DateTime(timezone=True), nullable=True),
    Column("seq", BigInteger, Identity(always=True), nullable=False, unique=True),
    Column("committed_amount", BigInteger, nullable=True),
    Column("reversed_amount", BigInteger, nullable=False, server_default=text("0")),
    Column("reverses", Text, ForeignKey("point_transactions.id"), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("voided_at", DateTime(timezone=True), nullable=True),
    Column("void_reason", Text, nullable=True),
    Column("created_by", Text, nullable=True),  # actor kind:id, for the audit trail
    Column("correlation_id", Text, nullable=True),
    Column("bound_order_id", Text, nullable=True),  # bound: no expiry, that order's only
    CheckConstraint("amount <> 0", name="point_transactions_amount_not_zero"),
    CheckConstraint(
        "status IN ('pending', 'committed', 'voided')", name="point_transactions_status"
    ),
    CheckConstraint("reversed_amount >= 0", name="point_transactions_reversed_not_negative"),
    Index("point_transactions_account", "account_id", "created_at"),
    Index("point_transactions_account_seq", "account_id", "seq"),
    Index(
        "point_transactions_expiring",
        "expires_at",
        postgresql_where=text("status = 'pending' AND expires_at IS NOT NULL"),
    ),
)

postings = Table(
    "postings",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("transaction_id", Text, ForeignKey("point_transactions.id"), nullable=False),
    Column("account_id", Text, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("unit", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    created_at(),
    CheckConstraint("amount <> 0", name="postings_amount_not_zero"),
    Index("postings_account", "account_id"),
    Index("postings_transaction", "transaction_id"),
)


def _account(row: Any) -> Account:
    return Account(
        account_id=row.id,
        unit=row.unit,
        customer_id=row.customer_id,
        allow_negative=row.allow_negative,
        negative_limit=row.negative_limit,
        status=row.status,
        balance=row.balance,
        holds=row.holds,
        version=row.version,
    )


async def lock_account(
    session: AsyncSession, account_id: str, batch: LedgerBatch | None
) -> Account | None:
    """The customer account, locked until the transaction ends (``batch``: the batch it
    is handled in, which locked its accounts when it began)."""
    if batch is not None and account_id in batch.accounts:
        return batch.accounts[account_id]  # locked when the batch began
    row = (
        await session.execute(
            select(ledger_accounts)
            .where(ledger_accounts.c.id == account_id)
            .where(ledger_accounts.c.kind == "customer")
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    account = _account(row)
    if batch is not None:
        batch.remember(account, changed=False)
    return account


async def lock_accounts(session: AsyncSession, account_ids: list[str]) -> list[Account]:
    """The customer accounts among these ids, locked in id order (one order: no deadlock)."""
    if not account_ids:
        return []
    rows = await session.execute(
        select(ledger_accounts)
        .where(ledger_accounts.c.id.in_(account_ids))
        .where(ledger_accounts.c.kind == "customer")
        .order_by(ledger_accounts.c.id)
        .with_for_update()
    )
    return [_account(row) for row in rows]


async def prepare_batch(session: AsyncSession, commands: list[Incoming[Any]]) -> LedgerBatch:
    """The state of a batch: its accounts locked, then the transactions its commands name
    on them, and the transactions it would create looked up."""
    state = LedgerBatch(flush_with=flush_batch)
    for account in await lock_accounts(session, account_ids(commands)):
        state.accounts[account.account_id] = account
    named = named_transactions(commands)
    if named:
        state.sought = {transaction_id for transaction_id, _ in named}
        rows = await session.execute(
            select(point_transactions)
            .where(tuple_(point_transactions.c.id, point_transactions.c.account_id).in_(named))
            .order_by(point_transactions.c.id)
            .with_for_update()
        )
        state.held = {row.id: _transaction(row) for row in rows}
    state.looked_up = new_transaction_ids(commands)
    if state.looked_up:
        found = await session.execute(
            select(point_transactions.c.id).where(point_transactions.c.id.in_(state.looked_up))
        )
        state.existing = set(found.scalars())
    return state


async def flush_batch(session: AsyncSession, state: LedgerBatch) -> None:
    """Write what the batch deferred: the system accounts its postings name first (if
    new), then the rest in one statement (``batch_writes``), and the changes of
    transactions that statement created in one after it."""
    await _insert_system_accounts(session, state.system_accounts)
    changes = [
        _transaction_change(state.held[id_], change) for id_, change in state.altered.items()
    ]
    inserted = {row["id"] for row in state.transactions}
    after = [change for change in changes if change["t_id"] in inserted]
    balances = [
        {"id": a.account_id, "balance": a.balance, "holds": a.holds, "version": a.version}
        for a in state.changed.values()
    ]
    if state.transactions or state.postings or len(after) < len(changes) or balances:
        await session.execute(
            batch_writes.WRITE_BATCH,
            batch_writes.parameters(
                state.transactions,
                state.postings,
                [
                    {name.removeprefix("t_"): value for name, value in change.items()}
                    for change in changes
                    if change["t_id"] not in inserted
                ],
                balances,
            ),
        )
    if after:
        await session.execute(_WRITE_TRANSACTIONS, after)
    state.written()


_INSERT_SYSTEM_ACCOUNT = (
    insert(ledger_accounts)
    .values(id=bindparam("id"), unit=bindparam("unit"), kind="system", allow_negative=True)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(ledger_accounts.c.id)
)
_SYSTEM_ACCOUNTS_THERE: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()
"""Per database (its engine), the system accounts seen there already: a system account
is never deleted, so a batch whose postings name only these writes none (one round trip
fewer per batch)."""


async def _insert_system_accounts(session: AsyncSession, wanted: dict[str, str]) -> None:
    """Make the system accounts (id: unit) a batch's postings name, if they are new.
    One the statement did not insert was there before it (committed, or by a concurrent
    transaction that committed: ON CONFLICT waits for it), so it is remembered."""
    there = _SYSTEM_ACCOUNTS_THERE.setdefault(session.get_bind(), set())
    new = {account_id: unit for account_id, unit in wanted.items() if account_id not in there}
    if not new:
        return
    inserted = await session.execute(
        _INSERT_SYSTEM_ACCOUNT,
        [{"id": account_id, "unit": unit} for account_id, unit in new.items()],
    )
    there.update(set(new) - set(inserted.scalars()))


_WRITE_TRANSACTIONS = (
    update(point_transactions)
    .where(point_transactions.c.id == bindparam("t_id"))
    .values(
        status=bindparam("t_status"),
        committed_amount=bindparam("t_committed_amount"),
        reversed_amount=bindparam("t_reversed_amount"),
        bound_order_id=bindparam("t_bound_order_id"),
        committed_at=case(
            (bindparam("t_committed", type_=Boolean), func.now()),
            else_=point_transactions.c.committed_at,
        ),
        voided_at=case(
            (bindparam("t_voided", type_=Boolean), func.now()),
            else_=point_transactions.c.voided_at,
        ),
        void_reason=func.coalesce(
            bindparam("t_void_reason", type_=Text), point_transactions.c.void_reason
        ),
    )
)
"""A batch's changes to transaction rows it locked or created, one statement for all."""


def _transaction_change(transaction: Transaction, change: TransactionChange) -> dict[str, Any]:
    return {
        "t_id": transaction.transaction_id,
        "t_status": transaction.status.value,
        "t_committed_amount": transaction.committed_amount,
        "t_reversed_amount": transaction.reversed_amount,
        "t_bound_order_id": transaction.bound_order_id,
        "t_committed": change.committed,
        "t_voided": change.voided,
        "t_void_reason": change.void_reason,
    }


async def insert_customer_account(
    session: AsyncSession,
    *,
    account_id: str,
    unit: str,
    customer_id: str | None,
    allow_negative: bool,
    negative_limit: int | None,
) -> bool:
    """Insert the account; False when the id is taken (the caller then reads it)."""
    inserted = await session.execute(
        insert(ledger_accounts)
        .values(
            id=account_id,
            unit=unit,
            kind="customer",
            customer_id=customer_id,
            allow_negative=allow_negative,
            negative_limit=negative_limit,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(ledger_accounts.c.id)
    )
    return inserted.first() is not None


async def transaction_exists(
    session: AsyncSession, transaction_id: str, batch: LedgerBatch | None
) -> bool:
    if batch is not None and (known := batch.exists(transaction_id)) is not None:
        return known
    found = await session.scalar(
        select(point_transactions.c.id).where(point_transactions.c.id == transaction_id)
    )
    return found is not None


@dataclass(frozen=True)
class NewTransaction:
    transaction_id: str
    amount: int
    kind: str
    status: str
    description: str = ""
    references: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    reverses: str | None = None
    created_by: str | None = None
    correlation_id: str | None = None
    bound_order_id: str | None = None


_INSERT_TRANSACTION = insert(point_transactions).values(
    committed_at=case((bindparam("is_committed", type_=Boolean), func.now()), else_=null())
)
"""One statement for one row or many (a batch's): committed ones get the database's now()."""


def _transaction_row(account: Account, new: NewTransaction) -> dict[str, Any]:
    committed = new.status == "committed"
    return {
        "id": new.transaction_id,
        "account_id": account.account_id,
        "unit": account.unit,
        "amount": new.amount,
        "kind": new.kind,
        "status": new.status,
        "committed_amount": new.amount if committed else None,
        "is_committed": committed,
        "description": new.description,
        "references": new.references,
        "metadata": new.metadata,
        "expires_at": new.expires_at,
        "reverses": new.reverses,
        "created_by": new.created_by,
        "correlation_id": new.correlation_id,
        "bound_order_id": new.bound_order_id,
    }


def _new_transaction(account: Account, new: NewTransaction) -> Transaction:
    """The transaction as its row reads once written."""
    committed = new.status == "committed"
    return Transaction(
        transaction_id=new.transaction_id,
        account_id=account.account_id,
        unit=account.unit,
        amount=new.amount,
        kind=PointTransactionKind(new.kind),
        status=PointTransactionStatus(new.status),
        committed_amount=new.amount if committed else None,
        reversed_amount=0,
        reverses=new.reverses,
        expires_at=new.expires_at,
        references=new.references,
        correlation_id=new.correlation_id,
        bound_order_id=new.bound_order_id,
    )


async def insert_transaction(
    session: AsyncSession, account: Account, new: NewTransaction, batch: LedgerBatch | None
) -> None:
    row = _transaction_row(account, new)
    if batch is not None:
        batch.created_transaction(new.transaction_id)
        batch.hold_transaction(_new_transaction(account, new))
        if batch.deferring:
            batch.transactions.append(row)
            return
    await session.execute(_INSERT_TRANSACTION, row)


async def insert_postings(
    session: AsyncSession,
    transaction_id: str,
    account: Account,
    counterparty_id: str,
    amount: int,
    batch: LedgerBatch | None,
) -> None:
    """Two postings that sum to zero: the customer account and a system account."""
    rows = [
        {
            "transaction_id": transaction_id,
            "account_id": account.account_id,
            "unit": account.unit,
            "amount": amount,
        },
        {
            "transaction_id": transaction_id,
            "account_id": counterparty_id,
            "unit": account.unit,
            "amount": -amount,
        },
    ]
    if batch is not None and batch.deferring:
        batch.system_account(counterparty_id, account.unit)
        batch.postings.extend(rows)
        return
    # The system account made if it is new by the same statement: its row is there for
    # the postings' foreign key, which is checked once the whole statement has run.
    system_account = (
        insert(ledger_accounts)
        .values(id=counterparty_id, unit=account.unit, kind="system", allow_negative=True)
        .on_conflict_do_nothing(index_elements=["id"])
        .cte("system_account")
    )
    await session.execute(insert(postings).values(rows).add_cte(system_account))


def _transaction(row: Any) -> Transaction:
    return Transaction(
        transaction_id=row.id,
        account_id=row.account_id,
        unit=row.unit,
        amount=row.amount,
        kind=PointTransactionKind(row.kind),
        status=PointTransactionStatus(row.status),
        committed_amount=row.committed_amount,
        reversed_amount=row.reversed_amount,
        reverses=row.reverses,
        expires_at=row.expires_at,
        references=row.references,
        correlation_id=row.correlation_id,
        bound_order_id=row.bound_order_id,
    )


async def lock_transaction(
    session: AsyncSession, account_id: str, transaction_id: str, batch: LedgerBatch | None
) -> Transaction | None:
    """A transaction of this account, locked (lock its account first: one lock order)."""
    if batch is not None and (held := batch.transaction(account_id, transaction_id)) is not False:
        assert held is None or isinstance(held, Transaction)
        return held  # locked when the batch began, or created by it
    row = (
        await session.execute(
            select(point_transactions)
            .where(point_transactions.c.id == transaction_id)
            .where(point_transactions.c.account_id == account_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    transaction = _transaction(row)
    if batch is not None:
        batch.hold_transaction(transaction)
    return transaction


async def _change_transaction(
    session: AsyncSession,
    batch: LedgerBatch | None,
    changed: Transaction,
    change: TransactionChange,
) -> None:
    """Make the locked transaction's row ``changed``: kept in the batch when deferring
    (its flush writes it), else written now by the flush's own statement. Every caller
    holds the row's lock (``lock_transaction``), so its values are written as they are."""
    if batch is not None:
        batch.hold_transaction(changed, change if batch.deferring else None)
        if batch.deferring:
            return
    await session.execute(_WRITE_TRANSACTIONS, [_transaction_change(changed, change)])


async def mark_committed(
    session: AsyncSession, transaction: Transaction, committed: int, batch: LedgerBatch | None
) -> None:
    changed = replace(
        transaction, status=PointTransactionStatus.COMMITTED, committed_amount=committed
    )
    await _change_transaction(session, batch, changed, TransactionChange(committed=True))


async def mark_voided(
    session: AsyncSession, transaction: Transaction, reason: str, batch: LedgerBatch | None
) -> None:
    changed = replace(transaction, status=PointTransactionStatus.VOIDED)
    change = TransactionChange(voided=True, void_reason=reason)
    await _change_transaction(session, batch, changed, change)


async def mark_bound(
    session: AsyncSession, transaction: Transaction, order_id: str, batch: LedgerBatch | None
) -> None:
    changed = replace(transaction, bound_order_id=order_id)
    await _change_transaction(session, batch, changed, TransactionChange())


async def add_reversed(
    session: AsyncSession, transaction: Transaction, magnitude: int, batch: LedgerBatch | None
) -> None:
    changed = replace(transaction, reversed_amount=transaction.reversed_amount + magnitude)
    await _change_transaction(session, batch, changed, TransactionChange())


async def set_balances(
    session: AsyncSession,
    account: Account,
    balance: int,
    holds: int,
    batch: LedgerBatch | None,
) -> Account:
    """Store new balances; the version check refuses a lost update."""
    if batch is not None and batch.deferring:
        changed = replace(account, balance=balance, holds=holds, version=account.version + 1)
        batch.remember(changed, changed=True)  # locked by this transaction: no lost update
        return changed
    result = await session.execute(
        update(ledger_accounts)
        .where(ledger_accounts.c.id == account.account_id)
        .where(ledger_accounts.c.version == account.version)
        .values(balance=balance, holds=holds, version=account.version + 1, updated_at=func.now())
        .returning(ledger_accounts)
    )
    row = result.first()
    if row is None:
        raise RuntimeError(f"lost update on ledger account {account.account_id}")
    stored = _account(row)
    if batch is not None:
        batch.remember(stored, changed=False)
    return stored


async def close_account(session: AsyncSession, account: Account, batch: LedgerBatch | None) -> None:
    await session.execute(
        update(ledger_accounts)
        .where(ledger_accounts.c.id == account.account_id)
        .values(status="closed", closed_at=func.now(), updated_at=func.now())
    )
    if batch is not None:
        batch.remember(replace(account, status="closed"), changed=False)


async def expired_holds(session: AsyncSession, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(account id, transaction id) of pending transactions past their expiry (none
    bound to an order: those no longer expire)."""
    rows = await session.execute(
        select(point_transactions.c.account_id, point_transactions.c.id)
        .where(point_transactions.c.status == "pending")
        .where(point_transactions.c.expires_at <= now)
        .where(point_transactions.c.bound_order_id.is_(None))
        .order_by(point_transactions.c.expires_at)
        .limit(limit)
    )
    return [(row.account_id, row.id) for row in rows]
