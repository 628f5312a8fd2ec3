"""Create the project's PostgreSQL databases when they are missing."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import import_module

from shared.runtime.provision.errors import ProvisionError
from shared.runtime.provision.sync import run_sync

logger = logging.getLogger(__name__)

# asyncpg ships no type information; importing it this way keeps mypy --strict
# quiet whether or not the project's mypy config ignores its missing stubs.
asyncpg = import_module("asyncpg")


def asyncpg_dsn(url: str) -> str:
    """`postgresql+asyncpg://...` (SQLAlchemy style) to `postgresql://...`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ProvisionError(f"not a database URL: {url!r}")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_databases(database_server_url: str, names: Iterable[str]) -> list[str]:
    """CREATE DATABASE for each missing name; return the names created."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    return run_sync(lambda: _ensure(asyncpg_dsn(database_server_url), wanted))


async def _ensure(dsn: str, wanted: list[str]) -> list[str]:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProvisionError(f"cannot connect to PostgreSQL at {dsn}: {exc}") from exc
    created: list[str] = []
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", wanted
        )
        existing = {row["datname"] for row in rows}
        for name in wanted:
            if name in existing:
                continue
            try:
                await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
            except asyncpg.DuplicateDatabaseError:
                continue  # created concurrently by someone else
            logger.info("created database %s", name)
            created.append(name)
    finally:
        await conn.close()
    return created
