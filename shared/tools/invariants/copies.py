"""Copies agree with their source once the events between them have arrived.

- store-credit's balances of point accounts and store credits, from the ledger's
  BalanceChanged: a copy at the ledger's version has its balance and holds; an
  older copy is behind.
- every point account and store credit has its ledger account (opened by a
  command store-credit sent).
- order's copies of point accounts, from store-credit's PointAccount events, by
  version as well.
- order's copies of pending transactions, from the ledger's transaction events:
  every transaction that was ever pending is copied with its account and
  amount, and once it is committed or voided the copy says so; no copy names a
  transaction the ledger does not have, or ended otherwise.

A copy newer than the facts it is verified against passes: the facts are from
the first look, the copy may be from the second. Looked at the other way round
(the copy first, its source second), no copy may be ahead of its source: a
version the source never reached came from someone else (a forged event on
the source's topic) and makes every later real update look stale
(``copy_ahead_of_source``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Text, and_, cast, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.db import ledger_accounts
from services.ledger.db import point_transactions as transactions
from services.order.db import pending_transactions as pending_copies
from services.order.db import point_accounts as account_copies
from services.store_credit.db import point_accounts, store_credits
from shared.tools.invariants.model import (
    Connections,
    CrossCheck,
    Facts,
    Violation,
    among,
    violation,
)
from shared.tools.invariants.rows import present, rows_by

_BALANCES = ("ledger", "store_credit")
_NO_CREDIT = cast(null(), Text).label("store_credit_id")


async def ledger_balances(connections: Connections) -> Facts:
    customers = select(
        ledger_accounts.c.id,
        ledger_accounts.c.balance,
        ledger_accounts.c.holds,
        ledger_accounts.c.version,
    ).where(ledger_accounts.c.kind == "customer")
    return await rows_by(connections["ledger"], customers)


async def balance_copies(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    copied = (point_accounts.c.balance, point_accounts.c.holds, point_accounts.c.ledger_version)
    credit_copied = (store_credits.c.balance, store_credits.c.holds, store_credits.c.ledger_version)
    rows = await connection.execute(
        union_all(
            select(
                point_accounts.c.id.label("ledger_id"),
                _NO_CREDIT,
                *copied,
            ).where(among(point_accounts.c.id, facts)),
            select(store_credits.c.ledger_account_id, store_credits.c.id, *credit_copied).where(
                among(store_credits.c.ledger_account_id, facts)
            ),
        )
    )
    found = []
    for copy in rows:
        source = facts[copy.ledger_id]
        behind = copy.ledger_version is None or copy.ledger_version < source.version
        same = copy.ledger_version == source.version
        if not behind and not (
            same and (copy.balance, copy.holds) != (source.balance, source.holds)
        ):
            continue
        owner = f"store credit {copy.store_credit_id}" if copy.store_credit_id else "point account"
        found.append(
            violation(
                "balance_copy_mismatch",
                _BALANCES,
                f"Store-credit's copy of ledger account {copy.ledger_id} ({owner}) has balance "
                f"{copy.balance} and holds {copy.holds} at version {copy.ledger_version}; the "
                f"ledger has balance {source.balance} and holds {source.holds} at version "
                f"{source.version}.",
                subject=copy.ledger_id,
                account_id=copy.ledger_id,
                store_credit_id=copy.store_credit_id,
            )
        )
    return found


async def store_credit_owners(connections: Connections) -> Facts:
    owners = union_all(
        select(point_accounts.c.id.label("ledger_id"), _NO_CREDIT),
        select(store_credits.c.ledger_account_id, store_credits.c.id),
    )
    return await rows_by(connections["store_credit"], owners, "ledger_id")


async def ledger_accounts_exist(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    opened = await present(connection, ledger_accounts.c.id, facts)
    found = []
    for ledger_id, owner in facts.items():
        if ledger_id in opened:
            continue
        credit = owner.store_credit_id
        whose = f"store credit {credit}" if credit else f"point account {ledger_id}"
        found.append(
            violation(
                "ledger_account_missing",
                _BALANCES,
                f"The ledger has no account {ledger_id} for {whose}.",
                subject=ledger_id,
                account_id=ledger_id,
                store_credit_id=credit,
            )
        )
    return found


async def point_account_sources(connections: Connections) -> Facts:
    sources = select(
        point_accounts.c.id,
        point_accounts.c.customer_id,
        point_accounts.c.unit,
        point_accounts.c.exchange_rates,
        point_accounts.c.status,
        point_accounts.c.version,
    )
    return await rows_by(connections["store_credit"], sources)


def _terms(row: Any) -> tuple[Any, ...]:
    rates = {currency: Decimal(rate) for currency, rate in (row.exchange_rates or {}).items()}
    return row.customer_id, row.unit, rates, row.status


async def point_account_copies(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    copies = await rows_by(
        connection, select(account_copies).where(among(account_copies.c.id, facts))
    )
    found = []
    for account_id, source in facts.items():
        copy = copies.get(account_id)
        copy_of = f"The order service's copy of point account {account_id}"
        if copy is None:
            wrong = f"The order service has no copy of point account {account_id}."
        elif copy.version < source.version:
            wrong = f"{copy_of} is at version {copy.version}, store-credit's at {source.version}."
        elif copy.version == source.version and _terms(copy) != _terms(source):
            wrong = f"{copy_of} differs from store-credit's at version {source.version}."
        else:
            continue
        found.append(
            violation(
                "account_copy_mismatch",
                ("store_credit", "order"),
                wrong,
                subject=account_id,
                account_id=account_id,
            )
        )
    return found


def _ended(status: str) -> bool:
    return status in ("committed", "voided")


async def once_pending(connections: Connections) -> Facts:
    """Every ledger transaction that was created pending. One created committed has
    ``committed_at = created_at`` (both are its transaction's ``now()``)."""
    was_pending = or_(
        transactions.c.status.in_(("pending", "voided")),
        and_(
            transactions.c.status == "committed",
            transactions.c.committed_at > transactions.c.created_at,
        ),
    )
    query = select(
        transactions.c.id,
        transactions.c.account_id,
        transactions.c.amount,
        transactions.c.status,
    ).where(was_pending)
    return await rows_by(connections["ledger"], query)


def _copy_problem(source: Any, copy: Any | None) -> str | None:
    if copy is None:
        return "has no copy of it"
    if (copy.account_id, copy.amount) != (source.account_id, source.amount):
        return (
            f"has it on account {copy.account_id} for {copy.amount}; the ledger on "
            f"{source.account_id} for {source.amount}"
        )
    if _ended(source.status) and copy.status != source.status:
        return f"has it {copy.status}; the ledger {source.status}"
    return None


async def pending_copies_follow(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    copies = await rows_by(
        connection, select(pending_copies).where(among(pending_copies.c.id, facts))
    )
    found = []
    for transaction_id, source in facts.items():
        problem = _copy_problem(source, copies.get(transaction_id))
        if problem is not None:
            found.append(_pending_violation(transaction_id, problem))
    return found


def _pending_violation(transaction_id: str, problem: str) -> Violation:
    return violation(
        "pending_copy_mismatch",
        ("ledger", "order"),
        f"Point transaction {transaction_id}: the order service {problem}.",
        subject=transaction_id,
        transaction_id=transaction_id,
    )


async def pending_copies_kept(connections: Connections) -> Facts:
    return await rows_by(connections["order"], select(pending_copies.c.id, pending_copies.c.status))


async def copies_have_sources(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    sources = await rows_by(
        connection,
        select(transactions.c.id, transactions.c.status).where(among(transactions.c.id, facts)),
    )
    found = []
    for transaction_id, copy in facts.items():
        source = sources.get(transaction_id)
        if source is None:
            problem = "keeps a copy of it, and the ledger has no such transaction"
        elif _ended(copy.status) and source.status != copy.status:
            problem = f"has it {copy.status}; the ledger {source.status}"
        else:
            continue
        found.append(_pending_violation(transaction_id, problem))
    return found


async def balance_copy_versions(connections: Connections) -> Facts:
    """Store-credit's copied ledger versions, by ledger account."""
    copied = union_all(
        select(
            point_accounts.c.id.label("ledger_id"), _NO_CREDIT, point_accounts.c.ledger_version
        ).where(point_accounts.c.ledger_version.is_not(None)),
        select(
            store_credits.c.ledger_account_id, store_credits.c.id, store_credits.c.ledger_version
        ).where(store_credits.c.ledger_version.is_not(None)),
    )
    return await rows_by(connections["store_credit"], copied, "ledger_id")


async def balances_not_behind_copies(connection: AsyncConnection, facts: Facts) -> list[Violation]:
    versions = await rows_by(
        connection,
        select(ledger_accounts.c.id, ledger_accounts.c.version).where(
            among(ledger_accounts.c.id, facts)
        ),
    )
    found = []
    for ledger_id, copy in facts.items():
        source = versions.get(ledger_id)
        if source is None or source.version >= copy.ledger_version:
            continue  # a missing account is ledger_account_missing's
        owner = f"store credit {copy.store_credit_id}" if copy.store_credit_id else "point account"
        found.append(
            _ahead(
                ("ledger", "store_credit"),
                f"Store-credit's copy of ledger account {ledger_id} ({owner}) is at version "
                f"{copy.ledger_version}; the ledger's is at {source.version}.",
                ledger_id,
                store_credit_id=copy.store_credit_id,
            )
        )
    return found


async def point_account_copy_versions(connections: Connections) -> Facts:
    return await rows_by(
        connections["order"], select(account_copies.c.id, account_copies.c.version)
    )


async def point_accounts_not_behind_copies(
    connection: AsyncConnection, facts: Facts
) -> list[Violation]:
    versions = await rows_by(
        connection,
        select(point_accounts.c.id, point_accounts.c.version).where(
            among(point_accounts.c.id, facts)
        ),
    )
    found = []
    for account_id, copy in facts.items():
        source = versions.get(account_id)
        if source is None:
            where = "store-credit has no such account"
        elif source.version < copy.version:
            where = f"store-credit's is at {source.version}"
        else:
            continue
        found.append(
            _ahead(
                ("store_credit", "order"),
                f"The order service's copy of point account {account_id} is at version "
                f"{copy.version}; {where}.",
                account_id,
            )
        )
    return found


def _ahead(
    services: tuple[str, str], message: str, account_id: str, **ids: str | None
) -> Violation:
    return violation(
        "copy_ahead_of_source",
        services,
        message,
        subject=account_id,
        account_id=account_id,
        **ids,
    )


CHECKS = (
    CrossCheck(
        ("balance_copy_mismatch",),
        "ledger",
        "store_credit",
        "store-credit's balance of every point account and store credit is the ledger's",
        ledger_balances,
        balance_copies,
    ),
    CrossCheck(
        ("ledger_account_missing",),
        "store_credit",
        "ledger",
        "every point account and store credit has its ledger account",
        store_credit_owners,
        ledger_accounts_exist,
    ),
    CrossCheck(
        ("account_copy_mismatch",),
        "store_credit",
        "order",
        "the order service's copy of every point account is store-credit's",
        point_account_sources,
        point_account_copies,
    ),
    CrossCheck(
        ("pending_copy_mismatch",),
        "ledger",
        "order",
        "the order service keeps every transaction that was pending, ended as the ledger ended it",
        once_pending,
        pending_copies_follow,
    ),
    CrossCheck(
        ("pending_copy_mismatch",),
        "order",
        "ledger",
        "the order service's copies of pending transactions name ledger transactions",
        pending_copies_kept,
        copies_have_sources,
    ),
    CrossCheck(
        ("copy_ahead_of_source",),
        "store_credit",
        "ledger",
        "no balance copy of store-credit's is at a version the ledger never reached",
        balance_copy_versions,
        balances_not_behind_copies,
    ),
    CrossCheck(
        ("copy_ahead_of_source",),
        "order",
        "store_credit",
        "no point-account copy of the order service's is at a version store-credit never reached",
        point_account_copy_versions,
        point_accounts_not_behind_copies,
    ),
)
