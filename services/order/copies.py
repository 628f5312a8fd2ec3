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
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext
from shared.runtime.outbox import Outgoing


async def on_point_account(
    session: AsyncSession, event: Incoming[PointAccount], _: HandlerContext
) -> list[Outgoing]:
    account = event.payload
    await db.save_point_account(
        session,
        {
            "id": account.account_id,
            "customer_id": account.customer_id,
            "unit": account.unit,
            "exchange_rates": {
                currency: str(rate) for currency, rate in account.exchange_rates.items()
            },
            "status": account.status.value,
            "version": account.version,
        },
    )
    return []


async def on_transaction_created(
    session: AsyncSession, event: Incoming[PointTransactionCreated], _: HandlerContext
) -> list[Outgoing]:
    created = event.payload
    await db.save_pending_transaction(
        session,
        {
            "id": created.transaction_id,
            "account_id": created.account_id,
            "customer_id": created.customer_id,
            "kind": created.kind.value,
            "amount": created.amount,
            "status": created.status.value,
            "expires_at": created.expires_at,
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
    gone = event.payload
    await db.end_pending_transaction(session, gone.transaction_id, "voided")
    return await credits.on_hold_voided(session, gone.transaction_id, gone.reason.value)
