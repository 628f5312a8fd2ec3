"""Store-credit instruments: issue, update, look up (thin handlers).

The code is hashed with a secret key (HMAC-SHA256) and only its last four
digits are kept; it is answered in clear once, in the accepted result of the
CreateStoreCredit command, and appears nowhere else: not in the inbox (which
remembers the masked result), events, queries or logs. Each store credit has a
ledger account in its currency; its balance is the ledger's, copied here from
BalanceChanged. Look-ups by code count wrong codes per customer and per order
and lock both out for a while after too many (``lookups``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import ActorKind
from contracts.ledger import (
    CreatePointTransaction,
    OpenLedgerAccount,
    PointTransactionKind,
    QueryFailed,
)
from contracts.store_credit import (
    CreateStoreCredit,
    CustomerStoreCredits,
    FindStoreCredit,
    ListCustomerStoreCredits,
    StoreCredit,
    StoreCreditFound,
    StoreCreditReason,
    StoreCreditView,
    UpdateStoreCredit,
)
from contracts.topics import LEDGER_COMMANDS, STORE_CREDIT_EVENTS
from services.store_credit import codes, db, domain, lookups
from shared.runtime import sealing
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.outbox import Outgoing

_LEDGER_IDS = uuid.UUID("7a1e5c3b-2d4f-4e6a-8b9c-0d1e2f3a4b5c")


def ledger_account_id(store_credit_id: str) -> str:
    return "sc-" + uuid.uuid5(_LEDGER_IDS, store_credit_id).hex


def initial_credit_id(store_credit_id: str) -> str:
    """The ledger transaction that credits a new store credit's amount."""
    return f"{ledger_account_id(store_credit_id)}-initial"


def known_balance(row: Any) -> int | None:
    """The store credit's balance, or None while a credit sent to the ledger is not in it.

    Raising the amount credits the difference from this balance: from a copy
    still short of an earlier credit it would credit that one twice.
    """
    return None if row.credit_in_flight is not None else row.balance


def reported_balance(row: Any) -> int | None:
    """The balance to show: None until the initial credit is in it (the opening says 0)."""
    return None if row.credit_in_flight == initial_credit_id(row.id) else row.balance


def _key(row: Any) -> str:
    return str(row.customer_id or row.id)


def _event(row: Any) -> Outgoing:
    credit = StoreCredit(
        store_credit_id=row.id,
        name=row.name,
        description=row.description,
        code=codes.mask(row.code_last4),
        amount=row.amount,
        currency=row.currency,
        allow_balance_owing=row.allow_balance_owing,
        external_id=row.external_id,
        active_date=row.active_date,
        expiry_date=row.expiry_date,
        disabled=row.disabled,
        customer_id=row.customer_id,
        ledger_account_id=row.ledger_account_id,
        reason=StoreCreditReason(row.reason),
        references=row.references,
        version=row.version,
    )
    return Outgoing(STORE_CREDIT_EVENTS, _key(row), credit)


def _credit_in_ledger(row: Any, transaction_id: str, amount: int, reason: str) -> Outgoing:
    kind = PointTransactionKind.REFUND if reason == "refund" else PointTransactionKind.DEPOSIT
    deposit = CreatePointTransaction(
        account_id=row.ledger_account_id,
        transaction_id=transaction_id,
        amount=amount,
        kind=kind,
        description=f"Store credit {row.id}",
        references={"store_credit_id": row.id},
    )
    return Outgoing(LEDGER_COMMANDS, row.ledger_account_id, deposit)


async def create_store_credit(
    session: AsyncSession, command: Incoming[CreateStoreCredit], context: HandlerContext
) -> Accepted:
    issue = command.payload
    domain.check_may_issue(command.envelope.actor)
    try:
        supplied = lookups.opened(issue.sealed_code, context, command.envelope.actor)
    except sealing.SealError as error:
        raise domain.InvalidSealedCode(f"The sealed code does not open: {error}.") from None
    try:
        code = codes.normalize_code(supplied) if supplied is not None else codes.generate_code()
    except codes.InvalidCode as error:
        raise domain.InvalidCode(str(error)) from None
    code_hashes = lookups.hasher(context).hashes(code)  # current key first, then retired ones
    code_hash = code_hashes[0]
    token = codes.new_token()
    external_id = codes.new_external_id() if issue.generate_external_id else issue.external_id
    taken = await db.store_credit_taken(session, issue.store_credit_id, code_hashes, external_id)
    if taken == "store_credit_id":
        raise domain.StoreCreditExists(f"Store credit {issue.store_credit_id} already exists.")
    if taken == "code":
        raise domain.CodeTaken("Another store credit has this code; choose another.")
    if taken == "external_id":
        raise domain.ExternalIdTaken("Another store credit has this external id.")
    row = await db.insert_store_credit(
        session,
        {
            "id": issue.store_credit_id,
            "name": issue.name,
            "description": issue.description,
            "code_hash": code_hash,
            "code_last4": codes.last_four(code),
            "token_hash": lookups.token_hash(token),
            "external_id": external_id,
            "amount": issue.amount,
            "currency": issue.currency,
            "allow_balance_owing": issue.allow_balance_owing,
            "active_date": issue.active_date,
            "expiry_date": issue.expiry_date,
            "disabled": issue.disabled,
            "customer_id": issue.customer_id,
            "reason": issue.reason.value,
            "references": issue.references,
            "ledger_account_id": ledger_account_id(issue.store_credit_id),
            "credit_in_flight": initial_credit_id(issue.store_credit_id),
        },
    )
    if row is None:  # a concurrent creation took one of the unique fields
        raise domain.StoreCreditExists(f"Store credit {issue.store_credit_id} already exists.")
    opening = OpenLedgerAccount(
        account_id=row.ledger_account_id, unit=row.currency, customer_id=row.customer_id
    )
    remembered = {
        "store_credit_id": row.id,
        "code": codes.mask(row.code_last4),
        "sealed_code": None,  # shown once, to the requester alone: a retry is told neither
        "sealed_token": None,
        "external_id": row.external_id,
        "ledger_account_id": row.ledger_account_id,
    }
    key = issue.reply_public_key
    return Accepted(
        produced={
            **remembered,
            "sealed_code": None if key is None else sealing.seal_for_requester(code, key),
            "sealed_token": None if key is None else sealing.seal_for_requester(token, key),
        },
        remembered=remembered,
        messages=[
            _event(row),
            Outgoing(LEDGER_COMMANDS, row.ledger_account_id, opening),
            _credit_in_ledger(row, initial_credit_id(row.id), row.amount, row.reason),
        ],
    )


async def update_store_credit(
    session: AsyncSession, command: Incoming[UpdateStoreCredit], _: HandlerContext
) -> Accepted:
    edit = command.payload
    messages: list[Outgoing] = []
    domain.check_admin(command.envelope.actor, "change store credits")
    row = await db.lock_store_credit(session, edit.store_credit_id)
    if row is None:
        raise domain.StoreCreditNotFound(f"There is no store credit {edit.store_credit_id}.")
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("name", edit.name),
            ("description", edit.description),
            ("external_id", edit.external_id),
            ("active_date", edit.active_date),
            ("expiry_date", edit.expiry_date),
            ("disabled", edit.disabled),
            ("customer_id", edit.customer_id),
        )
        if value is not None
    }
    changes.update({name: None for name in edit.clear})
    domain.check_dates(
        changes.get("active_date", row.active_date), changes.get("expiry_date", row.expiry_date)
    )
    new_external_id = edit.external_id is not None and edit.external_id != row.external_id
    if new_external_id and await db.external_id_taken(session, edit.external_id or ""):
        raise domain.ExternalIdTaken("Another store credit has this external id.")
    if edit.amount is not None:
        credit = domain.top_up(edit.amount, known_balance(row))
        changes["amount"] = edit.amount
        transaction_id = f"{row.ledger_account_id}-topup-{row.version + 1}"
        changes["credit_in_flight"] = transaction_id
        messages.append(_credit_in_ledger(row, transaction_id, credit, "deposit"))
    row = await db.update_store_credit(session, edit.store_credit_id, changes)
    return Accepted(
        produced={"store_credit_id": row.id, "version": row.version, "amount": row.amount},
        messages=[_event(row), *messages],
    )


def unusable_reason(
    row: Any, now: datetime, currency: str | None, customer: str | None
) -> str | None:
    """Why the credit in ``row`` cannot pay now in ``currency`` for ``customer``, or None."""
    return domain.unusable_reason(
        disabled=row.disabled,
        active_date=row.active_date,
        expiry_date=row.expiry_date,
        currency=row.currency,
        owner=row.customer_id,
        now=now,
        for_currency=currency,
        for_customer=customer,
    )


def view(row: Any, now: datetime, currency: str | None, customer: str | None) -> StoreCreditView:
    reason = unusable_reason(row, now, currency, customer)
    balance = reported_balance(row)
    available = None if balance is None else balance - (row.holds or 0)
    return StoreCreditView(
        store_credit_id=row.id,
        name=row.name,
        description=row.description,
        code=codes.mask(row.code_last4),
        amount=row.amount,
        balance=balance,
        holds=row.holds,
        available=available,
        currency=row.currency,
        allow_balance_owing=row.allow_balance_owing,
        external_id=row.external_id,
        active_date=row.active_date,
        expiry_date=row.expiry_date,
        disabled=row.disabled,
        customer_id=row.customer_id,
        ledger_account_id=row.ledger_account_id,
        usable=reason is None,
        unusable_code=reason,
    )


async def find_store_credit(
    session: AsyncSession, query: Incoming[FindStoreCredit], context: HandlerContext
) -> StoreCreditFound | QueryFailed:
    asked = query.payload
    actor = query.envelope.actor
    customer = actor.id if actor.kind is ActorKind.CUSTOMER else None
    asker = lookups.Asker(actor, customer, asked.order_id, principal=query.signer)
    try:
        code = lookups.opened(asked.sealed_code, context, actor)
    except sealing.SealError as error:
        return QueryFailed(
            code="invalid_sealed_code", reason=f"The sealed code does not open: {error}."
        )
    guess = lookups.Guess(code=code, token=asked.token, external_id=asked.external_id)
    now = datetime.now(UTC)
    found = await lookups.look_up(session, context, asker, guess, now)
    if found.locked:
        return QueryFailed(code="locked_out", reason="Too many wrong guesses; try again later.")
    if found.row is None:
        await found.count_miss(session)
        return QueryFailed(code="store_credit_not_found", reason="No store credit matches.")
    return StoreCreditFound(store_credit=view(found.row, now, asked.currency, customer))


async def list_customer_store_credits(
    session: AsyncSession, query: Incoming[ListCustomerStoreCredits], _: HandlerContext
) -> CustomerStoreCredits | QueryFailed:
    asked = query.payload
    actor = query.envelope.actor
    if actor.kind is ActorKind.CUSTOMER and actor.id != asked.customer_id:
        return QueryFailed(code="forbidden", reason="A customer may only list their own credits.")
    now = datetime.now(UTC)
    views = [
        view(row, now, asked.currency, asked.customer_id)
        for row in await db.customer_store_credits(session, asked.customer_id)
    ]
    if asked.usable_only:
        views = [v for v in views if v.usable]
    views.sort(
        key=lambda v: (
            not v.usable,
            v.expiry_date or datetime.max.replace(tzinfo=UTC),
            v.store_credit_id,
        )
    )
    end = asked.offset + asked.limit
    return CustomerStoreCredits(
        customer_id=asked.customer_id,
        store_credits=views[asked.offset : end],
        next_offset=end if end < len(views) else None,
    )
