"""Templates and point accounts: command, event and query handlers (thin).

Each point account has a ledger account with the same id, opened by an
OpenLedgerAccount command this service sends through its outbox; its balance
is copied here from the ledger's BalanceChanged events.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.customers import CustomerCreated
from contracts.envelope import ActorKind
from contracts.ledger import BalanceChanged, CloseLedgerAccount, OpenLedgerAccount
from contracts.store_credit import (
    CreatePointAccount,
    CreatePointAccountTemplate,
    CustomerAccounts,
    ListCustomerAccounts,
    ListPointAccountTemplates,
    PointAccountRefused,
    PointAccountStatus,
    PointAccountTemplates,
    PointAccountTemplateView,
    PointAccountView,
    UpdatePointAccount,
    UpdatePointAccountTemplate,
)
from contracts.topics import LEDGER_COMMANDS, STORE_CREDIT_EVENTS
from services.store_credit import db, domain
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.outbox import Outgoing
from shared.runtime.queries import QueryFailure

_ACCOUNT_IDS = uuid.UUID("0d3c7a52-5f1e-4b0a-9c61-2b8f7e4d1a33")


def template_account_id(customer_id: str, template_id: str) -> str:
    """The id of the account a template gives a customer: the same on every redelivery."""
    return "pa-" + uuid.uuid5(_ACCOUNT_IDS, f"{customer_id}\x00{template_id}").hex


def _template_message(row: Any) -> Outgoing:
    return Outgoing(STORE_CREDIT_EVENTS, row.id, db.template_event(row))


def _account_message(row: Any) -> Outgoing:
    return Outgoing(STORE_CREDIT_EVENTS, row.customer_id, db.account_event(row))


def _open_in_ledger(row: Any) -> Outgoing:
    command = OpenLedgerAccount(
        account_id=row.id,
        unit=row.unit,
        customer_id=row.customer_id,
        allow_negative=row.allow_negative,
        negative_limit=row.negative_limit,
    )
    return Outgoing(LEDGER_COMMANDS, row.id, command)


async def _new_account(
    session: AsyncSession, context: HandlerContext, values: dict[str, Any]
) -> Any | None:
    """Take one of the customer's slots and insert the account; None if it exists.

    Raises AccountLimitReached when the customer has no slot left.
    """
    customer_id = values["customer_id"]
    limit = context.settings.max_point_accounts_per_customer
    if await db.take_account_slot(session, customer_id, limit) is None:
        raise domain.limit_reached(await db.open_accounts(session, customer_id), limit)
    row = await db.insert_account(session, values)
    if row is None:
        await db.release_account_slot(session, customer_id)
    return row


async def create_template(
    session: AsyncSession, command: Incoming[CreatePointAccountTemplate], _: HandlerContext
) -> Accepted:
    template = command.payload
    values = {
        "id": template.template_id,
        "name": template.name,
        "kind": template.kind,
        "unit": template.unit,
        "exchange_rates": db.rates_to_json(template.exchange_rates),
        "status": template.status.value,
        "allow_negative": template.allow_negative,
        "negative_limit": template.negative_limit,
    }
    domain.check_admin(command.envelope.actor, "create point-account templates")
    row = await db.insert_template(session, values)
    if row is None:
        raise domain.TemplateExists(f"Template {template.template_id} already exists.")
    return Accepted(
        produced={"template_id": row.id, "version": row.version},
        messages=[_template_message(row)],
    )


async def update_template(
    session: AsyncSession, command: Incoming[UpdatePointAccountTemplate], _: HandlerContext
) -> Accepted:
    edit = command.payload
    domain.check_admin(command.envelope.actor, "change point-account templates")
    if await db.lock_template(session, edit.template_id) is None:
        raise domain.TemplateNotFound(f"There is no template {edit.template_id}.")
    changes: dict[str, Any] = {}
    if edit.name is not None:
        changes["name"] = edit.name
    if edit.exchange_rates is not None:
        changes["exchange_rates"] = db.rates_to_json(edit.exchange_rates)
    account_changes = dict(changes)
    if edit.status is not None:
        changes["status"] = edit.status.value
        account_changes["status"] = domain.account_status_for(edit.status).value
    template = await db.update_template(session, edit.template_id, changes)
    accounts = await db.update_template_accounts(session, edit.template_id, account_changes)
    return Accepted(
        produced={
            "template_id": template.id,
            "version": template.version,
            "accounts_updated": len(accounts),
        },
        messages=[_template_message(template), *(_account_message(row) for row in accounts)],
    )


async def create_account(
    session: AsyncSession, command: Incoming[CreatePointAccount], context: HandlerContext
) -> Accepted:
    wanted = command.payload
    values = {
        "id": wanted.account_id,
        "customer_id": wanted.customer_id,
        "template_id": None,
        "name": wanted.name,
        "kind": wanted.kind,
        "unit": wanted.unit,
        "exchange_rates": db.rates_to_json(wanted.exchange_rates),
        "status": PointAccountStatus.ACTIVE.value,
        "allow_negative": wanted.allow_negative,
        "negative_limit": wanted.negative_limit,
    }
    domain.check_admin(command.envelope.actor, "create point accounts")
    domain.check_direct_account_id(wanted.account_id)
    row = await _new_account(session, context, values)
    if row is None:
        raise domain.AccountExists(f"Point account {wanted.account_id} already exists.")
    return Accepted(
        produced={"account_id": row.id, "customer_id": row.customer_id, "status": row.status},
        messages=[_account_message(row), _open_in_ledger(row)],
    )


async def update_account(
    session: AsyncSession, command: Incoming[UpdatePointAccount], _: HandlerContext
) -> Accepted:
    edit = command.payload
    messages: list[Outgoing] = []
    changes: dict[str, Any] = {}
    domain.check_admin(command.envelope.actor, "change point accounts")
    row = await db.lock_account(session, edit.account_id)
    if row is None or row.customer_id != edit.customer_id:
        raise domain.AccountNotFound(
            f"Customer {edit.customer_id} has no point account {edit.account_id}."
        )
    if row.status == PointAccountStatus.CLOSED.value:
        raise domain.AccountClosed(f"Point account {edit.account_id} is closed.")
    terms_change = edit.name is not None or edit.exchange_rates is not None
    domain.check_direct_change(row.template_id, terms_change)
    if edit.status is PointAccountStatus.CLOSED:
        domain.check_closable(row.balance, row.holds)
        await db.release_account_slot(session, row.customer_id)
        messages.append(Outgoing(LEDGER_COMMANDS, row.id, CloseLedgerAccount(account_id=row.id)))
    if edit.name is not None:
        changes["name"] = edit.name
    if edit.exchange_rates is not None:
        changes["exchange_rates"] = db.rates_to_json(edit.exchange_rates)
    if edit.status is not None:
        changes["status"] = edit.status.value
    row = await db.update_account(session, edit.account_id, changes)
    return Accepted(
        produced={"account_id": row.id, "status": row.status, "version": row.version},
        messages=[_account_message(row), *messages],
    )


async def on_customer_created(
    session: AsyncSession, event: Incoming[CustomerCreated], context: HandlerContext
) -> list[Outgoing]:
    """One account per active template; refusals are events, never silent."""
    customer_id = event.payload.customer_id
    await db.ensure_customer(session, customer_id)
    messages: list[Outgoing] = []
    for template in await db.active_templates(session):
        values = {
            "id": template_account_id(customer_id, template.id),
            "customer_id": customer_id,
            "template_id": template.id,
            "name": template.name,
            "kind": template.kind,
            "unit": template.unit,
            "exchange_rates": template.exchange_rates,
            "status": PointAccountStatus.ACTIVE.value,
            "allow_negative": template.allow_negative,
            "negative_limit": template.negative_limit,
        }
        try:
            row = await _new_account(session, context, values)
        except domain.AccountLimitReached as refusal:
            refused = PointAccountRefused(
                customer_id=customer_id,
                template_id=template.id,
                code=refusal.code,
                reason=refusal.reason,
            )
            messages.append(Outgoing(STORE_CREDIT_EVENTS, customer_id, refused))
            continue
        if row is not None:
            messages += [_account_message(row), _open_in_ledger(row)]
    return messages


async def on_balance_changed(
    session: AsyncSession, event: Incoming[BalanceChanged], _: HandlerContext
) -> list[Outgoing]:
    """Keep the ledger's balance of our point accounts and store credits (newer only).

    Each statement is whole by itself (its route runs it outside a transaction when the
    event comes alone): a redelivery after either comes out the same."""
    change = event.payload
    args = (change.account_id, change.balance, change.holds, change.version)
    if not await db.record_balance(session, *args):
        await db.record_store_credit_balance(session, *args, change.transaction_id)
    return []


def _view(row: Any) -> PointAccountView:
    available = None if row.balance is None else row.balance - (row.holds or 0)
    return PointAccountView(
        account_id=row.id,
        template_id=row.template_id,
        name=row.name,
        kind=row.kind,
        unit=row.unit,
        exchange_rates=db.rates_from_json(row.exchange_rates),
        status=PointAccountStatus(row.status),
        balance=row.balance,
        holds=row.holds,
        available=available,
    )


async def list_customer_accounts(
    session: AsyncSession, query: Incoming[ListCustomerAccounts], _: HandlerContext
) -> CustomerAccounts:
    asked = query.payload
    actor = query.envelope.actor
    if actor.kind is ActorKind.CUSTOMER and actor.id != asked.customer_id:
        raise QueryFailure("forbidden", "A customer may only list their own accounts.")
    rows = await db.customer_accounts(session, asked.customer_id, asked.include_closed)
    return CustomerAccounts(customer_id=asked.customer_id, point_accounts=[_view(r) for r in rows])


async def list_templates(
    session: AsyncSession, query: Incoming[ListPointAccountTemplates], _: HandlerContext
) -> PointAccountTemplates:
    """A page of templates, by id (templates are the shop's configuration: anyone asks)."""
    asked = query.payload
    status = asked.status.value if asked.status is not None else None
    rows = await db.templates_page(session, status, asked.after, asked.limit)
    page = rows[: asked.limit]
    views = [
        PointAccountTemplateView.model_validate(db.template_event(row).model_dump()) for row in page
    ]
    more = len(rows) > asked.limit
    return PointAccountTemplates(templates=views, next_after=page[-1].id if more else None)
