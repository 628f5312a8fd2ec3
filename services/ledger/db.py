"""Ledger tables and the few queries the handlers need.

Customer accounts keep their balance on the account row, changed only under a
row lock (``SELECT ... FOR UPDATE``) together with a version that increases by
one per change. System accounts keep no cached balance (that row would be
every transaction's hot spot): theirs is the sum of their postings.
"""

from __future__ import annotations

from typing import Any

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
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain import Account

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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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


async def lock_account(session: AsyncSession, account_id: str) -> Account | None:
    """The customer account, locked until the transaction ends."""
    row = (
        await session.execute(
            select(ledger_accounts)
            .where(ledger_accounts.c.id == account_id)
            .where(ledger_accounts.c.kind == "customer")
            .with_for_update()
        )
    ).first()
    return _account(row) if row is not None else None


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


async def ensure_system_account(session: AsyncSession, account_id: str, unit: str) -> None:
    await session.execute(
        insert(ledger_accounts)
        .values(id=account_id, unit=unit, kind="system", allow_negative=True)
        .on_conflict_do_nothing(index_elements=["id"])
    )


async def transaction_exists(session: AsyncSession, transaction_id: str) -> bool:
    found = await session.scalar(
        select(point_transactions.c.id).where(point_transactions.c.id == transaction_id)
    )
    return found is not None


async def insert_committed_transaction(
    session: AsyncSession,
    *,
    transaction_id: str,
    account: Account,
    counterparty_id: str,
    amount: int,
    kind: str,
    description: str,
    references: dict[str, str],
    metadata_: dict[str, Any],
) -> None:
    """The transaction and its two balanced postings."""
    await session.execute(
        insert(point_transactions).values(
            id=transaction_id,
            account_id=account.account_id,
            unit=account.unit,
            amount=amount,
            kind=kind,
            status="committed",
            description=description,
            references=references,
            metadata=metadata_,
            committed_at=func.now(),
        )
    )
    await session.execute(
        insert(postings),
        [
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
        ],
    )


async def set_balance(session: AsyncSession, account: Account, balance: int) -> Account:
    """Store a new balance; the version check refuses a lost update."""
    result = await session.execute(
        update(ledger_accounts)
        .where(ledger_accounts.c.id == account.account_id)
        .where(ledger_accounts.c.version == account.version)
        .values(balance=balance, version=account.version + 1, updated_at=func.now())
        .returning(ledger_accounts)
    )
    row = result.first()
    if row is None:
        raise RuntimeError(f"lost update on ledger account {account.account_id}")
    return _account(row)
