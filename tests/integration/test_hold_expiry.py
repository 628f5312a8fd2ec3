"""Hold expiry, step by step, in a ledger database no running instance sweeps:
a commit after expiry is refused with hold_expired, and the expiry job voids it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from contracts.envelope import Actor, ActorKind, new_envelope
from contracts.ledger import (
    CommitPointTransaction,
    CreatePointTransaction,
    OpenLedgerAccount,
    PointTransactionKind,
)
from services.ledger.expiry import hold_expiry
from shared.runtime.jobs import JobContext
from shared.runtime.messaging_tables import inbox
from shared.runtime.settings import Settings
from tests.ledger_client import LedgerInstance, assert_invariants, ledger_instance, ledger_state
from tests.random_refs import random_id

ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-expiry")


async def result_of(instance: LedgerInstance, key: str) -> dict[str, object]:
    """The result the inbox recorded for an idempotency key."""
    async with instance.sessions() as session:
        result = await session.scalar(select(inbox.c.result).where(inbox.c.idempotency_key == key))
    assert isinstance(result, dict)
    return result


async def test_a_commit_after_expiry_is_refused_and_the_job_voids_the_hold(
    isolated: Settings,
) -> None:
    ledger = ledger_instance(isolated)
    unit, account_id = random_id("points"), random_id("acct")
    await ledger.handle(
        account_id, new_envelope(OpenLedgerAccount(account_id=account_id, unit=unit), actor=ADMIN)
    )
    deposit = CreatePointTransaction(
        account_id=account_id,
        transaction_id=random_id("tx"),
        amount=80,
        kind=PointTransactionKind.DEPOSIT,
    )
    await ledger.handle(account_id, new_envelope(deposit, actor=ADMIN))
    expires_at = datetime.now(UTC) + timedelta(seconds=2)  # ample for the two calls before
    hold = CreatePointTransaction(
        account_id=account_id,
        transaction_id=random_id("tx"),
        amount=-50,
        kind=PointTransactionKind.SPEND,
        status="pending",  # type: ignore[arg-type]
        expires_at=expires_at,
    )
    await ledger.handle(account_id, new_envelope(hold, actor=ADMIN))
    context = JobContext("ledger", isolated, ledger.sessions)
    assert await hold_expiry.run(context) == 0  # not yet expired
    assert (await ledger_state(ledger.sessions, account_id))["holds"] == 50

    while datetime.now(UTC) <= expires_at:  # the condition is the clock itself
        await asyncio.sleep(0.05)
    commit = new_envelope(
        CommitPointTransaction(account_id=account_id, transaction_id=hold.transaction_id),
        actor=ADMIN,
    )
    await ledger.handle(account_id, commit)
    refused = await result_of(ledger, commit.idempotency_key)
    assert (refused["status"], refused["code"]) == ("rejected", "hold_expired")

    assert await hold_expiry.run(context) == 1
    assert await hold_expiry.run(context) == 0  # once only
    state = await ledger_state(ledger.sessions, account_id)
    assert (state["balance"], state["holds"]) == (80, 0)
    await assert_invariants(ledger.sessions, unit, account_id)
    await ledger.dispose()
