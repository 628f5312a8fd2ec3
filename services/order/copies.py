"""What the order service learns from other services' events, kept as its own copies.

- ``PointAccount`` (store-credit): customer, unit, exchange rates, status; the
  newest version wins.
- ``PointTransactionCreated`` / ``Committed`` / ``Voided`` (ledger): transactions,
  with their ledger account's owner, and whether they are still pending, so a point
  line item and checkout are decided from local data (a committed one is told from
  one not arrived yet). A hold of this service voided by the ledger itself moves
  its applied credit to ``expired``.

Each handler is idempotent by itself (upserts, versions, state checks), so
these subscriptions skip the inbox.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import (
    PointTransactionCommitted,
    PointTransactionCreated,
    PointTransactionVoided,
)
from contracts.store_credit import PointAccount
from services.order import credits, db
from shared.codec import Incoming
from shared.commands import HandlerContext
from shared.outbox import Outgoing


async def on_point_account(
    session: AsyncSession, event: Incoming[PointAccount], _: HandlerContext
) -> list[Outgoing]:
    a = event.payload
    await db.save_point_account(
        session,
        {
            "id": a.account_id,
            "customer_id": a.customer_id,
            "unit": a.unit,
            "exchange_rates": {currency: str(rate) for currency, rate in a.exchange_rates.items()},
            "status": a.status.value,
            "version": a.version,
        },
    )
    return []


async def on_transaction_created(
    session: AsyncSession, event: Incoming[PointTransactionCreated], _: HandlerContext
) -> list[Outgoing]:
    t = event.payload
    await db.save_pending_transaction(
        session,
        {
            "id": t.transaction_id,
            "account_id": t.account_id,
            "customer_id": t.customer_id,
            "kind": t.kind.value,
            "amount": t.amount,
            "status": t.status.value,
            "expires_at": t.expires_at,
        },
    )
    return []


async def on_transaction_committed(
    session: AsyncSession, event: Incoming[PointTransactionCommitted], _: HandlerContext
) -> list[Outgoing]:
    await db.end_pending_transaction(session, event.payload.transaction_id, "committed")
    return []


async def on_transaction_voided(
    session: AsyncSession, event: Incoming[PointTransactionVoided], _: HandlerContext
) -> list[Outgoing]:
    t = event.payload
    await db.end_pending_transaction(session, t.transaction_id, "voided")
    return await credits.on_hold_voided(session, t.transaction_id, t.reason.value)
