"""Hold expiry: pending transactions past ``expires_at`` are voided automatically,
with PointTransactionVoided (reason ``expired``) and BalanceChanged, so abandoned
carts never lock value. A hold bound to an order (it pays for a checked-out order)
no longer expires: only that order's fulfillment commits it, or the order voids it.

Safe in several ledger instances at once: each hold is voided in its own
transaction, under the account's row lock (taken first, as the command handlers
do), and only if it is still pending then.
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.ledger import PointTransactionStatus, VoidReason
from services.ledger import db, domain, handlers
from shared.jobs import JobContext, PeriodicJob
from shared.outbox import add_system_messages

BATCH = 100


async def void_expired_holds(context: JobContext) -> int:
    now = datetime.now(UTC)
    async with context.sessions() as session:
        candidates = await db.expired_holds(session, now, BATCH)
    voided = 0
    for account_id, transaction_id in candidates:
        async with context.sessions() as session, session.begin():
            account = await db.lock_account(session, account_id)
            transaction = await db.lock_transaction(session, account_id, transaction_id)
            if account is None or transaction is None:
                continue
            if transaction.status is not PointTransactionStatus.PENDING:
                continue  # committed or voided meanwhile
            if not domain.expired(transaction, now):
                continue  # bound to an order meanwhile
            _, messages = await handlers.void(
                session, account, transaction, VoidReason.EXPIRED, "The hold expired."
            )
            await add_system_messages(
                session,
                context.settings,
                context.service,
                messages,
                origin=f"hold-expiry:{transaction_id}",
                correlation_id=transaction.correlation_id or f"hold-expiry:{transaction_id}",
            )
        voided += 1
    return voided


hold_expiry = PeriodicJob(
    name="hold-expiry",
    interval=lambda settings: settings.hold_sweep_ms / 1000,
    run=void_expired_holds,
)
