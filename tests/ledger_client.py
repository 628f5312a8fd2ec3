"""A test client of the ledger over Kafka: send commands, wait for their results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, Envelope, Message
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from contracts.topics import LEDGER_BALANCES, LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS, LEDGER_EVENTS
from shared.runtime.codec import decode, encode
from shared.runtime.commands import CommandProcessor
from shared.runtime.db import create_engine, create_session_factory
from shared.runtime.service import ServiceDefinition
from shared.runtime.settings import Settings
from tests.kafka_tools import ADMIN, CommandClient, command
from tests.random_refs import random_id


class Ledger(CommandClient):
    """Sends ledger commands and waits for their results."""

    commands = LEDGER_COMMANDS

    async def do(self, key: str, payload: Message, actor: Actor = ADMIN) -> dict[str, Any]:
        """Send one command as ``actor`` and return its result's payload."""
        return await self.ask(key, command(payload, actor=actor))

    async def open(self, **terms: Any) -> str:
        account_id = random_id("acct")
        terms.setdefault("unit", "points:loyalty")
        result = await self.ask(
            account_id, command(OpenLedgerAccount(account_id=account_id, **terms))
        )
        assert result["status"] == "accepted", result
        return account_id

    def post(
        self, account_id: str, amount: int, kind: str = "deposit", **extra: Any
    ) -> CreatePointTransaction:
        return CreatePointTransaction(
            account_id=account_id,
            transaction_id=extra.pop("transaction_id", random_id("tx")),
            amount=amount,
            kind=PointTransactionKind(kind),
            **extra,
        )


async def make_ledger(producer: AIOKafkaProducer, settings: Settings, watch: Any) -> Ledger:
    watcher = await watch(
        settings.topic(LEDGER_COMMAND_RESULTS),
        settings.topic(LEDGER_BALANCES),
        settings.topic(LEDGER_EVENTS),
    )
    return Ledger(producer, settings, watcher)


async def ledger_state(sessions: Any, account_id: str) -> dict[str, int]:
    """An account's stored balances and what its rows say they must be."""
    from sqlalchemy import func, select

    from services.ledger.db import ledger_accounts, point_transactions, postings

    async with sessions() as session:
        row = (
            await session.execute(
                select(ledger_accounts.c.balance, ledger_accounts.c.holds).where(
                    ledger_accounts.c.id == account_id
                )
            )
        ).one()
        posted = await session.scalar(
            select(func.coalesce(func.sum(postings.c.amount), 0)).where(
                postings.c.account_id == account_id
            )
        )
        held = await session.scalar(
            select(func.coalesce(func.sum(-point_transactions.c.amount), 0))
            .where(point_transactions.c.account_id == account_id)
            .where(point_transactions.c.status == "pending")
            .where(point_transactions.c.amount < 0)
        )
    return {"balance": row.balance, "holds": row.holds, "posted": int(posted), "held": int(held)}


async def unit_sum(sessions: Any, unit: str) -> int:
    from sqlalchemy import func, select

    from services.ledger.db import postings

    async with sessions() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(postings.c.amount), 0)).where(postings.c.unit == unit)
        )
    return int(total)


async def assert_invariants(sessions: Any, unit: str, *account_ids: str) -> None:
    """balance = sum of committed postings, holds = open pending spends, unit sums to zero."""
    for account_id in account_ids:
        state = await ledger_state(sessions, account_id)
        assert state["balance"] == state["posted"], state
        assert state["holds"] == state["held"], state
    assert await unit_sum(sessions, unit) == 0


@dataclass
class LedgerInstance:
    """One more service instance without Kafka: its own pool, the same database, the
    same command pipeline the consumer uses (inbox, handler, outbox)."""

    engine: Any
    sessions: Any
    processor: CommandProcessor

    async def handle(self, key: str, envelope: Envelope[Message]) -> None:
        incoming = decode(encode(envelope), self.processor.known_types)
        await self.processor.process(incoming, key)

    async def dispose(self) -> None:
        await self.engine.dispose()


def ledger_instance(settings: Settings, *, pool_size: int = 5) -> LedgerInstance:
    from services.ledger.app import definition

    return service_instance(settings, definition, pool_size=pool_size)


def service_instance(
    settings: Settings, definition: ServiceDefinition, *, pool_size: int = 5
) -> LedgerInstance:
    """One more instance of any service's command pipeline, without Kafka."""
    engine = create_engine(settings.database_url_for(definition.name), pool_size=pool_size)
    sessions = create_session_factory(engine)
    processor = CommandProcessor(
        service=definition.name,
        settings=settings,
        sessions=sessions,
        routes=definition.routes,
        results_topic=definition.results,
        after_commit=lambda: None,
    )
    return LedgerInstance(engine, sessions, processor)
