"""Reading rows for the checks: a query's rows by one of their columns, and which of
some ids a table holds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Executable, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.tools.invariants.model import among


def keyed(rows: Iterable[Any], key: str = "id") -> dict[Any, Any]:
    """``rows`` by their column ``key`` (a later row of the same key wins)."""
    return {getattr(row, key): row for row in rows}


async def rows_by(
    connection: AsyncConnection, query: Executable, key: str = "id"
) -> dict[Any, Any]:
    """The rows ``query`` selects, by their column ``key``."""
    return keyed(await connection.execute(query), key)


async def present(
    connection: AsyncConnection, column: ColumnElement[Any], ids: Iterable[str]
) -> set[Any]:
    """Those of ``ids`` that ``column`` holds."""
    return set((await connection.execute(select(column).where(among(column, ids)))).scalars())
