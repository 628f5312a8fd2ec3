"""The SQL statements an engine sends while a block runs, as the database sees them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def statements_sent(
    engine: AsyncEngine, keep: Callable[[Any, str], bool] = lambda _connection, _sql: True
) -> Iterator[list[str]]:
    """Each statement ``keep(connection, sql)`` accepts, in order, until the block ends."""
    seen: list[str] = []

    def listen(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if keep(connection, statement):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listen)
