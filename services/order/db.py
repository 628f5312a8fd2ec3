"""Order tables and queries: orders, line items, applied credits, and the copies
the order service keeps of other services' data (point accounts from
store-credit, pending transactions from the ledger).

Every change to an order locks its row first (``lock_order``), so commands,
saga steps and the abandoned-cart job never interleave on one order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.runtime.columns import created_at, timestamps
from shared.runtime.row_values import RowValues

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", Text, primary_key=True),
    Column("number", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("shipping", BigInteger, nullable=False, server_default=text("0")),
    Column("shipping_description", Text, nullable=False, server_default=""),
    Column("tax", BigInteger, nullable=False, server_default=text("0")),
    Column("tax_description", Text, nullable=False, server_default=""),
    Column("payment", JSONB, nullable=True),
    Column("paid_externally", BigInteger, nullable=False, server_default=text("0")),
    Column("balance_owing", BigInteger, nullable=False, server_default=text("0")),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("checked_out_at", DateTime(timezone=True), nullable=True),
    Column("checkout_attempt", Integer, nullable=False, server_default=text("0")),
    Column("checkout_deadline", DateTime(timezone=True), nullable=True),
    Column("checkout_failure", JSONB, nullable=True),  # {attempt, code, reason}
    Column("payment_status", Text, nullable=True),  # fulfillment's, once checked out
    Column("fulfillment_version", BigInteger, nullable=False, server_default=text("0")),
    Column("correlation_id", Text, nullable=True),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    *timestamps(),
    CheckConstraint(
        "status IN ('open', 'checking_out', 'checked_out', 'cancelled', 'abandoned')",
        name="orders_status",
    ),
    CheckConstraint("shipping >= 0 AND tax >= 0", name="orders_charges"),
    Index("orders_open_expiry", "expires_at", postgresql_where=text("status = 'open'")),
    Index(
        "orders_checkout_deadline",
        "checkout_deadline",
        postgresql_where=text("status = 'checking_out'"),
    ),
)

line_items = Table(
    "line_items",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("sku", Text, nullable=True),
    Column("name", Text, nullable=False),
    Column("unit_price", BigInteger, nullable=True),
    Column("quantity", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("account_id", Text, nullable=True),
    Column("unit", Text, nullable=True),
    Column("points", BigInteger, nullable=True),
    Column("transaction_id", Text, nullable=True, unique=True),
    Column("transaction_expires_at", DateTime(timezone=True), nullable=True),
    Column("exchange_rate", Text, nullable=True),
    PrimaryKeyConstraint("order_id", "id"),
    ForeignKeyConstraint(["order_id"], ["orders.id"]),
    CheckConstraint("kind IN ('product', 'deposit', 'point_transaction')", name="line_items_kind"),
    CheckConstraint("quantity > 0", name="line_items_quantity"),
)

applied_credits = Table(
    "applied_credits",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("requested", BigInteger, nullable=False),
    Column("authorize_command_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("hold_command_id", UUID(as_uuid=True), nullable=True, unique=True),
    Column("store_credit_id", Text, nullable=True),
    Column("name", Text, nullable=True),
    Column("code", Text, nullable=True),  # masked: ******5744
    Column("ledger_account_id", Text, nullable=True),
    Column("hold_transaction_id", Text, nullable=True, unique=True),
    Column("held", BigInteger, nullable=False, server_default=text("0")),
    Column("authorized", BigInteger, nullable=True),  # available when authorized
    Column("hold_generation", Integer, nullable=False, server_default=text("0")),
    Column("replacing_transaction_id", Text, nullable=True),  # a resize in flight
    Column("replacing_amount", BigInteger, nullable=True),
    Column("allow_balance_owing", Boolean, nullable=False, server_default=text("false")),
    Column("refusal_code", Text, nullable=True),
    Column("refusal_reason", Text, nullable=True),
    *timestamps(),
    PrimaryKeyConstraint("order_id", "id"),
    ForeignKeyConstraint(["order_id"], ["orders.id"]),
    CheckConstraint(
        "status IN ('requested', 'holding', 'held', 'refused', 'removed', 'expired', 'captured')",
        name="applied_credits_status",
    ),
    CheckConstraint("held >= 0 AND requested > 0", name="applied_credits_amounts"),
)

transaction_uses = Table(
    "transaction_uses",
    metadata,
    Column("transaction_id", Text, primary_key=True),
    Column("order_id", Text, nullable=False),
    Column("line_item_id", Text, nullable=True),  # a point line item's spend
    Column("application_id", Text, nullable=True),  # an applied credit's hold
    created_at(),
)
"""Every pending transaction this service ever let pay for an order: one use, for ever
(kept after the line or credit is removed, so a released spend never pays again)."""

bindings = Table(
    "bindings",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("transaction_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("command_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("code", Text, nullable=True),
    Column("reason", Text, nullable=True),
    PrimaryKeyConstraint("order_id", "attempt", "transaction_id"),
    ForeignKeyConstraint(["order_id"], ["orders.id"]),
    CheckConstraint("status IN ('binding', 'bound', 'refused')", name="bindings_status"),
)
"""A checkout attempt's BindPointTransaction commands, one per spend and hold, and
how the ledger answered each."""

# --- copies of other services' data ------------------------------------------------------------

point_accounts = Table(
    "point_accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("exchange_rates", JSONB, nullable=False),  # decimals as strings
    Column("status", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Index("point_accounts_customer", "customer_id"),
)

pending_transactions = Table(
    "pending_transactions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("customer_id", Text, nullable=True),  # the ledger account's owner
    Column("kind", Text, nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("status", Text, nullable=False),  # pending, committed, voided
    Column("expires_at", DateTime(timezone=True), nullable=True),
)
"""The ledger's point transactions as this service knows them (every one it saw
created, pending or not, so a committed one is told from one not arrived yet)."""


# --- orders ------------------------------------------------------------------------------------


async def insert_order(session: AsyncSession, values: dict[str, Any]) -> Any | None:
    inserted = await session.execute(
        insert(orders).values(**values).on_conflict_do_nothing().returning(orders)
    )
    return inserted.first()


async def lock_order(session: AsyncSession, order_id: str) -> Any | None:
    return (
        await session.execute(select(orders).where(orders.c.id == order_id).with_for_update())
    ).first()


async def get_order(session: AsyncSession, order_id: str) -> Any | None:
    return (await session.execute(select(orders).where(orders.c.id == order_id))).first()


async def touch_order(session: AsyncSession, order_id: str, **changes: Any) -> Any:
    """Apply ``changes`` and count a new version (every visible change does)."""
    return (
        await session.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(**changes, version=orders.c.version + 1, updated_at=func.now())
            .returning(orders)
        )
    ).one()


async def set_payment_status(
    session: AsyncSession, order_id: str, status: str, fulfillment_version: int
) -> Any | None:
    """Show fulfillment's payment status if it says something new (a newer version with
    another status); the order's row as it is now, or None."""
    news = orders.c.payment_status.is_distinct_from(status)
    return (
        await session.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .where(orders.c.fulfillment_version < fulfillment_version)
            .where(news)
            .values(
                payment_status=status,
                fulfillment_version=fulfillment_version,
                version=orders.c.version + 1,
                updated_at=func.now(),
            )
            .returning(orders)
        )
    ).first()


async def overdue_checkouts(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    rows = await session.execute(
        select(orders.c.id)
        .where(orders.c.status == "checking_out")
        .where(orders.c.checkout_deadline <= now)
        .order_by(orders.c.checkout_deadline)
        .limit(limit)
    )
    return [row.id for row in rows]


async def expired_open_orders(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    rows = await session.execute(
        select(orders.c.id)
        .where(orders.c.status == "open")
        .where(orders.c.expires_at <= now)
        .order_by(orders.c.expires_at)
        .limit(limit)
    )
    return [row.id for row in rows]


# --- line items --------------------------------------------------------------------------------


async def _parts_of(session: AsyncSession, table: Table, order_id: str) -> list[Any]:
    """An order's line items or applied credits, in the order they were added."""
    query = select(table).where(table.c.order_id == order_id).order_by(table.c.position)
    return list((await session.execute(query)).all())


def _one_part(query: Any, table: Table, order_id: str, part_id: str) -> Any:
    return query.where(table.c.order_id == order_id).where(table.c.id == part_id)


_PARTS = text(
    "SELECT ARRAY(SELECT line FROM line_items line WHERE line.order_id = :order_id"
    " ORDER BY line.position) AS lines,"
    " ARRAY(SELECT credit FROM applied_credits credit WHERE credit.order_id = :order_id"
    " ORDER BY credit.position) AS credits"
)


async def parts_of(session: AsyncSession, order_id: str) -> tuple[list[Any], list[Any]]:
    """An order's line items and applied credits, each in the order they were added, in
    one round trip: each table's rows come back as one array of its row type (asyncpg
    decodes every column by its type, as for a plain query). Read after ``lock_order``,
    in a statement of its own, so they are as committed once the lock was had."""
    found = (await session.execute(_PARTS, {"order_id": order_id})).one()
    return [RowValues(line) for line in found.lines], [
        RowValues(credit) for credit in found.credits
    ]


async def lines_of(session: AsyncSession, order_id: str) -> list[Any]:
    return await _parts_of(session, line_items, order_id)


async def next_position(session: AsyncSession, table: Table, order_id: str) -> int:
    found = await session.scalar(
        select(func.coalesce(func.max(table.c.position), 0)).where(table.c.order_id == order_id)
    )
    return int(found or 0) + 1


async def insert_line(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(line_items).values(**values))


async def line_exists(session: AsyncSession, order_id: str, line_item_id: str) -> bool:
    found = await session.scalar(
        _one_part(select(func.count()), line_items, order_id, line_item_id)
    )
    return bool(found)


async def count_lines(session: AsyncSession, order_id: str) -> int:
    found = await session.scalar(select(func.count()).where(line_items.c.order_id == order_id))
    return int(found or 0)


async def delete_line(session: AsyncSession, order_id: str, line_item_id: str) -> Any | None:
    query = _one_part(delete(line_items), line_items, order_id, line_item_id)
    return (await session.execute(query.returning(line_items))).first()


# --- applied credits ---------------------------------------------------------------------------


async def credits_of(session: AsyncSession, order_id: str) -> list[Any]:
    return await _parts_of(session, applied_credits, order_id)


async def credit_exists(session: AsyncSession, order_id: str, application_id: str) -> bool:
    found = await session.scalar(
        _one_part(select(func.count()), applied_credits, order_id, application_id)
    )
    return bool(found)


async def insert_credit(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(applied_credits).values(**values))


async def credit_by_command(session: AsyncSession, command_id: uuid.UUID) -> Any | None:
    """The applied credit one of whose commands (authorize or hold) had this id."""
    return (
        await session.execute(
            select(applied_credits.c.order_id, applied_credits.c.id).where(
                (applied_credits.c.authorize_command_id == command_id)
                | (applied_credits.c.hold_command_id == command_id)
            )
        )
    ).first()


async def credit_by_hold(session: AsyncSession, transaction_id: str) -> Any | None:
    return (
        await session.execute(
            select(applied_credits.c.order_id, applied_credits.c.id).where(
                applied_credits.c.hold_transaction_id == transaction_id
            )
        )
    ).first()


async def get_credit(session: AsyncSession, order_id: str, application_id: str) -> Any | None:
    query = _one_part(select(applied_credits), applied_credits, order_id, application_id)
    return (await session.execute(query)).first()


async def update_credit(
    session: AsyncSession, order_id: str, application_id: str, **changes: Any
) -> None:
    query = _one_part(update(applied_credits), applied_credits, order_id, application_id)
    await session.execute(query.values(**changes, updated_at=func.now()))


# --- uses and bindings -------------------------------------------------------------------------


async def use_transaction(
    session: AsyncSession,
    transaction_id: str,
    order_id: str,
    *,
    line_item_id: str | None = None,
    application_id: str | None = None,
) -> bool:
    """Record the one use of a pending transaction; False if it was used before (by any
    order, this one included). Concurrent uses of one id wait on its key: one wins."""
    inserted = await session.execute(
        insert(transaction_uses)
        .values(
            transaction_id=transaction_id,
            order_id=order_id,
            line_item_id=line_item_id,
            application_id=application_id,
        )
        .on_conflict_do_nothing()
        .returning(transaction_uses.c.transaction_id)
    )
    return inserted.first() is not None


async def insert_bindings(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(bindings), rows)


async def binding_by_command(session: AsyncSession, command_id: uuid.UUID) -> Any | None:
    return (
        await session.execute(select(bindings).where(bindings.c.command_id == command_id))
    ).first()


async def bindings_of(session: AsyncSession, order_id: str, attempt: int) -> list[Any]:
    return list(
        (
            await session.execute(
                select(bindings)
                .where(bindings.c.order_id == order_id)
                .where(bindings.c.attempt == attempt)
            )
        ).all()
    )


async def update_binding(session: AsyncSession, command_id: uuid.UUID, **changes: Any) -> None:
    await session.execute(
        update(bindings).where(bindings.c.command_id == command_id).values(**changes)
    )


# --- copies ------------------------------------------------------------------------------------


async def save_point_account(session: AsyncSession, values: dict[str, Any]) -> None:
    """Keep the newest version of an account (events may be redelivered)."""
    statement = insert(point_accounts).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[point_accounts.c.id],
            set_={
                name: statement.excluded[name]
                for name in ("customer_id", "unit", "exchange_rates", "status", "version")
            },
            where=point_accounts.c.version < statement.excluded.version,
        )
    )


async def get_point_account(session: AsyncSession, account_id: str) -> Any | None:
    return (
        await session.execute(select(point_accounts).where(point_accounts.c.id == account_id))
    ).first()


async def customer_account_in_unit(
    session: AsyncSession, customer_id: str, unit: str
) -> Any | None:
    """The customer's active account of ``unit`` (the oldest, if several)."""
    return (
        await session.execute(
            select(point_accounts)
            .where(point_accounts.c.customer_id == customer_id)
            .where(point_accounts.c.unit == unit)
            .where(point_accounts.c.status == "active")
            .order_by(point_accounts.c.id)
            .limit(1)
        )
    ).first()


async def save_pending_transaction(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(pending_transactions).values(**values).on_conflict_do_nothing())


async def end_pending_transaction(session: AsyncSession, transaction_id: str, status: str) -> None:
    """The ledger committed or voided the transaction (its word is final)."""
    await session.execute(
        update(pending_transactions)
        .where(pending_transactions.c.id == transaction_id)
        .values(status=status)
    )


async def release_pending_copy(session: AsyncSession, transaction_id: str) -> None:
    """This service voids the transaction: voided here at once, if it is pending still
    (the ledger's own event, when it comes, has the last word)."""
    await session.execute(
        update(pending_transactions)
        .where(pending_transactions.c.id == transaction_id)
        .where(pending_transactions.c.status == "pending")
        .values(status="voided")
    )


async def get_pending_transaction(session: AsyncSession, transaction_id: str) -> Any | None:
    return (
        await session.execute(
            select(pending_transactions).where(pending_transactions.c.id == transaction_id)
        )
    ).first()
