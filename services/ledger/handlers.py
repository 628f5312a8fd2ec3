"""Ledger command handlers: thin. Each locks the account (always first, then the
transaction: one lock order, no deadlocks), applies the domain rules, writes
rows, and returns what to publish. A broken rule becomes a rejected result.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor
from contracts.ledger import (
    BalanceChanged,
    BindPointTransaction,
    CloseLedgerAccount,
    CommitPointTransaction,
    CreatePointTransaction,
    LedgerAccountClosed,
    LedgerAccountOpened,
    OpenLedgerAccount,
    PointTransactionBound,
    PointTransactionCommitted,
    PointTransactionCreated,
    PointTransactionKind,
    PointTransactionReversed,
    PointTransactionStatus,
    PointTransactionVoided,
    ReplacePointTransaction,
    ReversePointTransaction,
    VoidPointTransaction,
    VoidReason,
)
from contracts.topics import LEDGER_BALANCES, LEDGER_EVENTS
from services.ledger import db, domain
from services.ledger.batch import LedgerBatch, batch_of
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.outbox import Outgoing


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


def _by(actor: Actor) -> str:
    return f"{actor.kind.value}:{actor.id}"


def _counterparty(unit: str, kind: PointTransactionKind) -> str:
    return domain.system_account_id(unit, domain.counterparty_role(kind))


def _created(
    account: domain.Account,
    new: db.NewTransaction,
    now: datetime,
    replaces: str | None = None,
) -> Outgoing:
    """``PointTransactionCreated`` of a transaction just written to ``account``."""
    created = PointTransactionCreated(
        transaction_id=new.transaction_id,
        account_id=account.account_id,
        customer_id=account.customer_id,
        unit=account.unit,
        amount=new.amount,
        kind=PointTransactionKind(new.kind),
        status=PointTransactionStatus(new.status),
        expires_at=new.expires_at,
        description=new.description,
        references=new.references,
        reverses=new.reverses,
        replaces=replaces,
        created_at=now,
    )
    return Outgoing(LEDGER_EVENTS, account.account_id, created)


async def _account(
    session: AsyncSession, account_id: str, batch: LedgerBatch | None
) -> domain.Account:
    account = await db.lock_account(session, account_id, batch)
    if account is None:
        raise domain.AccountNotFound(domain.no_account(account_id))
    return account


async def _transaction(
    session: AsyncSession,
    account: domain.Account,
    transaction_id: str,
    batch: LedgerBatch | None,
) -> domain.Transaction:
    transaction = await db.lock_transaction(session, account.account_id, transaction_id, batch)
    if transaction is None:
        raise domain.TransactionNotFound(
            f"Ledger account {account.account_id} has no point transaction {transaction_id}."
        )
    return transaction


async def _apply(
    session: AsyncSession,
    account: domain.Account,
    balances: domain.Balances,
    transaction_id: str,
    batch: LedgerBatch | None,
) -> tuple[domain.Account, list[Outgoing]]:
    """Store new balances and announce them, if they changed."""
    if (balances.balance, balances.holds) == (account.balance, account.holds):
        return account, []
    account = await db.set_balances(session, account, balances.balance, balances.holds, batch)
    return account, [balance_changed(account, transaction_id)]


async def open_account(
    session: AsyncSession, command: Incoming[OpenLedgerAccount], context: HandlerContext
) -> Accepted:
    opening = command.payload
    batch = batch_of(context)
    domain.check_operator(command.envelope.actor, "open ledger accounts")
    domain.check_customer_account_id(opening.account_id)
    created = await db.insert_customer_account(
        session,
        account_id=opening.account_id,
        unit=opening.unit,
        customer_id=opening.customer_id,
        allow_negative=opening.allow_negative,
        negative_limit=opening.negative_limit,
    )
    account = await db.lock_account(session, opening.account_id, batch)
    if account is None:
        raise domain.AccountExists(f"{opening.account_id} is a system account id.")
    if not created:
        terms = (opening.unit, opening.customer_id, opening.allow_negative, opening.negative_limit)
        if account.status != "open" or not domain.same_terms(account, *terms):
            raise domain.AccountExists(
                f"Ledger account {opening.account_id} already exists with other terms "
                f"or is {account.status}."
            )
        return Accepted(produced={"account_id": opening.account_id, "already_open": True})
    opened = LedgerAccountOpened(
        account_id=opening.account_id,
        unit=opening.unit,
        customer_id=opening.customer_id,
        allow_negative=opening.allow_negative,
        negative_limit=opening.negative_limit,
    )
    return Accepted(
        produced={"account_id": opening.account_id, **_balances(account)},
        messages=[
            Outgoing(LEDGER_EVENTS, opening.account_id, opened),
            balance_changed(account, None),
        ],
    )


async def close_account(
    session: AsyncSession, command: Incoming[CloseLedgerAccount], context: HandlerContext
) -> Accepted:
    closing = command.payload
    batch = batch_of(context)
    domain.check_operator(command.envelope.actor, "close ledger accounts")
    account = await _account(session, closing.account_id, batch)
    if account.status == "closed":
        return Accepted(produced={"account_id": closing.account_id, "already_closed": True})
    domain.check_closable(account)
    await db.close_account(session, account, batch)
    closed = LedgerAccountClosed(account_id=account.account_id, unit=account.unit)
    return Accepted(
        produced={"account_id": closing.account_id, "status": "closed"},
        messages=[Outgoing(LEDGER_EVENTS, closing.account_id, closed)],
    )


async def create_point_transaction(
    session: AsyncSession, command: Incoming[CreatePointTransaction], context: HandlerContext
) -> Accepted:
    posting = command.payload
    batch = batch_of(context)
    status = PointTransactionStatus(posting.status)
    now = datetime.now(UTC)
    domain.check_amount(posting.kind, posting.amount)
    account = await _account(session, posting.account_id, batch)
    domain.check_may_create(command.envelope.actor, account, status, posting.amount, posting.kind)
    domain.check_usable(account)
    if await db.transaction_exists(session, posting.transaction_id, batch):
        raise domain.TransactionExists(
            f"Point transaction {posting.transaction_id} already exists."
        )
    balances = domain.after_create(account, posting.amount, status, posting.expires_at, now)
    new = db.NewTransaction(
        transaction_id=posting.transaction_id,
        amount=posting.amount,
        kind=posting.kind.value,
        status=status.value,
        description=posting.description,
        references=posting.references,
        metadata=posting.metadata,
        expires_at=posting.expires_at,
        created_by=_by(command.envelope.actor),
        correlation_id=command.envelope.correlation_id,
    )
    await db.insert_transaction(session, account, new, batch)
    if status is PointTransactionStatus.COMMITTED:
        counterparty = _counterparty(account.unit, posting.kind)
        await db.insert_postings(
            session,
            posting.transaction_id,
            account,
            counterparty,
            posting.amount,
            batch,
        )
    account, changes = await _apply(session, account, balances, posting.transaction_id, batch)
    created = _created(account, new, now)
    return Accepted(
        produced={
            "transaction_id": posting.transaction_id,
            "account_id": posting.account_id,
            "status": status.value,
            **_balances(account),
        },
        messages=[created, *changes],
    )


async def commit_point_transaction(
    session: AsyncSession, command: Incoming[CommitPointTransaction], context: HandlerContext
) -> Accepted:
    committing = command.payload
    batch = batch_of(context)
    now = datetime.now(UTC)
    domain.check_operator(command.envelope.actor, "commit point transactions")
    account = await _account(session, committing.account_id, batch)
    transaction = await _transaction(session, account, committing.transaction_id, batch)
    domain.check_binding(transaction, committing.order_id, "commit")
    committed = domain.amount_to_commit(transaction, committing.amount, now)
    balances = domain.after_commit(account, transaction, committed)
    await db.mark_committed(session, transaction, committed, batch)
    counterparty = _counterparty(account.unit, transaction.kind)
    await db.insert_postings(
        session, transaction.transaction_id, account, counterparty, committed, batch
    )
    account, changes = await _apply(session, account, balances, transaction.transaction_id, batch)
    event = PointTransactionCommitted(
        transaction_id=transaction.transaction_id,
        account_id=account.account_id,
        unit=account.unit,
        amount=committed,
        released=transaction.amount - committed,
        kind=transaction.kind,
        references=transaction.references,
        committed_at=now,
    )
    return Accepted(
        produced={
            "transaction_id": transaction.transaction_id,
            "committed": committed,
            "released": transaction.amount - committed,
            **_balances(account),
        },
        messages=[Outgoing(LEDGER_EVENTS, account.account_id, event), *changes],
    )


async def void(
    session: AsyncSession,
    account: domain.Account,
    transaction: domain.Transaction,
    reason: VoidReason,
    note: str,
    batch: LedgerBatch | None,
) -> tuple[domain.Account, list[Outgoing]]:
    """Void a pending transaction (by command or on expiry): the hold goes."""
    balances = domain.after_void(account, transaction)
    await db.mark_voided(session, transaction, reason.value, batch)
    account, changes = await _apply(session, account, balances, transaction.transaction_id, batch)
    event = PointTransactionVoided(
        transaction_id=transaction.transaction_id,
        account_id=account.account_id,
        unit=account.unit,
        amount=transaction.amount,
        reason=reason,
        note=note,
        references=transaction.references,
        voided_at=datetime.now(UTC),
    )
    return account, [Outgoing(LEDGER_EVENTS, account.account_id, event), *changes]


async def void_point_transaction(
    session: AsyncSession, command: Incoming[VoidPointTransaction], context: HandlerContext
) -> Accepted:
    voiding = command.payload
    batch = batch_of(context)
    domain.check_operator(command.envelope.actor, "void point transactions")
    account = await _account(session, voiding.account_id, batch)
    transaction = await _transaction(session, account, voiding.transaction_id, batch)
    domain.check_binding(transaction, voiding.order_id, "void")
    account, messages = await void(
        session, account, transaction, VoidReason.REQUESTED, voiding.reason, batch
    )
    return Accepted(
        produced={
            "transaction_id": voiding.transaction_id,
            "status": "voided",
            **_balances(account),
        },
        messages=messages,
    )


async def bind_point_transaction(
    session: AsyncSession, command: Incoming[BindPointTransaction], context: HandlerContext
) -> Accepted:
    binding = command.payload
    batch = batch_of(context)
    domain.check_operator(command.envelope.actor, "bind point transactions to orders")
    account = await _account(session, binding.account_id, batch)
    transaction = await _transaction(session, account, binding.transaction_id, batch)
    produced = {
        "transaction_id": transaction.transaction_id,
        "account_id": account.account_id,
        "order_id": binding.order_id,
        "amount": transaction.amount,
    }
    if not domain.check_bindable(transaction, binding.order_id, datetime.now(UTC)):
        return Accepted(produced={**produced, "already_bound": True})
    await db.mark_bound(session, transaction, binding.order_id, batch)
    bound = PointTransactionBound(
        transaction_id=transaction.transaction_id,
        account_id=account.account_id,
        unit=account.unit,
        amount=transaction.amount,
        order_id=binding.order_id,
        references=transaction.references,
        bound_at=datetime.now(UTC),
    )
    return Accepted(
        produced={**produced, "already_bound": False},
        messages=[Outgoing(LEDGER_EVENTS, account.account_id, bound)],
    )


async def replace_point_transaction(
    session: AsyncSession, command: Incoming[ReplacePointTransaction], context: HandlerContext
) -> Accepted:
    replacing = command.payload
    batch = batch_of(context)
    now = datetime.now(UTC)
    domain.check_operator(command.envelope.actor, "replace pending transactions")
    account = await _account(session, replacing.account_id, batch)
    domain.check_usable(account)
    old = await _transaction(session, account, replacing.transaction_id, batch)
    domain.check_binding(old, replacing.order_id, "replace")
    if await db.transaction_exists(session, replacing.new_transaction_id, batch):
        raise domain.TransactionExists(
            f"Point transaction {replacing.new_transaction_id} already exists."
        )
    expires_at = replacing.expires_at or old.expires_at
    balances = domain.after_replace(account, old, replacing.amount, expires_at, now)
    await db.mark_voided(session, old, VoidReason.REPLACED.value, batch)
    new = db.NewTransaction(
        transaction_id=replacing.new_transaction_id,
        amount=replacing.amount,
        kind=old.kind.value,
        status=PointTransactionStatus.PENDING.value,
        description=replacing.description,
        references=old.references,
        expires_at=expires_at,
        created_by=_by(command.envelope.actor),
        correlation_id=command.envelope.correlation_id,
        bound_order_id=old.bound_order_id,
    )
    await db.insert_transaction(session, account, new, batch)
    account, changes = await _apply(session, account, balances, new.transaction_id, batch)
    voided = PointTransactionVoided(
        transaction_id=old.transaction_id,
        account_id=account.account_id,
        unit=account.unit,
        amount=old.amount,
        reason=VoidReason.REPLACED,
        note=f"Replaced by {new.transaction_id}.",
        references=old.references,
        voided_at=now,
    )
    created = _created(account, new, now, replaces=old.transaction_id)
    return Accepted(
        produced={
            "transaction_id": new.transaction_id,
            "replaced": old.transaction_id,
            "account_id": account.account_id,
            "amount": replacing.amount,
            "status": PointTransactionStatus.PENDING.value,
            **_balances(account),
        },
        messages=[
            Outgoing(LEDGER_EVENTS, account.account_id, voided),
            created,
            *changes,
        ],
    )


async def reverse_point_transaction(
    session: AsyncSession, command: Incoming[ReversePointTransaction], context: HandlerContext
) -> Accepted:
    reversing = command.payload
    batch = batch_of(context)
    now = datetime.now(UTC)
    domain.check_operator(command.envelope.actor, "reverse point transactions")
    account = await _account(session, reversing.account_id, batch)
    domain.check_usable(account)
    original = await _transaction(session, account, reversing.transaction_id, batch)
    if await db.transaction_exists(session, reversing.reversal_transaction_id, batch):
        raise domain.TransactionExists(
            f"Point transaction {reversing.reversal_transaction_id} already exists."
        )
    amount = domain.reversal_amount(original, reversing.amount)
    new_balance = domain.balance_after(account, amount)
    references = {**original.references, **reversing.references}
    reversal = db.NewTransaction(
        transaction_id=reversing.reversal_transaction_id,
        amount=amount,
        kind=PointTransactionKind.REVERSAL.value,
        status=PointTransactionStatus.COMMITTED.value,
        description=reversing.description or f"Reversal of {original.transaction_id}",
        references=references,
        reverses=original.transaction_id,
        created_by=_by(command.envelope.actor),
        correlation_id=command.envelope.correlation_id,
    )
    await db.insert_transaction(session, account, reversal, batch)
    counterparty = _counterparty(account.unit, original.kind)
    await db.insert_postings(session, reversal.transaction_id, account, counterparty, amount, batch)
    await db.add_reversed(session, original, abs(amount), batch)
    balances = domain.Balances(new_balance, account.holds)
    account, changes = await _apply(session, account, balances, reversal.transaction_id, batch)
    reversed_total = original.reversed_amount + abs(amount)
    created = _created(account, reversal, now)
    reversed_event = PointTransactionReversed(
        transaction_id=original.transaction_id,
        reversal_transaction_id=reversal.transaction_id,
        account_id=account.account_id,
        unit=account.unit,
        amount=amount,
        reversed_total=reversed_total,
        reversible_rest=abs(original.committed_amount or 0) - reversed_total,
        references=references,
        reversed_at=now,
    )
    return Accepted(
        produced={
            "transaction_id": original.transaction_id,
            "reversal_transaction_id": reversal.transaction_id,
            "amount": amount,
            "reversible_rest": reversed_event.reversible_rest,
            **_balances(account),
        },
        messages=[
            created,
            Outgoing(LEDGER_EVENTS, account.account_id, reversed_event),
            *changes,
        ],
    )
