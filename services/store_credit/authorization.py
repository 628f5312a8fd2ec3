"""AuthorizeStoreCredit: may this store credit pay this order? (a thin handler).

The order service asks when a customer applies a store credit. A code comes
sealed for this service alone by the customer who applied it (``requested_by``:
``shared.runtime.sealing``), passed on by the order service as it came; it is
opened here, hashed and looked up like any code, and a
wrong one counts toward the lock-out of the customer and the order, as in
``FindStoreCredit``. The answer is this command's result: the credit and what
is available, or the reason it cannot pay. The hold itself is the order
service's to ask of the ledger.

What is available comes from the copy of the ledger's balance. A new credit's
initial amount counts before the ledger has reported it: that credit went to the
ledger's commands (keyed by the credit's ledger account) before this answer was
sent, so it is there before any hold the order service asks for on the strength
of this answer, and the ledger, which has the last word, sees it first. While a
later credit (a top-up) is not in the copy yet, an empty balance is not "nothing
left" but ``balance_not_known``, a retryable refusal; a balance above zero is
offered as it is, the smaller of the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import ActorKind
from contracts.store_credit import AuthorizeStoreCredit
from services.store_credit import codes, credits, db, domain, lookups
from shared.runtime import sealing
from shared.runtime.codec import Incoming
from shared.runtime.commands import Accepted, HandlerContext, RejectAndKeep
from shared.runtime.rules import Rejected

UNUSABLE_REASONS = {
    "disabled": "The store credit is disabled.",
    "not_yet_active": "The store credit is not active yet.",
    "expired": "The store credit has expired.",
    "currency_mismatch": "The store credit is in another currency than the order.",
    "other_customer": "The store credit belongs to another customer.",
}


async def authorize_store_credit(
    session: AsyncSession, command: Incoming[AuthorizeStoreCredit], context: HandlerContext
) -> Accepted:
    asked = command.payload
    if command.envelope.actor.kind is not ActorKind.SERVICE:
        raise domain.Forbidden("Only the order service asks whether a store credit may pay.")
    now = datetime.now(UTC)
    if asked.store_credit_id is not None:
        row = await db.find_store_credit(session, db.store_credits.c.id == asked.store_credit_id)
        if row is not None and row.customer_id != asked.customer_id:
            row = None  # by id, only a customer's own credits: say nothing of others'
    else:
        row = await _guessed(session, command, context, now)
    if row is None:
        raise domain.StoreCreditNotFound("No store credit matches.")
    unusable = credits.unusable_reason(row, now, asked.currency, asked.customer_id)
    if unusable is not None:
        raise Rejected(unusable, UNUSABLE_REASONS[unusable])
    available = _available(row)
    if available is None or (available <= 0 and row.credit_in_flight is not None):
        raise domain.BalanceNotKnown(
            "The ledger has not yet reported this store credit's balance with its latest "
            "credit; try again shortly."
        )
    if available <= 0:
        raise domain.NoBalance("Nothing is left on this store credit.")
    return Accepted(
        produced={
            "store_credit_id": row.id,
            "name": row.name,
            "code": codes.mask(row.code_last4),
            "ledger_account_id": row.ledger_account_id,
            "currency": row.currency,
            "available": available,
            "allow_balance_owing": row.allow_balance_owing,
            "expiry_date": row.expiry_date.isoformat() if row.expiry_date else None,
        }
    )


def _available(row: Any) -> int | None:
    """What the credit can pay: its reported balance less its holds, or, while its
    initial credit is on its way to the ledger, that credit's amount less its holds."""
    if row.credit_in_flight == credits.initial_credit_id(row.id):
        return int(row.amount) - (row.holds or 0)
    return None if row.balance is None else row.balance - (row.holds or 0)


async def _guessed(
    session: AsyncSession,
    command: Incoming[AuthorizeStoreCredit],
    context: HandlerContext,
    now: datetime,
) -> Any:
    """The credit of a sealed code or a token, under the lock-out of the customer, the
    order, whoever asked the order service, the client principal that vouched for them
    and the guessed value; a miss is counted."""
    asked = command.payload
    asker = lookups.Asker(
        asked.requested_by, asked.customer_id, asked.order_id, principal=asked.requested_via
    )
    if asked.token is not None:
        guess = lookups.Guess(token=asked.token)
    else:
        guess = lookups.Guess(code=_opened(asked, context))
    found = await lookups.look_up(session, context, asker, guess, now)
    if found.locked:
        raise domain.LockedOut("Too many wrong guesses; try again later.")
    if found.row is None:
        raise RejectAndKeep(
            domain.StoreCreditNotFound("No store credit matches."), found.count_miss
        )
    return found.row


def _opened(asked: AuthorizeStoreCredit, context: HandlerContext) -> str:
    try:
        if asked.requested_by is None:
            raise sealing.SealError("no one is named as the code's sender")
        return lookups.opened(asked.sealed_code, context, asked.requested_by) or ""
    except sealing.SealError as error:
        raise domain.InvalidSealedCode(
            f"The sealed code does not open: {error} (seal it with the store-credit "
            "service's public key, by the actor who applies it)."
        ) from None
