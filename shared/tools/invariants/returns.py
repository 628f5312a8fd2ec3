"""Every returned item is reversed exactly once.

A return's parts are planned by fulfillment; each part that gives points or
store credit back is a ledger reversal with an id fixed by the part
(``rt-<part ref>``), or a new store credit (``sc-<part ref>``) under the
no-refund policy.

- A part that is done has its reversal in the ledger: committed, reversing the
  part's transaction, on its account, for the part's amount; or its store credit.
- Every reversal fulfillment asked for (references ``order_id`` and
  ``return_id``) belongs to a part of that return.
- A part the ledger (or store-credit) has carried out is not left ``sending``
  or ``failed``.

"Once" is the ledger's side: one reversal id is one transaction, and no
transaction is reversed beyond its committed amount (``reversal_exceeds_original``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.fulfillment import ReturnPartKind
from services.fulfillment.db import return_parts as parts
from services.fulfillment.returns import part_ref, reversal_transaction_id
from services.ledger.db import point_transactions as transactions
from services.store_credit.db import store_credits
from shared.tools.invariants.model import (
    Connections,
    CrossCheck,
    Facts,
    Violation,
    among,
    violation,
)
from shared.tools.invariants.rows import present, rows_by
from shared.tools.invariants.transactions import done_in_ledger, ledger_problems

REVERSING = (
    ReturnPartKind.REVERSE_POINTS_SPENT.value,
    ReturnPartKind.RESTORE_STORE_CREDIT.value,
    ReturnPartKind.REVERSE_DEPOSIT.value,
    ReturnPartKind.REVERSE_POINTS_EARNED.value,
)
ISSUING = ReturnPartKind.ISSUE_STORE_CREDIT.value
_UNANSWERED = ("sending", "failed")


def reversal_id(order_id: str, return_id: str, position: int) -> str:
    """The ledger reversal of one return part, as fulfillment names it."""
    return reversal_transaction_id(part_ref(order_id, return_id, position))


def _part(row: Any) -> str:
    return f"part {row.position} ({row.kind}) of return {row.return_id} on order {row.order_id}"


def _part_ids(row: Any) -> dict[str, Any]:
    return {"order_id": row.order_id, "return_id": row.return_id, "position": row.position}


async def reversing_parts_done(connections: Connections) -> Facts:
    rows = await connections["fulfillment"].execute(
        select(parts).where(parts.c.status == "done", parts.c.kind.in_(REVERSING))
    )
    return {reversal_id(row.order_id, row.return_id, row.position): row for row in rows}


def _reversal_problem(row: Any | None, part: Any) -> str | None:
    if row is None:
        return "is not in the ledger"
    if row.status != "committed":
        return f"is {row.status}"
    if row.account_id != part.account_id:
        return f"is on ledger account {row.account_id}, not {part.account_id}"
    if row.reverses != part.transaction_id:
        return f"reverses {row.reverses}, not {part.transaction_id}"
    if abs(row.amount) != part.amount:
        return f"is for {abs(row.amount)}, not {part.amount}"
    return None


async def reversals_made(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    return [
        violation(
            "return_not_reversed",
            ("fulfillment", "ledger"),
            f"The {_part(part)} is done, but its reversal {transaction_id} {problem}.",
            subject=transaction_id,
            transaction_id=transaction_id,
            **_part_ids(part),
        )
        for transaction_id, part, problem in await ledger_problems(
            connection, facts, _reversal_problem
        )
    ]


async def issuing_parts_done(connections: Connections) -> Facts:
    done = select(parts).where(
        parts.c.status == "done", parts.c.kind == ISSUING, parts.c.store_credit_id.is_not(None)
    )
    return await rows_by(connections["fulfillment"], done, "store_credit_id")


async def store_credits_issued(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    issued = await present(connection, store_credits.c.id, facts)
    return [
        violation(
            "return_store_credit_missing",
            ("fulfillment", "store_credit"),
            f"The {_part(part)} is done, but store credit {store_credit_id} does not exist.",
            subject=store_credit_id,
            store_credit_id=store_credit_id,
            **_part_ids(part),
        )
        for store_credit_id, part in facts.items()
        if store_credit_id not in issued
    ]


async def return_reversals(connections: Connections) -> Facts:
    asked = and_(
        transactions.c.reverses.is_not(None),
        transactions.c.references.has_key("order_id"),
        transactions.c.references.has_key("return_id"),
    )
    query = select(
        transactions.c.id,
        transactions.c.references["order_id"].astext.label("order_id"),
        transactions.c.references["return_id"].astext.label("return_id"),
    ).where(asked)
    return await rows_by(connections["ledger"], query)


async def reversals_have_parts(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    order_ids = {reversal.order_id for reversal in facts.values()}
    rows = await connection.execute(
        select(parts.c.order_id, parts.c.return_id, parts.c.position, parts.c.kind).where(
            among(parts.c.order_id, order_ids)
        )
    )
    planned = {
        reversal_id(row.order_id, row.return_id, row.position)
        for row in rows
        if row.kind in REVERSING
    }
    return [
        violation(
            "reversal_without_return",
            ("ledger", "fulfillment"),
            f"Reversal {transaction_id} names return {reversal.return_id} on order "
            f"{reversal.order_id}, but no part of that return asked for it.",
            subject=transaction_id,
            transaction_id=transaction_id,
            order_id=reversal.order_id,
            return_id=reversal.return_id,
        )
        for transaction_id, reversal in facts.items()
        if transaction_id not in planned
    ]


async def parts_done_elsewhere(connections: Connections) -> Facts:
    """Sending or failed parts whose reversal the ledger has made, or whose store credit
    store-credit has issued, as asked."""
    waiting = (
        await connections["fulfillment"].execute(
            select(parts).where(
                parts.c.status.in_(_UNANSWERED), parts.c.kind.in_((*REVERSING, ISSUING))
            )
        )
    ).all()
    if not waiting:
        return {}
    reversing = {
        reversal_id(p.order_id, p.return_id, p.position): p for p in waiting if p.kind != ISSUING
    }
    done = dict(await done_in_ledger(connections["ledger"], reversing, _reversal_problem))
    issuing = {p.store_credit_id: p for p in waiting if p.kind == ISSUING and p.store_credit_id}
    if issuing:
        issued = await present(connections["store_credit"], store_credits.c.id, issuing)
        done.update({credit_id: part for credit_id, part in issuing.items() if credit_id in issued})
    return {f"{p.order_id}/{p.return_id}/{p.position}": p for p in done.values()}


async def parts_answered(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    order_ids = {part.order_id for part in facts.values()}
    rows = await connection.execute(
        select(parts.c.order_id, parts.c.return_id, parts.c.position, parts.c.status).where(
            among(parts.c.order_id, order_ids), parts.c.status.in_(_UNANSWERED)
        )
    )
    found = []
    for row in rows:
        key = f"{row.order_id}/{row.return_id}/{row.position}"
        part = facts.get(key)
        if part is None:
            continue
        found.append(
            violation(
                "return_part_unconfirmed",
                ("ledger", "fulfillment"),
                f"The {_part(part)} was carried out, but fulfillment still has it {row.status}.",
                subject=key,
                **_part_ids(part),
            )
        )
    return found


CHECKS = (
    CrossCheck(
        ("return_not_reversed",),
        "fulfillment",
        "ledger",
        "every done return part that gives points or store credit back has its reversal, "
        "for its amount",
        reversing_parts_done,
        reversals_made,
    ),
    CrossCheck(
        ("return_store_credit_missing",),
        "fulfillment",
        "store_credit",
        "every done return part that issues store credit has its store credit",
        issuing_parts_done,
        store_credits_issued,
    ),
    CrossCheck(
        ("reversal_without_return",),
        "ledger",
        "fulfillment",
        "every reversal made for a return belongs to a part of that return",
        return_reversals,
        reversals_have_parts,
    ),
    CrossCheck(
        ("return_part_unconfirmed",),
        "ledger",
        "fulfillment",
        "no return part the ledger or store-credit carried out stays sending or failed",
        parts_done_elsewhere,
        parts_answered,
    ),
)
