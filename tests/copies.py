"""Waiting for a service's copy of another service's state: an event on a topic is not
yet the copy a consumer keeps of it, and the service decides on the copy."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Column, select

from shared.runtime.db import create_engine
from shared.runtime.settings import Settings


async def copy_reaches(
    settings: Settings, service: str, column: Column[Any], row_id: str, value: Any, within_s: float
) -> None:
    """Until ``column`` of row ``row_id`` in ``service``'s database holds ``value``."""
    engine = create_engine(settings.database_url_for(service))
    try:
        async with asyncio.timeout(within_s):
            while True:
                async with engine.connect() as connection:
                    found = await connection.scalar(
                        select(column).where(column.table.c.id == row_id)
                    )
                if found == value:
                    return
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
