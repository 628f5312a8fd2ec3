"""Fulfillment tables and queries: one row per checked-out order, its items, what
paid it (for returns), its returns and their parts.

Every change to an order's fulfillment locks its row first (``lock``), so ledger
answers, admin commands and returns never interleave on one order.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
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

fulfillments = Table(
    "fulfillments",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("number", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("chargeable", BigInteger, nullable=False),  # products, deposits, shipping, tax
    Column("line_items", JSONB, nullable=False),  # as in OrderCheckedOut
    Column("cancelled_at", DateTime(timezone=True), nullable=True),  # CancelFulfillment
    Column("cancel_reason", Text, nullable=True),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    *timestamps(),
)

items = Table(
    "fulfillment_items",
    metadata,
    Column("id", Text, primary_key=True),
    Column("order_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("ref", Text, nullable=False),  # line:<id>, earn:<id>, hold:<application id>
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("returned_quantity", Integer, nullable=False, server_default=text("0")),
    Column("line_item_id", Text, nullable=True),
    Column("application_id", Text, nullable=True),
    Column("account_id", Text, nullable=True),
    Column("transaction_id", Text, nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("unit", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("command_id", UUID(as_uuid=True), nullable=True, unique=True),
    Column("code", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("fulfilled_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "returned_quantity >= 0 AND returned_quantity <= quantity",
        name="fulfillment_items_returned_within_quantity",
    ),
    Index("fulfillment_items_order", "order_id", "position", unique=True),
    Index("fulfillment_items_ref", "order_id", "ref", unique=True),
)

money_sources = Table(
    "money_sources",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("source_id", Text, nullable=False),  # credit:<application id>, external, owing
    Column("amount", BigInteger, nullable=False),
    Column("store_credit_id", Text, nullable=True),
    Column("ledger_account_id", Text, nullable=True),
    Column("transaction_id", Text, nullable=True),  # the captured hold
    PrimaryKeyConstraint("order_id", "source_id"),
)

returns = Table(
    "returns",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("id", Text, nullable=False),
    Column("line_item_id", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    created_at(),
    PrimaryKeyConstraint("order_id", "id"),
)

return_parts = Table(
    "return_parts",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("return_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("source_id", Text, nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("account_id", Text, nullable=True),
    Column("transaction_id", Text, nullable=True),
    Column("store_credit_id", Text, nullable=True),
    Column("command_id", UUID(as_uuid=True), nullable=True, unique=True),
    Column("code", Text, nullable=True),
    Column("reason", Text, nullable=True),
    PrimaryKeyConstraint("order_id", "return_id", "position"),
    CheckConstraint("amount > 0", name="return_parts_amount_positive"),
)


async def insert_fulfillment(session: AsyncSession, values: dict[str, Any]) -> Any | None:
    """Store a checked-out order; its row (version 1), or None if it is already here."""
    inserted = await session.execute(
        insert(fulfillments).values(**values).on_conflict_do_nothing().returning(fulfillments)
    )
    return inserted.first()


async def lock(session: AsyncSession, order_id: str) -> Any | None:
    return (
        await session.execute(
            select(fulfillments).where(fulfillments.c.order_id == order_id).with_for_update()
        )
    ).first()


async def get(session: AsyncSession, order_id: str) -> Any | None:
    """The order's fulfillment row, read only (no lock)."""
    query = select(fulfillments).where(fulfillments.c.order_id == order_id)
    return (await session.execute(query)).first()


async def with_problems(session: AsyncSession, after: str | None, limit: int) -> list[Any]:
    """Up to ``limit`` fulfillments with a failed item or return part, by order id, after
    ``after``."""
    failed_item = (
        select(items.c.order_id)
        .where(items.c.order_id == fulfillments.c.order_id, items.c.status == "failed")
        .exists()
    )
    failed_part = (
        select(return_parts.c.order_id)
        .where(
            return_parts.c.order_id == fulfillments.c.order_id,
            return_parts.c.status == "failed",
        )
        .exists()
    )
    query = select(fulfillments).where(failed_item | failed_part)
    if after is not None:
        query = query.where(fulfillments.c.order_id > after)
    query = query.order_by(fulfillments.c.order_id).limit(limit)
    return list((await session.execute(query)).all())


async def touch(session: AsyncSession, order_id: str, **changes: Any) -> Any:
    """Count a new version of the order's fulfillment; its row as it is now."""
    return (
        await session.execute(
            update(fulfillments)
            .where(fulfillments.c.order_id == order_id)
            .values(**changes, version=fulfillments.c.version + 1, updated_at=func.now())
            .returning(fulfillments)
        )
    ).one()


async def insert_items_and_sources(
    session: AsyncSession, rows: list[dict[str, Any]], sources: list[dict[str, Any]]
) -> list[Any]:
    """Store a new fulfillment's items and the money that paid its order, in one
    statement (the sources' INSERT as a data-modifying CTE); the items are returned as
    stored (defaults filled in), by position."""
    if not rows:
        if sources:
            await session.execute(insert(money_sources).values(sources))
        return []
    query = insert(items).values(rows).returning(items)
    if sources:
        query = query.add_cte(insert(money_sources).values(sources).cte("sources"))
    stored = (await session.execute(query)).all()
    return sorted(stored, key=lambda item: item.position)


async def items_of(session: AsyncSession, order_id: str) -> list[Any]:
    query = select(items).where(items.c.order_id == order_id).order_by(items.c.position)
    return list((await session.execute(query)).all())


async def get_item(session: AsyncSession, order_id: str, item_id: str) -> Any | None:
    query = select(items).where(items.c.order_id == order_id).where(items.c.id == item_id)
    return (await session.execute(query)).first()


async def update_item(session: AsyncSession, item_id: str, **changes: Any) -> Any:
    """Change the item; it is returned as it is now."""
    query = update(items).where(items.c.id == item_id).values(**changes).returning(items)
    return (await session.execute(query)).one()


_ITEM_PREFIX = "item__"


async def update_item_and_touch(
    session: AsyncSession, order_id: str, item_id: str, **changes: Any
) -> tuple[Any, Any]:
    """Change the order's item and count a new version of its fulfillment, in one
    statement (the item's UPDATE as a data-modifying CTE): the item and the
    fulfillment's row, as they are now."""
    changed = (
        update(items)
        .where(items.c.order_id == order_id)
        .where(items.c.id == item_id)
        .values(**changes)
        .returning(*items.c)
        .cte("changed_item")
    )
    query = (
        update(fulfillments)
        .where(fulfillments.c.order_id == changed.c.order_id)
        .values(version=fulfillments.c.version + 1, updated_at=func.now())
        .returning(
            *fulfillments.c, *(column.label(_ITEM_PREFIX + column.name) for column in changed.c)
        )
    )
    row = (await session.execute(query)).one()._mapping
    item = {c.name: row[_ITEM_PREFIX + c.name] for c in items.c}
    fulfillment = {c.name: row[c.name] for c in fulfillments.c}
    return RowValues(item), RowValues(fulfillment)


async def lock_by_item_command(session: AsyncSession, command_id: uuid.UUID) -> Any | None:
    """The fulfillment (locked) one of whose items sent this command, if any.

    An item never moves to another order, so the order found is the item's even if the
    item changed since; read the item again now that the order is locked.
    """
    owner = select(items.c.order_id).where(items.c.command_id == command_id).scalar_subquery()
    query = select(fulfillments).where(fulfillments.c.order_id == owner).with_for_update()
    return (await session.execute(query)).first()


async def sources_of(session: AsyncSession, order_id: str) -> list[Any]:
    query = (
        select(money_sources)
        .where(money_sources.c.order_id == order_id)
        .order_by(money_sources.c.source_id)
    )
    return list((await session.execute(query)).all())


async def insert_return(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(returns).values(**values))


async def return_ids(session: AsyncSession, order_id: str) -> set[str]:
    """The ids of the order's returns (read under its lock: no return is added meanwhile)."""
    found = await session.execute(select(returns.c.id).where(returns.c.order_id == order_id))
    return set(found.scalars())


async def returns_of(session: AsyncSession, order_id: str) -> list[Any]:
    query = select(returns).where(returns.c.order_id == order_id).order_by(returns.c.created_at)
    return list((await session.execute(query)).all())


async def update_return(session: AsyncSession, order_id: str, return_id: str, status: str) -> None:
    await session.execute(
        update(returns)
        .where(returns.c.order_id == order_id)
        .where(returns.c.id == return_id)
        .values(status=status)
    )


async def insert_parts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(return_parts), rows)


async def parts_of(session: AsyncSession, order_id: str) -> list[Any]:
    query = (
        select(return_parts)
        .where(return_parts.c.order_id == order_id)
        .order_by(return_parts.c.return_id, return_parts.c.position)
    )
    return list((await session.execute(query)).all())


async def part_by_command(session: AsyncSession, command_id: uuid.UUID) -> Any | None:
    query = select(return_parts).where(return_parts.c.command_id == command_id)
    return (await session.execute(query)).first()


async def update_part(
    session: AsyncSession, order_id: str, return_id: str, position: int, **changes: Any
) -> None:
    await session.execute(
        update(return_parts)
        .where(return_parts.c.order_id == order_id)
        .where(return_parts.c.return_id == return_id)
        .where(return_parts.c.position == position)
        .values(**changes)
    )
