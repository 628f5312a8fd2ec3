"""Bounded storage: idempotency keys are forgotten after their window, published outbox
rows after their retention, and never anything still needed (a young key, an
unpublished row); a retry after the window is answered by the command's own id."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from contracts.envelope import Envelope, Message
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from services.ledger.app import definition as ledger_definition
from services.ledger.db import ledger_accounts
from shared.runtime.codec import decode, encode
from shared.runtime.messaging_tables import inbox, outbox
from shared.runtime.outbox import stable_message_id
from shared.runtime.retention import delete_published, forget_keys
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.kafka_tools import command
from tests.random_refs import random_id

WINDOW = timedelta(days=8)
UNIT = "points:retention"


async def _handle(ledger: ServiceRuntime, envelope: Envelope[Message], key: str) -> None:
    incoming = decode(encode(envelope), ledger.processor.known_types)
    await ledger.processor.process(incoming, key)


async def _result(ledger: ServiceRuntime, envelope: Envelope[Message]) -> Any:
    """The result the outbox holds for this command (slot 0 of what it caused)."""
    result_id = stable_message_id(f"{envelope.message_id}:{envelope.idempotency_key}", 0)
    async with ledger.sessions() as session:
        value = await session.scalar(select(outbox.c.value).where(outbox.c.message_id == result_id))
    assert value is not None, f"no result for {envelope.type}"
    return json.loads(value)["payload"]


async def _age_key(ledger: ServiceRuntime, envelope: Envelope[Message], by: timedelta) -> None:
    async with ledger.sessions() as session, session.begin():
        aged = await session.execute(
            update(inbox)
            .where(inbox.c.idempotency_key == envelope.idempotency_key)
            .values(received_at=func.now() - by)
        )
        assert getattr(aged, "rowcount", 0) == 1


async def _keys(ledger: ServiceRuntime, *envelopes: Envelope[Message]) -> set[str]:
    async with ledger.sessions() as session:
        found = await session.scalars(
            select(inbox.c.idempotency_key).where(
                inbox.c.idempotency_key.in_([e.idempotency_key for e in envelopes])
            )
        )
        return set(found)


async def test_a_key_is_kept_for_its_window_and_a_retry_after_it_meets_the_commands_own_id(
    ledger: ServiceRuntime,
) -> None:
    account, transaction = random_id("acct"), random_id("tx")
    opened = command(OpenLedgerAccount(account_id=account, unit=UNIT))
    deposit = CreatePointTransaction(
        account_id=account, transaction_id=transaction, amount=70, kind=PointTransactionKind.DEPOSIT
    )
    first = command(deposit)
    for envelope in (opened, first):
        await _handle(ledger, envelope, account)
    assert (await _result(ledger, first))["status"] == "accepted"

    await _age_key(ledger, first, WINDOW - timedelta(hours=1))  # old, but within the window
    async with ledger.sessions() as session, session.begin():
        await forget_keys(session, WINDOW)
    assert await _keys(ledger, opened, first) == {opened.idempotency_key, first.idempotency_key}
    within = command(deposit, key=first.idempotency_key)  # a client's retry: a new message
    await _handle(ledger, within, account)
    assert await _result(ledger, within) == await _result(ledger, first)  # the first, again

    await _age_key(ledger, first, WINDOW + timedelta(seconds=1))
    async with ledger.sessions() as session, session.begin():
        assert await forget_keys(session, WINDOW) >= 1
    assert await _keys(ledger, opened, first) == {opened.idempotency_key}  # the young one kept

    after = command(deposit, key=first.idempotency_key)
    await _handle(ledger, after, account)
    answer = await _result(ledger, after)
    assert (answer["status"], answer["code"]) == ("rejected", "transaction_exists")
    async with ledger.sessions() as session:
        balance = await session.scalar(
            select(ledger_accounts.c.balance).where(ledger_accounts.c.id == account)
        )
    assert balance == 70  # applied once


async def test_only_published_rows_past_their_retention_are_deleted(
    ledger: ServiceRuntime,
) -> None:
    """Rows of one transaction, never committed (the relay cannot see them)."""
    kept = timedelta(days=1)
    old, young, unsent = (uuid.uuid4() for _ in range(3))
    async with ledger.sessions() as session, session.begin():
        rows = [
            (old, func.now() - kept * 2, func.now()),
            (young, func.now() - kept / 2, func.now()),
            (unsent, func.now() - kept * 30, None),
        ]
        for message_id, created, published in rows:
            await session.execute(
                insert(outbox).values(
                    message_id=message_id,
                    topic="retention-test",
                    headers={},
                    value=b"{}",
                    created_at=created,
                    published_at=published,
                )
            )
        assert await delete_published(session, kept) >= 1
        left = set(
            await session.scalars(
                select(outbox.c.message_id).where(outbox.c.message_id.in_([old, young, unsent]))
            )
        )
        assert left == {young, unsent}
        await session.rollback()


async def test_every_service_sweeps_on_its_own(isolated: Settings) -> None:
    """The retention job runs in every service, at STORECREDIT_RETENTION_SWEEP_MS."""
    settings = isolated.model_copy(update={"retention_sweep_ms": 100})
    forgotten, remembered = random_id("key"), random_id("key")
    probe = ServiceRuntime(ledger_definition, settings)  # its sessions only; not started
    async with probe.sessions() as session, session.begin():
        for key, age in ((forgotten, WINDOW * 2), (remembered, timedelta(0))):
            await session.execute(
                insert(inbox).values(
                    consumer="retention-test",
                    idempotency_key=key,
                    message_id=uuid.uuid4(),
                    message_type="Probe",
                    payload_hash="",
                    received_at=func.now() - age,
                )
            )

    async def keys() -> set[str]:
        async with probe.sessions() as session:
            found = await session.scalars(
                select(inbox.c.idempotency_key).where(
                    inbox.c.idempotency_key.in_([forgotten, remembered])
                )
            )
            return set(found)

    async with running(ledger_definition, settings=settings):
        deadline = time.monotonic() + 30
        while await keys() != {remembered} and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    assert await keys() == {remembered}
    await probe.engine.dispose()
