"""Ledger queries: balances and transaction history, read from the ledger's own tables.

Only customer accounts are answered: system accounts are the ledger's
bookkeeping (their balance is a sum over postings, not a row), not something a
client asks about. A customer may read only accounts whose ``customer_id`` is
their own id; admins, services and the system may read any.

History is paged by keyset on ``seq`` (an identity column, increasing with
every insert), newest first. The cursor is opaque to clients: the last seq of a
page, versioned and base64-encoded, so its format may change without breaking
anyone who treats it as a token. New transactions get a larger seq than any
page already read, so paging never repeats or skips a row because of them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorKind
from contracts.ledger import (
    INT64_MAX,
    AccountBalances,
    GetAccountBalances,
    GetTransactionHistory,
    PointTransactionKind,
    PointTransactionStatus,
    TransactionEntry,
    TransactionHistory,
)
from services.ledger.db import ledger_accounts, point_transactions
from services.ledger.domain import no_account
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext
from shared.runtime.queries import QueryFailure, QueryRoute
from shared.runtime.routing import by_type

CURSOR_VERSION = "v1"
_CURSOR_TEXT = re.compile(r"v1:([1-9][0-9]{0,18})")


def encode_cursor(seq: int) -> str:
    """The opaque cursor after ``seq`` (URL-safe base64 without padding)."""
    raw = f"{CURSOR_VERSION}:{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a cursor stands for, or QueryFailure("invalid_cursor") for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid_cursor() from None
    found = _CURSOR_TEXT.fullmatch(raw)
    if found is None or int(found.group(1)) > INT64_MAX:
        raise _invalid_cursor()
    return int(found.group(1))


def _invalid_cursor() -> QueryFailure:
    return QueryFailure(
        "invalid_cursor", "The cursor is not one this ledger gave out; start without one."
    )


async def _readable_account(session: AsyncSession, account_id: str, actor: Actor) -> Any:
    """The customer account's row, if it exists and ``actor`` may read it.

    To a customer, another's account does not exist: the same answer as for none,
    so a stranger cannot tell which account ids are taken.
    """
    row = (
        await session.execute(
            select(ledger_accounts)
            .where(ledger_accounts.c.id == account_id)
            .where(ledger_accounts.c.kind == "customer")
        )
    ).first()
    if row is None or (actor.kind is ActorKind.CUSTOMER and row.customer_id != actor.id):
        raise QueryFailure("account_not_found", no_account(account_id))
    return row


async def get_account_balances(
    session: AsyncSession, incoming: Incoming[GetAccountBalances], _: HandlerContext
) -> AccountBalances:
    """The stored balances of a customer account (those BalanceChanged reports)."""
    row = await _readable_account(session, incoming.payload.account_id, incoming.envelope.actor)
    return AccountBalances(
        account_id=row.id,
        unit=row.unit,
        customer_id=row.customer_id,
        status=row.status,
        balance=row.balance,
        holds=row.holds,
        available=row.balance - row.holds,
        version=row.version,
    )


async def get_transaction_history(
    session: AsyncSession, incoming: Incoming[GetTransactionHistory], _: HandlerContext
) -> TransactionHistory:
    """One page of an account's transactions, newest first; one extra row tells if more follow."""
    query = incoming.payload
    before = decode_cursor(query.cursor) if query.cursor is not None else None
    await _readable_account(session, query.account_id, incoming.envelope.actor)
    statement = (
        select(point_transactions)
        .where(point_transactions.c.account_id == query.account_id)
        .order_by(point_transactions.c.seq.desc())
        .limit(query.page_size + 1)
    )
    if before is not None:
        statement = statement.where(point_transactions.c.seq < before)
    rows = (await session.execute(statement)).all()
    page = rows[: query.page_size]
    more = len(rows) > query.page_size
    return TransactionHistory(
        account_id=query.account_id,
        transactions=[_entry(row) for row in page],
        next_cursor=encode_cursor(page[-1].seq) if more else None,
    )


def _entry(row: Any) -> TransactionEntry:
    return TransactionEntry(
        transaction_id=row.id,
        amount=row.amount,
        kind=PointTransactionKind(row.kind),
        status=PointTransactionStatus(row.status),
        committed_amount=row.committed_amount,
        reversed_amount=row.reversed_amount,
        reverses=row.reverses,
        description=row.description,
        references=row.references,
        created_at=row.created_at,
        committed_at=row.committed_at,
        voided_at=row.voided_at,
        expires_at=row.expires_at,
        bound_order_id=row.bound_order_id,
    )


query_routes: dict[str, QueryRoute] = by_type(
    QueryRoute(GetAccountBalances, get_account_balances),
    QueryRoute(GetTransactionHistory, get_transaction_history),
)
