"""Ledger command handlers: thin, they decode nothing and publish nothing.

Each takes the session (inside the command's transaction) and the decoded
command, applies the domain rules, writes rows, and returns what to publish.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import (
    BalanceChanged,
    CreatePointTransaction,
    LedgerAccountOpened,
    OpenLedgerAccount,
    PointTransactionCreated,
    PointTransactionStatus,
)
from contracts.topics import LEDGER_BALANCES, LEDGER_EVENTS
from services.ledger import db, domain
from shared.codec import Incoming
from shared.commands import Accepted, Rejected
from shared.outbox import Outgoing


def balance_changed(account: domain.Account, transaction_id: str | None) -> Outgoing:
    return Outgoing(
        LEDGER_BALANCES,
        account.account_id,
        BalanceChanged(
            account_id=account.account_id,
            unit=account.unit,
            balance=account.balance,
            holds=account.holds,
            available=account.available,
            version=account.version,
            transaction_id=transaction_id,
            changed_at=datetime.now(UTC),
        ),
    )


def _balances(account: domain.Account) -> dict[str, int]:
    return {"balance": account.balance, "holds": account.holds, "available": account.available}


async def open_account(session: AsyncSession, command: Incoming[OpenLedgerAccount]) -> Accepted:
    c = command.payload
    try:
        domain.check_may_open_account(command.envelope.actor)
        created = await db.insert_customer_account(
            session,
            account_id=c.account_id,
            unit=c.unit,
            customer_id=c.customer_id,
            allow_negative=c.allow_negative,
            negative_limit=c.negative_limit,
        )
        account = await db.lock_account(session, c.account_id)
        if account is None:
            raise domain.AccountExists(f"{c.account_id} is a system account id.")
        if not created:
            terms = (c.unit, c.customer_id, c.allow_negative, c.negative_limit)
            if not domain.same_terms(account, *terms):
                raise domain.AccountExists(
                    f"Ledger account {c.account_id} already exists with other terms."
                )
            return Accepted(produced={"account_id": c.account_id, "already_open": True})
    except domain.LedgerError as error:
        raise Rejected(error.code, error.reason) from error
    opened = LedgerAccountOpened(
        account_id=c.account_id,
        unit=c.unit,
        customer_id=c.customer_id,
        allow_negative=c.allow_negative,
        negative_limit=c.negative_limit,
    )
    return Accepted(
        produced={"account_id": c.account_id, **_balances(account)},
        messages=[Outgoing(LEDGER_EVENTS, c.account_id, opened), balance_changed(account, None)],
    )


async def create_point_transaction(
    session: AsyncSession, command: Incoming[CreatePointTransaction]
) -> Accepted:
    c = command.payload
    try:
        domain.check_may_post_committed(command.envelope.actor)
        domain.check_amount(c.kind, c.amount)
        account = await db.lock_account(session, c.account_id)
        if account is None:
            raise domain.AccountNotFound(f"There is no ledger account {c.account_id}.")
        domain.check_usable(account)
        if await db.transaction_exists(session, c.transaction_id):
            raise domain.TransactionExists(f"Point transaction {c.transaction_id} already exists.")
        new_balance = domain.balance_after(account, c.amount)
    except domain.LedgerError as error:
        raise Rejected(error.code, error.reason) from error
    counterparty = domain.system_account_id(account.unit, domain.counterparty_role(c.kind))
    await db.ensure_system_account(session, counterparty, account.unit)
    await db.insert_committed_transaction(
        session,
        transaction_id=c.transaction_id,
        account=account,
        counterparty_id=counterparty,
        amount=c.amount,
        kind=c.kind.value,
        description=c.description,
        references=c.references,
        metadata_=c.metadata,
    )
    account = await db.set_balance(session, account, new_balance)
    created = PointTransactionCreated(
        transaction_id=c.transaction_id,
        account_id=account.account_id,
        unit=account.unit,
        amount=c.amount,
        kind=c.kind,
        status=PointTransactionStatus.COMMITTED,
        description=c.description,
        references=c.references,
        created_at=datetime.now(UTC),
    )
    return Accepted(
        produced={
            "transaction_id": c.transaction_id,
            "account_id": c.account_id,
            **_balances(account),
        },
        messages=[
            Outgoing(LEDGER_EVENTS, account.account_id, created),
            balance_changed(account, c.transaction_id),
        ],
    )
