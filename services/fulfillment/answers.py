"""The ledger's and store-credit's answers to the commands fulfillment sent.

Fulfillment reads ``ledger.command-results`` and ``store-credit.command-results``
and keeps only the answers to its own commands, found by command id (each is
fixed when the command is written). Every step locks the order's row and acts
only from the state it expects, so a redelivered answer changes nothing; the
handlers skip the inbox. A store-credit answer to ``CreateStoreCredit`` holds
the new code in clear: only its status is read, nothing of it is kept.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import CommitPointTransaction, CreatePointTransaction, ReversePointTransaction
from contracts.results import CommandResult, ResultStatus
from contracts.store_credit import CreateStoreCredit
from services.fulfillment import db, domain, items, returns
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext
from shared.runtime.outbox import Outgoing

LEDGER_COMMANDS_SENT = frozenset(
    {
        CommitPointTransaction.message_type,
        CreatePointTransaction.message_type,
        ReversePointTransaction.message_type,
    }
)


async def _answer(session: AsyncSession, answer: CommandResult) -> list[Outgoing]:
    accepted = answer.status is ResultStatus.ACCEPTED
    answer = answer.model_copy(update={"reason": domain.brief(answer.reason)})
    fulfillment = await db.lock_by_item_command(session, answer.command_id)
    if fulfillment is not None:
        order_items = await db.items_of(session, fulfillment.order_id)
        item = next((i for i in order_items if i.command_id == answer.command_id), None)
        if item is None:
            return []  # retried since: the answer is to an attempt that is over
        return await items.on_item_answer(
            session, fulfillment, item, order_items, accepted, answer.code, answer.reason
        )
    part = await db.part_by_command(session, answer.command_id)
    if part is not None:
        await db.lock(session, part.order_id)
        part = await db.part_by_command(session, answer.command_id)
        return await returns.on_part_answer(session, part, accepted, answer.code, answer.reason)
    return []


async def on_ledger_result(
    session: AsyncSession, result: Incoming[CommandResult], _: HandlerContext
) -> list[Outgoing]:
    if result.payload.command_type not in LEDGER_COMMANDS_SENT:
        return []
    return await _answer(session, result.payload)


async def on_store_credit_result(
    session: AsyncSession, result: Incoming[CommandResult], _: HandlerContext
) -> list[Outgoing]:
    if result.payload.command_type != CreateStoreCredit.message_type:
        return []
    return await _answer(session, result.payload)
