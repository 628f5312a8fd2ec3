"""Resizing store-credit holds when what an order owes grows.

A credit is held for min(available, what was due) when it is applied. When the
amount due grows later (another credit removed, an item added or removed, charges
set), each held credit that could hold more (what store-credit said was available
when it authorized it) is resized, in the order the credits were applied, until
what is held covers what is due: the ledger replaces its hold by a larger one in one
step (``ReplacePointTransaction``), so the funds cannot go elsewhere in between.
Meanwhile the credit is ``holding`` (checkout waits for it); refused (another order
was quicker), it keeps its hold and stops growing: the amount due says what is left.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import ReplacePointTransaction
from contracts.order import AppliedCreditStatus
from contracts.topics import LEDGER_COMMANDS
from services.order import db, domain, views
from shared.runtime.outbox import Outgoing, stable_message_id

_HOLDS = uuid.UUID("5c0e9a7d-3b2f-4d61-8e4a-1f9b7c6d5e4a")


def credit_origin(order_id: str, application_id: str) -> str:
    return f"order:{order_id}:applied-credit:{application_id}"


def hold_transaction_id(order_id: str, application_id: str, generation: int = 0) -> str:
    """The hold of an applied credit; a resized one's gets the generation after it."""
    base = "hold-" + uuid.uuid5(_HOLDS, credit_origin(order_id, application_id)).hex
    return base if generation == 0 else f"{base}-{generation}"


def _room(credit: Any) -> domain.CreditRoom:
    return domain.CreditRoom(
        application_id=credit.id,
        status=AppliedCreditStatus(credit.status),
        held=credit.held,
        room=max((credit.authorized or 0) - credit.held, 0),
    )


async def resize_holds(session: AsyncSession, order: Any) -> tuple[list[Any], list[Outgoing]]:
    """The order's credits as they are now, and the ledger commands resizing them.

    ``order`` is the order's row as it is after the change."""
    credits = await db.credits_of(session, order.id)
    rooms = [_room(c) for c in credits]
    if not any(r.status is AppliedCreditStatus.HELD and r.room > 0 for r in rooms):
        return credits, []
    state = views.OrderState(order, await db.lines_of(session, order.id), credits)
    resized = domain.resized_holds(state.totals, rooms)
    messages: list[Outgoing] = []
    for credit in credits:
        amount = resized.get(credit.id)
        if amount is None:
            continue
        generation = credit.hold_generation + 1
        new_id = hold_transaction_id(order.id, credit.id, generation)
        if not await db.use_transaction(session, new_id, order.id, application_id=credit.id):
            continue  # its id was taken: it keeps its hold
        command_id = stable_message_id(credit_origin(order.id, credit.id), f"hold:{generation}")
        replace = ReplacePointTransaction(
            account_id=credit.ledger_account_id,
            transaction_id=credit.hold_transaction_id,
            new_transaction_id=new_id,
            amount=-amount,
            description=f"Store credit held for order {order.number}",
            order_id=order.id,
        )
        await db.update_credit(
            session,
            order.id,
            credit.id,
            status=AppliedCreditStatus.HOLDING.value,
            hold_generation=generation,
            hold_command_id=command_id,
            replacing_transaction_id=new_id,
            replacing_amount=amount,
        )
        messages.append(
            Outgoing(LEDGER_COMMANDS, credit.ledger_account_id, replace, message_id=command_id)
        )
    if messages:
        credits = await db.credits_of(session, order.id)
    return credits, messages


async def on_resized(session: AsyncSession, order: Any, credit: Any, accepted: bool) -> None:
    """The ledger's answer to a resize: the new hold, or the old one kept (no more room)."""
    if accepted:
        await db.update_credit(
            session,
            order.id,
            credit.id,
            status=AppliedCreditStatus.HELD.value,
            hold_transaction_id=credit.replacing_transaction_id,
            held=credit.replacing_amount,
            replacing_transaction_id=None,
            replacing_amount=None,
        )
        return
    await db.update_credit(
        session,
        order.id,
        credit.id,
        status=AppliedCreditStatus.HELD.value,
        authorized=credit.held,
        replacing_transaction_id=None,
        replacing_amount=None,
    )
