"""Checked-out orders reach the ledger and fulfillment.

- Every point line item of a checked-out order has its pending spend committed
  in the ledger, on its account, for exactly its points.
- Every store credit captured at checkout has its hold committed, for no more
  than was held.
- Every checked-out order has its fulfillment, with an item for each point line
  item (same transaction and amount) and for each captured hold; and every
  fulfillment is of an order the order service checked out.

"Exactly once" is the ledger's side: a transaction id is committed once, with
one pair of postings (``postings_mismatch``, ``effect_repeated``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.fulfillment.db import fulfillments
from services.fulfillment.db import items as fulfillment_items
from services.order.db import applied_credits, line_items, orders
from shared.tools.invariants.checkouts import (
    CHECKED_OUT,
    checked_out_captures,
    checked_out_point_lines,
)
from shared.tools.invariants.model import (
    Connections,
    CrossCheck,
    Facts,
    Violation,
    among,
    violation,
)
from shared.tools.invariants.rows import present, rows_by
from shared.tools.invariants.transactions import committed_problem, ledger_problems


async def point_lines(connections: Connections) -> Facts:
    query = checked_out_point_lines(
        line_items.c.transaction_id,
        line_items.c.order_id,
        line_items.c.id.label("line_item_id"),
        line_items.c.account_id,
        line_items.c.points,
    )
    return await rows_by(connections["order"], query, "transaction_id")


def _spend_problem(row: Any | None, line: Any) -> str | None:
    return committed_problem(row, line.account_id, line.points)


async def spends_committed(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    return [
        violation(
            "spend_not_committed",
            ("order", "ledger"),
            f"Order {line.order_id} is checked out, but the pending spend "
            f"{transaction_id} of its line item {line.line_item_id} {problem}.",
            subject=transaction_id,
            order_id=line.order_id,
            line_item_id=line.line_item_id,
            transaction_id=transaction_id,
        )
        for transaction_id, line, problem in await ledger_problems(
            connection, facts, _spend_problem
        )
    ]


async def captured_credits(connections: Connections) -> Facts:
    query = checked_out_captures(
        applied_credits.c.hold_transaction_id,
        applied_credits.c.order_id,
        applied_credits.c.id.label("application_id"),
        applied_credits.c.ledger_account_id,
        applied_credits.c.held,
    ).where(applied_credits.c.hold_transaction_id.is_not(None))
    return await rows_by(connections["order"], query, "hold_transaction_id")


def _capture_problem(row: Any | None, credit: Any) -> str | None:
    if row is None:
        return "is not in the ledger"
    if row.account_id != credit.ledger_account_id:
        return f"is on ledger account {row.account_id}, not {credit.ledger_account_id}"
    if row.amount != -credit.held:
        return f"holds {-row.amount}, but the order says {credit.held} was held"
    if row.status != "committed":
        return f"is {row.status} in the ledger"
    if not -credit.held <= (row.committed_amount or 0) < 0:
        return f"is committed for {row.committed_amount}, of {credit.held} held"
    return None


async def holds_captured(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    return [
        violation(
            "hold_not_captured",
            ("order", "ledger"),
            f"Order {credit.order_id} captured store credit {credit.application_id}, but "
            f"its hold {transaction_id} {problem}.",
            subject=transaction_id,
            order_id=credit.order_id,
            application_id=credit.application_id,
            transaction_id=transaction_id,
        )
        for transaction_id, credit, problem in await ledger_problems(
            connection, facts, _capture_problem
        )
    ]


@dataclass
class Expected:
    """What a checked-out order's fulfillment must hold: by item ref, a transaction
    id and (for point line items) its amount."""

    items: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)


async def checked_out_orders(connections: Connections) -> Facts:
    order = connections["order"]
    expected: dict[str, Expected] = defaultdict(Expected)
    for row in await order.execute(select(orders.c.id).where(CHECKED_OUT)):
        expected[row.id] = Expected()
    lines = await order.execute(
        checked_out_point_lines(
            line_items.c.order_id, line_items.c.id, line_items.c.transaction_id, line_items.c.points
        )
    )
    for line in lines:
        expected[line.order_id].items[f"line:{line.id}"] = (line.transaction_id, line.points)
    credits = await order.execute(
        checked_out_captures(
            applied_credits.c.order_id, applied_credits.c.id, applied_credits.c.hold_transaction_id
        )
    )
    for credit in credits:
        expected[credit.order_id].items[f"hold:{credit.id}"] = (credit.hold_transaction_id, None)
    return dict(expected)


async def fulfillments_made(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    fulfilled = await present(connection, fulfillments.c.order_id, facts)
    made: dict[tuple[str, str], Any] = {
        (row.order_id, row.ref): row
        for row in await connection.execute(
            select(
                fulfillment_items.c.order_id,
                fulfillment_items.c.ref,
                fulfillment_items.c.transaction_id,
                fulfillment_items.c.amount,
            ).where(among(fulfillment_items.c.order_id, facts))
        )
    }
    found = []
    for order_id, expected in facts.items():
        if order_id not in fulfilled:
            found.append(
                violation(
                    "fulfillment_missing",
                    ("order", "fulfillment"),
                    f"Order {order_id} is checked out, but fulfillment has no record of it.",
                    subject=order_id,
                    order_id=order_id,
                )
            )
            continue
        for ref, (transaction_id, amount) in expected.items.items():
            problem = _item_problem(made.get((order_id, ref)), transaction_id, amount)
            if problem is None:
                continue
            found.append(
                violation(
                    "fulfillment_item_mismatch",
                    ("order", "fulfillment"),
                    f"Order {order_id}'s fulfillment item {ref} {problem}.",
                    subject=order_id,
                    order_id=order_id,
                    ref=ref,
                )
            )
    return found


def _item_problem(item: Any | None, transaction_id: str | None, amount: int | None) -> str | None:
    if item is None:
        return "is missing"
    if item.transaction_id != transaction_id:
        return f"has transaction {item.transaction_id}; the order has {transaction_id}"
    if amount is not None and item.amount != amount:
        return f"is for {item.amount}; the order's line item for {amount}"
    return None


async def fulfilled_orders(connections: Connections) -> Facts:
    return await rows_by(connections["fulfillment"], select(fulfillments.c.order_id), "order_id")


async def orders_checked_out(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    rows = await connection.execute(
        select(orders.c.id, orders.c.status).where(among(orders.c.id, facts))
    )
    status = {row.id: row.status for row in rows}
    return [
        violation(
            "fulfillment_without_order",
            ("fulfillment", "order"),
            f"Fulfillment has order {order_id}, which the order service "
            + (f"has {status[order_id]}." if order_id in status else "does not have."),
            subject=order_id,
            order_id=order_id,
        )
        for order_id in facts
        if status.get(order_id) != "checked_out"
    ]


CHECKS = (
    CrossCheck(
        ("spend_not_committed",),
        "order",
        "ledger",
        "every point line item of a checked-out order is committed in the ledger for its points",
        point_lines,
        spends_committed,
    ),
    CrossCheck(
        ("hold_not_captured",),
        "order",
        "ledger",
        "every store credit captured at checkout has its hold committed, within what was held",
        captured_credits,
        holds_captured,
    ),
    CrossCheck(
        ("fulfillment_missing", "fulfillment_item_mismatch"),
        "order",
        "fulfillment",
        "every checked-out order has its fulfillment, with an item per point line item and "
        "per captured hold",
        checked_out_orders,
        fulfillments_made,
    ),
    CrossCheck(
        ("fulfillment_without_order",),
        "fulfillment",
        "order",
        "every fulfillment is of an order the order service checked out",
        fulfilled_orders,
        orders_checked_out,
    ),
)
