"""The ledger's invariants after a benchmark run, with ``storecredit check``'s own checks.

Every local check that looks at the ledger's database runs on one read-only
snapshot of it (balances against postings, double entry, postings per
transaction, floors, one effect per idempotency key, every command's result in
the inbox, the outbox sent). Two counts only this run can know are added: the
ledger holds exactly one point transaction per deposit sent, and the customer
accounts' balances add up to the amounts deposited, so a deposit applied twice
or lost shows even if every row agrees with its neighbours.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from services.ledger.db import ledger_accounts, point_transactions
from shared.tools.invariants.databases import snapshot
from shared.tools.invariants.model import LocalCheck, Scope, Violation, violation
from shared.tools.invariants.runner import LOCAL_CHECKS

SERVICE = "ledger"
LEDGER_CHECKS: tuple[LocalCheck, ...] = tuple(c for c in LOCAL_CHECKS if SERVICE in c.services)
COUNT_NAMES = ("transaction_count_mismatch", "deposited_total_mismatch")


def check_names() -> list[str]:
    """Every violation name this module can report."""
    return [name for check in LEDGER_CHECKS for name in check.names] + list(COUNT_NAMES)


async def ledger_violations(ledger_url: str, deposits: int, deposited: int) -> list[Violation]:
    """What is wrong in the ledger database after ``deposits`` deposits adding up to
    ``deposited`` were sent to it (empty: every invariant holds). Outbox rows count as
    unsent at once (settle time 0): wait until the relay has sent them first."""
    engine = create_async_engine(ledger_url, pool_size=1, max_overflow=0)
    try:
        async with snapshot(SERVICE, engine) as connection:
            found: list[Violation] = []
            for check in LEDGER_CHECKS:
                found += await check.run(connection, Scope(SERVICE, 0.0))
            found += await _counts(connection, deposits, deposited)
            return found
    finally:
        await engine.dispose()


async def _counts(connection: AsyncConnection, deposits: int, deposited: int) -> list[Violation]:
    found = []
    transactions = await connection.scalar(select(func.count()).select_from(point_transactions))
    if transactions != deposits:
        found.append(
            violation(
                COUNT_NAMES[0],
                SERVICE,
                f"The ledger holds {transactions} point transactions for {deposits} deposits.",
            )
        )
    total = await connection.scalar(
        select(func.coalesce(func.sum(ledger_accounts.c.balance), 0)).where(
            ledger_accounts.c.kind == "customer"
        )
    )
    if total != deposited:
        found.append(
            violation(
                COUNT_NAMES[1],
                SERVICE,
                f"The customer accounts hold {total} in all; {deposited} was deposited.",
            )
        )
    return found
