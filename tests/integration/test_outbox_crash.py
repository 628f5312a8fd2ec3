"""The process dies between commit and publish: after a restart the result and
the events appear exactly once, and the redelivered command changes nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.ledger import OpenLedgerAccount
from contracts.topics import (
    LEDGER_BALANCES,
    LEDGER_COMMAND_RESULTS,
    LEDGER_COMMANDS,
    LEDGER_EVENTS,
)
from shared.runtime.broker import kafka_client_options
from shared.runtime.db import create_engine, create_session_factory
from shared.runtime.faults import CRASH_EXIT_CODE
from shared.runtime.messaging_tables import inbox, outbox
from shared.runtime.settings import Settings
from tests.kafka_tools import Record, command, is_result_of, read_all, send_envelope
from tests.processes import start_service, wait_for_exit
from tests.random_refs import random_id


def start_ledger(settings: Settings, *, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    assert settings.ledger_database_url is not None
    return start_service(settings, "ledger", crash_at=crash_at)


async def everything_on(settings: Settings, topic: str) -> list[Record]:
    return await read_all(settings.kafka_bootstrap_servers, topic, **kafka_client_options(settings))


async def test_crash_between_commit_and_publish_loses_nothing_and_doubles_nothing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    settings = isolated
    assert settings.ledger_database_url is not None
    engine = create_engine(settings.ledger_database_url.get_secret_value())
    sessions = create_session_factory(engine)
    watcher = await watch(settings.topic(LEDGER_COMMAND_RESULTS))
    account_id = random_id("acct")
    opening = command(OpenLedgerAccount(account_id=account_id, unit="points:loyalty"))

    doomed = start_ledger(settings, crash_at="after_commit")
    try:
        await send_envelope(producer, settings.topic(LEDGER_COMMANDS), account_id, opening)
        assert await wait_for_exit(doomed) == CRASH_EXIT_CODE
    finally:
        if doomed.poll() is None:
            doomed.kill()

    async with sessions() as session:
        handled = await session.scalar(select(func.count()).select_from(inbox))
        waiting = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    assert handled == 1  # the effect is committed...
    assert waiting == 3  # ...and its result and two events wait in the outbox
    assert await everything_on(settings, settings.topic(LEDGER_COMMAND_RESULTS)) == []

    restarted = start_ledger(settings)
    try:
        [result] = await watcher.wait_for(is_result_of(opening), within_s=90)
        assert result.json()["payload"]["status"] == "accepted"

        async def drained() -> None:
            while True:
                async with sessions() as session:
                    left = await session.scalar(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.published_at.is_(None))
                    )
                if left == 0:
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(drained(), 60)
    finally:
        restarted.send_signal(signal.SIGTERM)
        await wait_for_exit(restarted, timeout=60)

    results = await everything_on(settings, settings.topic(LEDGER_COMMAND_RESULTS))
    events = await everything_on(settings, settings.topic(LEDGER_EVENTS))
    balances = await everything_on(settings, settings.topic(LEDGER_BALANCES))
    assert len(results) == 1
    assert [e.headers["type"] for e in events] == ["LedgerAccountOpened"]
    assert len(balances) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(inbox)) == 1
    await engine.dispose()
