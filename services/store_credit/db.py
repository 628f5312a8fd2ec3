"""Store-credit tables and queries: templates, point accounts, customers.

Point accounts keep a copy of their ledger balances, built from the ledger's
BalanceChanged events (the version tells a newer copy from an older one).
``customers.open_accounts`` counts non-closed accounts; a conditional update of
that one row is what makes the per-customer limit hold when creations race.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    case,
    func,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.store_credit import PointAccount, PointAccountStatus, PointAccountTemplate
from shared.runtime.columns import created_at, timestamps

metadata = MetaData()

point_account_templates = Table(
    "point_account_templates",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("exchange_rates", JSONB, nullable=False),  # {"USD": "0.01"}: decimals as strings
    Column("status", Text, nullable=False),
    Column("allow_negative", Boolean, nullable=False),
    Column("negative_limit", BigInteger, nullable=True),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    *timestamps(),
    CheckConstraint("status IN ('active', 'inactive')", name="templates_status"),
)

point_accounts = Table(
    "point_accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("template_id", Text, ForeignKey("point_account_templates.id"), nullable=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("exchange_rates", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("allow_negative", Boolean, nullable=False),
    Column("negative_limit", BigInteger, nullable=True),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("balance", BigInteger, nullable=True),
    Column("holds", BigInteger, nullable=True),
    Column("ledger_version", BigInteger, nullable=True),
    *timestamps(),
    CheckConstraint("status IN ('active', 'suspended', 'closed')", name="point_accounts_status"),
    Index("point_accounts_customer", "customer_id"),
    Index("point_accounts_template", "template_id"),
    Index(
        "point_accounts_one_per_template",
        "customer_id",
        "template_id",
        unique=True,
        postgresql_where=text("template_id IS NOT NULL"),
    ),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("open_accounts", Integer, nullable=False, server_default=text("0")),
    created_at(),
    CheckConstraint("open_accounts >= 0", name="customers_open_accounts"),
)


def rates_to_json(rates: dict[str, Decimal]) -> dict[str, str]:
    return {currency: str(rate) for currency, rate in sorted(rates.items())}


def rates_from_json(stored: Any) -> dict[str, Decimal]:
    return {currency: Decimal(rate) for currency, rate in (stored or {}).items()}


def template_event(row: Any) -> PointAccountTemplate:
    return PointAccountTemplate(
        template_id=row.id,
        name=row.name,
        kind=row.kind,
        unit=row.unit,
        exchange_rates=rates_from_json(row.exchange_rates),
        status=row.status,
        allow_negative=row.allow_negative,
        negative_limit=row.negative_limit,
        version=row.version,
    )


def account_event(row: Any) -> PointAccount:
    return PointAccount(
        account_id=row.id,
        customer_id=row.customer_id,
        template_id=row.template_id,
        name=row.name,
        kind=row.kind,
        unit=row.unit,
        exchange_rates=rates_from_json(row.exchange_rates),
        status=PointAccountStatus(row.status),
        allow_negative=row.allow_negative,
        negative_limit=row.negative_limit,
        version=row.version,
    )


async def insert_template(session: AsyncSession, values: dict[str, Any]) -> Any | None:
    """The new template's row, or None when the id is taken."""
    inserted = await session.execute(
        insert(point_account_templates)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(point_account_templates)
    )
    return inserted.first()


async def lock_template(session: AsyncSession, template_id: str) -> Any | None:
    return (
        await session.execute(
            select(point_account_templates)
            .where(point_account_templates.c.id == template_id)
            .with_for_update()
        )
    ).first()


async def update_template(session: AsyncSession, template_id: str, changes: dict[str, Any]) -> Any:
    return (
        await session.execute(
            update(point_account_templates)
            .where(point_account_templates.c.id == template_id)
            .values(
                **changes,
                version=point_account_templates.c.version + 1,
                updated_at=func.now(),
            )
            .returning(point_account_templates)
        )
    ).one()


async def active_templates(session: AsyncSession) -> list[Any]:
    return list(
        (
            await session.execute(
                select(point_account_templates)
                .where(point_account_templates.c.status == "active")
                .order_by(point_account_templates.c.created_at, point_account_templates.c.id)
            )
        ).all()
    )


async def ensure_customer(session: AsyncSession, customer_id: str) -> None:
    await session.execute(
        insert(customers).values(customer_id=customer_id).on_conflict_do_nothing()
    )


async def take_account_slot(session: AsyncSession, customer_id: str, limit: int) -> int | None:
    """Count one more open account if under ``limit``; None when the limit is reached.

    One conditional UPDATE of the customer's row: concurrent creations queue on
    its row lock and each re-checks the count, so the limit cannot be overrun.
    """
    await ensure_customer(session, customer_id)
    taken = await session.scalar(
        update(customers)
        .where(customers.c.customer_id == customer_id)
        .where(customers.c.open_accounts < limit)
        .values(open_accounts=customers.c.open_accounts + 1)
        .returning(customers.c.open_accounts)
    )
    return int(taken) if taken is not None else None


async def open_accounts(session: AsyncSession, customer_id: str) -> int:
    count = await session.scalar(
        select(customers.c.open_accounts).where(customers.c.customer_id == customer_id)
    )
    return int(count or 0)


async def release_account_slot(session: AsyncSession, customer_id: str) -> None:
    await session.execute(
        update(customers)
        .where(customers.c.customer_id == customer_id)
        .values(open_accounts=customers.c.open_accounts - 1)
    )


async def insert_account(session: AsyncSession, values: dict[str, Any]) -> Any | None:
    """The new account's row, or None when its id (or its customer+template) is taken."""
    inserted = await session.execute(
        insert(point_accounts).values(**values).on_conflict_do_nothing().returning(point_accounts)
    )
    return inserted.first()


async def lock_account(session: AsyncSession, account_id: str) -> Any | None:
    return (
        await session.execute(
            select(point_accounts).where(point_accounts.c.id == account_id).with_for_update()
        )
    ).first()


async def update_account(session: AsyncSession, account_id: str, changes: dict[str, Any]) -> Any:
    return (
        await session.execute(
            update(point_accounts)
            .where(point_accounts.c.id == account_id)
            .values(**changes, version=point_accounts.c.version + 1, updated_at=func.now())
            .returning(point_accounts)
        )
    ).one()


async def update_template_accounts(
    session: AsyncSession, template_id: str, changes: dict[str, Any]
) -> list[Any]:
    """Apply a template's change to every non-closed account made from it."""
    return list(
        (
            await session.execute(
                update(point_accounts)
                .where(point_accounts.c.template_id == template_id)
                .where(point_accounts.c.status != "closed")
                .values(**changes, version=point_accounts.c.version + 1, updated_at=func.now())
                .returning(point_accounts)
            )
        ).all()
    )


async def record_balance(
    session: AsyncSession, account_id: str, balance: int, holds: int, version: int
) -> bool:
    """Keep the ledger's balance if it is newer than the copy; False if unknown or older."""
    result = await session.execute(
        update(point_accounts)
        .where(point_accounts.c.id == account_id)
        .where(
            (point_accounts.c.ledger_version.is_(None))
            | (point_accounts.c.ledger_version < version)
        )
        .values(balance=balance, holds=holds, ledger_version=version)
    )
    return bool(getattr(result, "rowcount", 0))


async def customer_accounts(
    session: AsyncSession, customer_id: str, include_closed: bool
) -> list[Any]:
    query = select(point_accounts).where(point_accounts.c.customer_id == customer_id)
    if not include_closed:
        query = query.where(point_accounts.c.status != "closed")
    return list((await session.execute(query.order_by(point_accounts.c.created_at))).all())


async def templates_page(
    session: AsyncSession, status: str | None, after: str | None, limit: int
) -> list[Any]:
    """Templates by id, after ``after``: at most ``limit`` + 1 (one more says there are)."""
    query = select(point_account_templates)
    if status is not None:
        query = query.where(point_account_templates.c.status == status)
    if after is not None:
        query = query.where(point_account_templates.c.id > after)
    query = query.order_by(point_account_templates.c.id).limit(limit + 1)
    return list((await session.execute(query)).all())


store_credits = Table(
    "store_credits",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("code_hash", Text, nullable=False, unique=True),  # HMAC-SHA256, never the code
    Column("code_last4", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),  # SHA-256, never the token
    Column("external_id", Text, nullable=True, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("allow_balance_owing", Boolean, nullable=False),
    Column("active_date", DateTime(timezone=True), nullable=True),
    Column("expiry_date", DateTime(timezone=True), nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("customer_id", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("references", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("ledger_account_id", Text, nullable=False, unique=True),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("balance", BigInteger, nullable=True),
    Column("holds", BigInteger, nullable=True),
    Column("ledger_version", BigInteger, nullable=True),
    # The ledger transaction of a credit sent and not yet reported back: until it
    # is, the copied balance is short of it (see record_store_credit_balance).
    Column("credit_in_flight", Text, nullable=True),
    *timestamps(),
    CheckConstraint("amount > 0", name="store_credits_amount_positive"),
    Index("store_credits_customer", "customer_id"),
)

code_attempts = Table(
    "code_attempts",
    metadata,
    # customer:<id>, order:<id>, actor:<kind>:<id>, principal:<signer>,
    # code:/token:/external_id:<hash>, overall
    Column("subject", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", DateTime(timezone=True), nullable=True),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)


async def insert_store_credit(session: AsyncSession, values: dict[str, Any]) -> Any | None:
    """The new row, or None when its id, code, token or external id is taken."""
    inserted = await session.execute(
        insert(store_credits).values(**values).on_conflict_do_nothing().returning(store_credits)
    )
    return inserted.first()


async def store_credit_taken(
    session: AsyncSession, store_credit_id: str, code_hashes: list[str], external_id: str | None
) -> str | None:
    """Which unique field of a new store credit is already taken, if any.

    ``code_hashes`` are the new code's hashes under every key, current and
    retired, so a code stored before a key rotation counts as taken too.
    """
    checks: list[tuple[str, Any]] = [
        ("store_credit_id", store_credits.c.id == store_credit_id),
        ("code", store_credits.c.code_hash.in_(code_hashes)),
    ]
    if external_id is not None:
        checks.append(("external_id", store_credits.c.external_id == external_id))
    for name, condition in checks:
        if await session.scalar(select(func.count()).where(condition)):
            return name
    return None


async def external_id_taken(session: AsyncSession, external_id: str) -> bool:
    found = await session.scalar(
        select(func.count()).where(store_credits.c.external_id == external_id)
    )
    return bool(found)


async def lock_store_credit(session: AsyncSession, store_credit_id: str) -> Any | None:
    return (
        await session.execute(
            select(store_credits).where(store_credits.c.id == store_credit_id).with_for_update()
        )
    ).first()


async def update_store_credit(
    session: AsyncSession, store_credit_id: str, changes: dict[str, Any]
) -> Any:
    return (
        await session.execute(
            update(store_credits)
            .where(store_credits.c.id == store_credit_id)
            .values(**changes, version=store_credits.c.version + 1, updated_at=func.now())
            .returning(store_credits)
        )
    ).one()


async def rehash_code(session: AsyncSession, store_credit_id: str, code_hash: str) -> None:
    """Store a code's hash under the current key (no version change: nothing visible moved)."""
    await session.execute(
        update(store_credits)
        .where(store_credits.c.id == store_credit_id)
        .values(code_hash=code_hash)
    )


async def find_store_credit(session: AsyncSession, condition: Any) -> Any | None:
    return (await session.execute(select(store_credits).where(condition))).first()


async def customer_store_credits(session: AsyncSession, customer_id: str) -> list[Any]:
    return list(
        (
            await session.execute(
                select(store_credits)
                .where(store_credits.c.customer_id == customer_id)
                .order_by(store_credits.c.created_at)
            )
        ).all()
    )


async def record_store_credit_balance(
    session: AsyncSession,
    ledger_account_id: str,
    balance: int,
    holds: int,
    version: int,
    transaction_id: str | None,
) -> None:
    """Keep the ledger's balance if newer; the credit in flight has landed when it is named.

    The ledger handles one account's commands in order, so the balance event
    naming the credit this service sent is the first to include it; every
    event before it (the opening's 0 above all) is short of it.
    """
    changes: dict[str, Any] = {"balance": balance, "holds": holds, "ledger_version": version}
    if transaction_id is not None:
        landed = store_credits.c.credit_in_flight == transaction_id
        changes["credit_in_flight"] = case((landed, null()), else_=store_credits.c.credit_in_flight)
    await session.execute(
        update(store_credits)
        .where(store_credits.c.ledger_account_id == ledger_account_id)
        .where(
            (store_credits.c.ledger_version.is_(None)) | (store_credits.c.ledger_version < version)
        )
        .values(**changes)
    )


async def lock_attempts(session: AsyncSession, subject: str) -> Any | None:
    await session.execute(
        insert(code_attempts).values(subject=subject, failures=0).on_conflict_do_nothing()
    )
    return (
        await session.execute(
            select(code_attempts).where(code_attempts.c.subject == subject).with_for_update()
        )
    ).one()


async def read_attempts(session: AsyncSession, subject: str) -> Any | None:
    """A subject's counts as they are, without waiting on (or taking) its row lock."""
    return (
        await session.execute(select(code_attempts).where(code_attempts.c.subject == subject))
    ).first()


async def save_attempts(
    session: AsyncSession,
    subject: str,
    failures: int,
    window_started_at: Any,
    locked_until: Any,
) -> None:
    await session.execute(
        update(code_attempts)
        .where(code_attempts.c.subject == subject)
        .values(failures=failures, window_started_at=window_started_at, locked_until=locked_until)
    )
