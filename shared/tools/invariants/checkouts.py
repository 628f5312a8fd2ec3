"""What pays a checked-out order, as the order service has it: the point line items
and the store credits captured at checkout (the orders and payment checks share them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select

from services.order.db import applied_credits, line_items, orders

CHECKED_OUT = orders.c.status == "checked_out"


def checked_out_point_lines(*columns: ColumnElement[Any]) -> Select[Any]:
    """``columns`` of every point line item of a checked-out order."""
    return (
        select(*columns)
        .select_from(line_items.join(orders, orders.c.id == line_items.c.order_id))
        .where(CHECKED_OUT, line_items.c.kind == "point_transaction")
    )


def checked_out_captures(*columns: ColumnElement[Any]) -> Select[Any]:
    """``columns`` of every store credit a checked-out order captured."""
    return (
        select(*columns)
        .select_from(applied_credits.join(orders, orders.c.id == applied_credits.c.order_id))
        .where(CHECKED_OUT, applied_credits.c.status == "captured")
    )
