"""The ledger's own invariants, each one query over the ledger's database.

Customer accounts keep a balance and holds on their row; postings are the
truth they must agree with. System accounts keep no balance (theirs is the sum
of their postings), so only customer accounts are compared.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Subquery, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.db import ledger_accounts as accounts
from services.ledger.db import point_transactions as transactions
from services.ledger.db import postings
from shared.tools.invariants.model import LocalCheck, Scope, Violation, violation

LEDGER = ("ledger",)
_COMMITTED = transactions.c.status == "committed"


async def _stored_not_total(
    connection: AsyncConnection, stored: ColumnElement[Any], totals: Subquery
) -> CursorResult[Any]:
    """The customer accounts whose ``stored`` column is not their ``total`` in ``totals``
    (by ``account_id``; an account it does not name has a total of 0)."""
    total = func.coalesce(totals.c.total, 0)
    rows: CursorResult[Any] = await connection.execute(
        select(accounts.c.id, stored, total.label("total"))
        .select_from(accounts.outerjoin(totals, totals.c.account_id == accounts.c.id))
        .where(accounts.c.kind == "customer", stored != total)
    )
    return rows


async def balances(connection: AsyncConnection, _: Scope) -> list[Violation]:
    posted = (
        select(postings.c.account_id, func.sum(postings.c.amount).label("total"))
        .group_by(postings.c.account_id)
        .subquery()
    )
    rows = await _stored_not_total(connection, accounts.c.balance, posted)
    return [
        violation(
            "balance_mismatch",
            "ledger",
            f"Ledger account {row.id} has a stored balance of {row.balance}, "
            f"but its postings sum to {row.total}.",
            account_id=row.id,
        )
        for row in rows
    ]


async def holds(connection: AsyncConnection, _: Scope) -> list[Violation]:
    held = (
        select(transactions.c.account_id, func.sum(-transactions.c.amount).label("total"))
        .where(transactions.c.status == "pending", transactions.c.amount < 0)
        .group_by(transactions.c.account_id)
        .subquery()
    )
    rows = await _stored_not_total(connection, accounts.c.holds, held)
    return [
        violation(
            "holds_mismatch",
            "ledger",
            f"Ledger account {row.id} has stored holds of {row.holds}, "
            f"but its open pending spends hold {row.total}.",
            account_id=row.id,
        )
        for row in rows
    ]


async def double_entry(connection: AsyncConnection, _: Scope) -> list[Violation]:
    """Every transaction's postings, and so every unit's, sum to zero."""
    found: list[Violation] = []
    total = func.sum(postings.c.amount)
    by_transaction = await connection.execute(
        select(postings.c.transaction_id, total.label("total"))
        .group_by(postings.c.transaction_id)
        .having(total != 0)
    )
    for row in by_transaction:
        found.append(
            violation(
                "transaction_unbalanced",
                "ledger",
                f"The postings of point transaction {row.transaction_id} sum to {row.total}, "
                "not zero.",
                transaction_id=row.transaction_id,
            )
        )
    by_unit = await connection.execute(
        select(postings.c.unit, total.label("total")).group_by(postings.c.unit).having(total != 0)
    )
    for row in by_unit:
        found.append(
            violation(
                "unit_unbalanced",
                "ledger",
                f"The postings in unit {row.unit} sum to {row.total}, not zero.",
                unit=row.unit,
            )
        )
    return found


async def postings_of_transactions(connection: AsyncConnection, _: Scope) -> list[Violation]:
    """A committed transaction has exactly two postings, its own account's being the
    committed amount; a pending or voided one has none."""
    own = postings.c.account_id == transactions.c.account_id
    count = func.count(postings.c.id)
    own_count = func.count(postings.c.id).filter(own)
    own_total = func.coalesce(func.sum(postings.c.amount).filter(own), 0)
    committed_amount = func.coalesce(transactions.c.committed_amount, 0)
    rows = await connection.execute(
        select(
            transactions.c.id,
            transactions.c.account_id,
            transactions.c.status,
            transactions.c.committed_amount,
            count.label("count"),
            own_total.label("own_total"),
        )
        .select_from(
            transactions.outerjoin(postings, postings.c.transaction_id == transactions.c.id)
        )
        .group_by(transactions.c.id)
        .having(
            or_(
                and_(_COMMITTED, or_(count != 2, own_count != 1, own_total != committed_amount)),
                and_(~_COMMITTED, count > 0),
            )
        )
    )
    return [
        violation(
            "postings_mismatch",
            "ledger",
            f"Point transaction {row.id} is {row.status} with committed amount "
            f"{row.committed_amount}, but has {row.count} postings, {row.own_total} of it "
            f"on its account {row.account_id}.",
            transaction_id=row.id,
            account_id=row.account_id,
        )
        for row in rows
    ]


async def floors(connection: AsyncConnection, _: Scope) -> list[Violation]:
    available = accounts.c.balance - accounts.c.holds
    below = or_(
        and_(~accounts.c.allow_negative, available < 0),
        and_(
            accounts.c.allow_negative,
            accounts.c.negative_limit.is_not(None),
            available < -accounts.c.negative_limit,
        ),
    )
    rows = await connection.execute(
        select(
            accounts.c.id,
            accounts.c.balance,
            accounts.c.holds,
            accounts.c.allow_negative,
            accounts.c.negative_limit,
        ).where(accounts.c.kind == "customer", below)
    )
    return [
        violation(
            "balance_below_floor",
            "ledger",
            f"Ledger account {row.id} has {row.balance - row.holds} available (balance "
            f"{row.balance}, holds {row.holds}), below its floor of "
            f"{-row.negative_limit if row.allow_negative else 0}.",
            account_id=row.id,
        )
        for row in rows
    ]


async def committed_amounts(connection: AsyncConnection, _: Scope) -> list[Violation]:
    """A committed amount has the sign of the amount and is no larger; only committed
    transactions have one."""
    committed = transactions.c.committed_amount
    amount = transactions.c.amount
    wrong = or_(
        and_(
            _COMMITTED,
            or_(
                committed.is_(None),
                committed == 0,
                func.sign(committed) != func.sign(amount),
                func.abs(committed) > func.abs(amount),
            ),
        ),
        and_(~_COMMITTED, committed.is_not(None)),
    )
    rows = await connection.execute(
        select(transactions.c.id, transactions.c.status, amount, committed).where(wrong)
    )
    return [
        violation(
            "commit_exceeds_amount",
            "ledger",
            f"Point transaction {row.id} ({row.status}, amount {row.amount}) has a committed "
            f"amount of {row.committed_amount}.",
            transaction_id=row.id,
        )
        for row in rows
    ]


async def reversals(connection: AsyncConnection, _: Scope) -> list[Violation]:
    """Reversed at most what was committed, and exactly what its reversals add up to."""
    found: list[Violation] = []
    beyond = await connection.execute(
        select(
            transactions.c.id, transactions.c.reversed_amount, transactions.c.committed_amount
        ).where(
            transactions.c.reversed_amount
            > func.abs(func.coalesce(transactions.c.committed_amount, 0))
        )
    )
    for row in beyond:
        found.append(
            violation(
                "reversal_exceeds_original",
                "ledger",
                f"Point transaction {row.id} has {row.reversed_amount} reversed, more than its "
                f"committed amount {row.committed_amount}.",
                transaction_id=row.id,
            )
        )
    reversal = transactions.alias("reversal")
    total = func.coalesce(func.sum(func.abs(reversal.c.amount)), 0)
    originals = select(transactions.c.reverses).where(transactions.c.reverses.is_not(None))
    mismatched = await connection.execute(
        select(transactions.c.id, transactions.c.reversed_amount, total.label("total"))
        .select_from(
            transactions.outerjoin(
                reversal,
                and_(reversal.c.reverses == transactions.c.id, reversal.c.status == "committed"),
            )
        )
        .where(or_(transactions.c.reversed_amount > 0, transactions.c.id.in_(originals)))
        .group_by(transactions.c.id)
        .having(transactions.c.reversed_amount != total)
    )
    for row in mismatched:
        found.append(
            violation(
                "reversed_amount_mismatch",
                "ledger",
                f"Point transaction {row.id} records {row.reversed_amount} reversed, but its "
                f"reversals add up to {row.total}.",
                transaction_id=row.id,
            )
        )
    return found


CHECKS = (
    LocalCheck(
        ("balance_mismatch",),
        LEDGER,
        "a customer account's stored balance is the sum of its postings",
        balances,
    ),
    LocalCheck(
        ("holds_mismatch",),
        LEDGER,
        "a customer account's stored holds are the sum of its open pending spends",
        holds,
    ),
    LocalCheck(
        ("transaction_unbalanced", "unit_unbalanced"),
        LEDGER,
        "the postings of every transaction, and of every unit, sum to zero",
        double_entry,
    ),
    LocalCheck(
        ("postings_mismatch",),
        LEDGER,
        "a committed transaction is posted once (two postings, its committed amount on its "
        "account); a pending or voided one is not posted",
        postings_of_transactions,
    ),
    LocalCheck(
        ("balance_below_floor",),
        LEDGER,
        "no account has less available than zero, or than minus its negative limit",
        floors,
    ),
    LocalCheck(
        ("commit_exceeds_amount",),
        LEDGER,
        "a committed amount has the sign of its transaction's amount and is not larger",
        committed_amounts,
    ),
    LocalCheck(
        ("reversal_exceeds_original", "reversed_amount_mismatch"),
        LEDGER,
        "a transaction is reversed at most by its committed amount, and its reversed amount "
        "is the sum of its reversals",
        reversals,
    ),
)
