"""Store credit on an order: a saga over the store-credit service and the ledger.

1. ``ApplyStoreCredit`` records the applied credit as ``requested`` and asks the
   store-credit service ``AuthorizeStoreCredit`` (a code goes sealed for it
   alone). The command's id is fixed beforehand, so its result can be told
   from any other on ``store-credit.command-results``.
2. Authorized: the order asks the ledger for a pending spend of
   min(available, what is still due), expiring with the cart (``holding``).
   Refused: the credit is ``refused`` with the store-credit service's code.
3. The ledger's result on ``ledger.command-results``: ``held``, or ``refused``
   with the ledger's code (``insufficient_funds`` when another order was
   quicker).
4. A hold the ledger voids on its own (expiry) makes the credit ``expired``.
5. When what is due grows, a held credit with room grows (``resize``).

A hold's id is recorded as used (``transaction_uses``), so nothing but this credit
ever pays with it.

Every step locks the order row and acts only from the state it expects, so
redelivered results and events change nothing. Removing a credit (or
cancelling, abandoning the cart) voids its hold; a result arriving after that
is ignored, and a hold placed after it is voided by the void sent behind it
(same ledger account, so the same partition, in order).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import (
    BindPointTransaction,
    CreatePointTransaction,
    PointTransactionKind,
    PointTransactionStatus,
    ReplacePointTransaction,
    VoidReason,
)
from contracts.order import AppliedCreditStatus, ApplyStoreCredit, RemoveStoreCredit
from contracts.results import CommandResult, ResultStatus
from contracts.store_credit import AuthorizeStoreCredit
from contracts.topics import LEDGER_COMMANDS, STORE_CREDIT_COMMANDS
from services.order import checkout, db, domain, resize, views
from services.order.carts import changeable_order, changed, changed_and_resized, remove_credit
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext
from shared.runtime.outbox import Outgoing, stable_message_id


async def apply_store_credit(
    session: AsyncSession, command: Incoming[ApplyStoreCredit], context: HandlerContext
) -> Accepted:
    applying = command.payload
    order = await changeable_order(
        session, applying.order_id, command.envelope.actor, "apply store credit", datetime.now(UTC)
    )
    if await db.credit_exists(session, order.id, applying.application_id):
        raise domain.ApplicationExists(
            f"The order already has application {applying.application_id}."
        )
    state = await views.load(session, order)
    domain.check_room_for_credit(len(state.credits))
    wanted = domain.still_to_cover(state.totals, state.holds)
    if wanted <= 0:
        raise domain.NothingDue("Nothing is left to pay on this order.")
    ask = AuthorizeStoreCredit(
        application_id=applying.application_id,
        order_id=order.id,
        customer_id=order.customer_id,
        currency=order.currency,
        sealed_code=applying.sealed_code,  # sealed by the customer's storefront, as it came
        token=applying.token,
        store_credit_id=applying.store_credit_id,
        requested_by=command.envelope.actor,
        requested_via=command.signer,
    )
    ask_id = stable_message_id(resize.credit_origin(order.id, applying.application_id), "authorize")
    await db.insert_credit(
        session,
        {
            "order_id": order.id,
            "id": applying.application_id,
            "position": await db.next_position(session, db.applied_credits, order.id),
            "status": AppliedCreditStatus.REQUESTED.value,
            "requested": wanted,
            "authorize_command_id": ask_id,
            "store_credit_id": applying.store_credit_id,
        },
    )
    return Accepted(
        produced={
            "application_id": applying.application_id,
            "status": "requested",
            "requested": wanted,
        },
        messages=[
            await changed(session, order.id),
            Outgoing(STORE_CREDIT_COMMANDS, order.customer_id, ask, message_id=ask_id),
        ],
    )


async def remove_store_credit(
    session: AsyncSession, command: Incoming[RemoveStoreCredit], _: HandlerContext
) -> Accepted:
    """Take a credit off: its hold is voided, and the other credits grow to cover what
    it paid, as far as they can (``resize``)."""
    removal = command.payload
    order = await changeable_order(
        session, removal.order_id, command.envelope.actor, "remove store credit", datetime.now(UTC)
    )
    credit = await db.get_credit(session, order.id, removal.application_id)
    if credit is None:
        raise domain.ApplicationNotFound(f"The order has no application {removal.application_id}.")
    if credit.status not in domain.IN_FLIGHT | domain.COUNTING:
        return Accepted(produced={"application_id": credit.id, "status": credit.status})
    voids = await remove_credit(session, credit, "store credit removed from the order")
    return Accepted(
        produced={"application_id": credit.id, "status": "removed"},
        messages=[*await changed_and_resized(session, order.id), *voids],
    )


async def _locked_credit(session: AsyncSession, command_id: uuid.UUID) -> tuple[Any, Any]:
    """The order (locked) and applied credit one of whose commands had this id."""
    found = await db.credit_by_command(session, command_id)
    if found is None:
        return None, None
    order: Any = await db.lock_order(session, found.order_id)
    return order, await db.get_credit(session, found.order_id, found.id)


async def _refuse(
    session: AsyncSession, order: Any, credit: Any, code: str, reason: str
) -> Outgoing:
    await db.update_credit(
        session,
        order.id,
        credit.id,
        status=AppliedCreditStatus.REFUSED.value,
        held=0,
        refusal_code=code,
        refusal_reason=reason,
    )
    return await changed(session, order.id)


async def on_store_credit_result(
    session: AsyncSession, result: Incoming[CommandResult], _: HandlerContext
) -> list[Outgoing]:
    """Step 2: the store-credit service's answer to AuthorizeStoreCredit."""
    answer = result.payload
    if answer.command_type != AuthorizeStoreCredit.message_type:
        return []
    order, credit = await _locked_credit(session, answer.command_id)
    if credit is None or credit.status != AppliedCreditStatus.REQUESTED:
        return []  # not ours, removed meanwhile, or already handled
    if answer.status is ResultStatus.REJECTED:
        return [
            await _refuse(session, order, credit, answer.code or "refused", answer.reason or "")
        ]
    found = answer.produced
    state = await views.load(session, order)
    others = [h for h in state.holds if h.application_id != credit.id]
    if order.status != "open" or datetime.now(UTC) >= order.expires_at:
        return [await _refuse(session, order, credit, "order_not_open", "The order closed.")]
    if any(
        c.store_credit_id == found["store_credit_id"]
        and c.id != credit.id
        and c.status in domain.IN_FLIGHT | domain.COUNTING
        for c in state.credits
    ):
        return [
            await _refuse(
                session,
                order,
                credit,
                "already_applied",
                "This store credit is already applied to the order.",
            )
        ]
    amount = min(int(found["available"]), domain.still_to_cover(state.totals, others))
    if amount <= 0:
        return [await _refuse(session, order, credit, "nothing_due", "Nothing is left to pay.")]
    hold_id = resize.hold_transaction_id(order.id, credit.id)
    if not await db.use_transaction(session, hold_id, order.id, application_id=credit.id):
        return [
            await _refuse(
                session, order, credit, "transaction_exists", "The hold's id was used before."
            )
        ]
    hold_command_id = stable_message_id(resize.credit_origin(order.id, credit.id), "hold")
    hold = CreatePointTransaction(
        account_id=found["ledger_account_id"],
        transaction_id=hold_id,
        amount=-amount,
        kind=PointTransactionKind.SPEND,
        status=PointTransactionStatus.PENDING,
        expires_at=order.expires_at,
        description=f"Store credit held for order {order.number}",
        references={
            "order_id": order.id,
            "application_id": credit.id,
            "store_credit_id": found["store_credit_id"],
        },
    )
    await db.update_credit(
        session,
        order.id,
        credit.id,
        status=AppliedCreditStatus.HOLDING.value,
        held=amount,
        store_credit_id=found["store_credit_id"],
        name=found.get("name"),
        code=found.get("code"),
        ledger_account_id=found["ledger_account_id"],
        hold_transaction_id=hold_id,
        hold_command_id=hold_command_id,
        authorized=int(found["available"]),
        allow_balance_owing=bool(found.get("allow_balance_owing")),
    )
    return [
        await changed(session, order.id),
        Outgoing(LEDGER_COMMANDS, found["ledger_account_id"], hold, message_id=hold_command_id),
    ]


async def on_ledger_result(
    session: AsyncSession, result: Incoming[CommandResult], _: HandlerContext
) -> list[Outgoing]:
    """Step 3: the ledger's answer to the hold (a checkout's binds go to ``checkout``)."""
    answer = result.payload
    if answer.command_type == BindPointTransaction.message_type:
        return await checkout.on_bind_result(session, answer)
    if answer.command_type == ReplacePointTransaction.message_type:
        return await _on_resized(session, answer)
    if answer.command_type != CreatePointTransaction.message_type:
        return []
    if (
        answer.status is ResultStatus.ACCEPTED
        and answer.produced.get("status") != PointTransactionStatus.PENDING.value
    ):
        return []  # a transaction created committed: an order's holds are all pending
    order, credit = await _locked_credit(session, answer.command_id)
    if (
        credit is None
        or credit.status != AppliedCreditStatus.HOLDING
        or credit.replacing_transaction_id is not None
    ):
        return []
    if answer.status is ResultStatus.REJECTED:
        return [
            await _refuse(session, order, credit, answer.code or "refused", answer.reason or "")
        ]
    await db.update_credit(session, order.id, credit.id, status=AppliedCreditStatus.HELD.value)
    return [await changed(session, order.id)]


async def _on_resized(session: AsyncSession, answer: CommandResult) -> list[Outgoing]:
    """The ledger's answer to a resize (``resize``)."""
    order, credit = await _locked_credit(session, answer.command_id)
    if (
        credit is None
        or credit.status != AppliedCreditStatus.HOLDING
        or credit.replacing_transaction_id is None
    ):
        return []  # removed meanwhile, or answered before
    await resize.on_resized(session, order, credit, answer.status is ResultStatus.ACCEPTED)
    return [await changed(session, order.id)]


async def on_hold_voided(session: AsyncSession, transaction_id: str, reason: str) -> list[Outgoing]:
    """Step 4: the ledger voided a hold the order did not ask to void (it expired). A hold
    replaced by a larger one (``resize``) is not gone: its successor holds."""
    if reason == VoidReason.REPLACED:
        return []
    found = await db.credit_by_hold(session, transaction_id)
    if found is None:
        return []
    order: Any = await db.lock_order(session, found.order_id)
    credit = await db.get_credit(session, found.order_id, found.id)
    if credit is None or credit.status not in (
        AppliedCreditStatus.HOLDING,
        AppliedCreditStatus.HELD,
    ):
        return []
    await db.update_credit(
        session,
        order.id,
        credit.id,
        status=AppliedCreditStatus.EXPIRED.value,
        held=0,
        refusal_code=reason,
        refusal_reason="The ledger voided the hold; apply the credit again.",
    )
    return [await changed(session, order.id)]
