"""What the ledger's database keeps per command: its size before and after a run, by
table (``sizes``), and the figures made of them (``storage_figures``: pure, so it is
unit-tested).

The business record (point transactions, postings, accounts) stays for ever. The
messaging tables are bounded by ``shared.runtime.retention``: an inbox row lives for
``STORECREDIT_IDEMPOTENCY_WINDOW_S`` and a published outbox row for
``STORECREDIT_OUTBOX_RETENTION_S``, so in a steady state they hold about a window's
worth of commands whatever the run's length. A run shorter than the windows (every
benchmark's) sees them whole.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.runtime.provision.databases import asyncpg, asyncpg_dsn
from shared.tools.bench.report import Figure

TABLES = ("inbox", "outbox", "point_transactions", "postings", "ledger_accounts")
BOUNDED = ("inbox", "outbox")
DATABASE = "database"


async def sizes(url: str) -> dict[str, int]:
    """Bytes on disk of the database and of each table, its indexes and TOAST included
    (``pg_total_relation_size``: dead row versions count, as they take the disk too)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        database = await connection.fetchval("SELECT pg_database_size(current_database())")
        found = {DATABASE: int(database)}
        for table in TABLES:
            size = await connection.fetchval("SELECT pg_total_relation_size($1)", table)
            found[table] = int(size)
        return found
    finally:
        await connection.close()


def storage_figures(
    before: Mapping[str, int], after: Mapping[str, int], commands: int, mode: str
) -> list[Figure]:
    """Bytes per command the run left, and the database's size after it."""
    grown = {name: after[name] - before.get(name, 0) for name in after}
    per = {name: grown[name] / commands if commands else float("nan") for name in grown}
    tables = ", ".join(f"{name} {per[name]:,.0f}" for name in TABLES if name in per)
    bounded = sum(per.get(name, 0.0) for name in BOUNDED)
    return [
        Figure(
            f"ledger storage per command{mode}",
            per[DATABASE],
            "bytes",
            f"the database's growth over {commands:,} commands; by table: {tables}; of which "
            f"{bounded:,.0f} bytes (inbox, outbox) are pruned after their windows",
        ),
        Figure(
            f"ledger database after the run{mode}",
            after[DATABASE] / 1_000_000,
            "MB",
            f"{before.get(DATABASE, 0) / 1_000_000:,.1f} MB before it (the migrated schema)",
        ),
    ]
