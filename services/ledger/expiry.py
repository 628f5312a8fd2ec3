"""Hold expiry: pending transactions past ``expires_at`` are voided automatically,
with PointTransactionVoided (reason ``expired``) and BalanceChanged, so abandoned
carts never lock value. A hold bound to an order (it pays for a checked-out order)
no longer expires: only that order's fulfillment commits it, or the order voids it.

Safe in several ledger instances at once: each hold is voided in its own
transaction, under the account's row lock (taken first, as the command handlers
do), and only if it is still pending then.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import PointTransactionStatus, VoidReason
from services.ledger import db, domain, handlers
from shared.runtime.jobs import Swept, sweep


async def void_if_expired(
    session: AsyncSession, due: tuple[str, str], now: datetime
) -> Swept | None:
    account_id, transaction_id = due
    account = await db.lock_account(session, account_id, None)
    transaction = await db.lock_transaction(session, account_id, transaction_id, None)
    if account is None or transaction is None:
        return None
    if transaction.status is not PointTransactionStatus.PENDING:
        return None  # committed or voided meanwhile
    if not domain.expired(transaction, now):
        return None  # bound to an order meanwhile
    _, messages = await handlers.void(
        session, account, transaction, VoidReason.EXPIRED, "The hold expired.", None
    )
    return Swept(
        messages,
        origin=f"hold-expiry:{transaction_id}",
        correlation_id=transaction.correlation_id or f"hold-expiry:{transaction_id}",
    )


hold_expiry = sweep(
    "hold-expiry",
    lambda settings: settings.hold_sweep_ms / 1000,
    db.expired_holds,
    void_if_expired,
)
