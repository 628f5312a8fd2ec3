"""A batch of commands in one transaction answers exactly as the same commands one at a time.

The same random script of ledger commands (accounts opened, deposits, spends that may
be refused, holds committed, voided and reversed, client retries, redeliveries and keys
reused with another payload) runs twice against the real ledger database: once a
command per transaction (``process``), once as one batch (``process_batch``), on its
own accounts. Every result, every message written to the outbox and every account's
final state must be the same, ids aside. A batch delivered again changes nothing.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import dead_letters
from contracts.envelope import Envelope, Message
from contracts.ledger import (
    BindPointTransaction,
    CloseLedgerAccount,
    CommitPointTransaction,
    CreatePointTransaction,
    OpenLedgerAccount,
    PointTransactionKind,
    ReplacePointTransaction,
    ReversePointTransaction,
    VoidPointTransaction,
)
from contracts.topics import LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS, LEDGER_DEAD_LETTERS
from services.ledger import handlers
from services.ledger.app import definition as ledger_definition
from services.ledger.db import ledger_accounts, point_transactions
from shared.runtime.codec import Incoming, decode, encode
from shared.runtime.commands import Accepted, CommandRoute, HandlerContext
from shared.runtime.db import create_engine, create_session_factory
from shared.runtime.messaging_tables import outbox
from shared.runtime.outbox import stable_message_id
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.kafka_tools import command, is_result_of, send, send_envelope
from tests.ledger_client import assert_invariants
from tests.random_refs import random_id

UNIT = "points:batch"
STEPS = 250


@dataclass(frozen=True)
class Step:
    envelope: Envelope[Message]
    key: str


class Script:
    """Random commands over a few accounts, named from ``prefix`` so two runs differ
    only in their ids: every command kind, with the mistakes clients make (a hold
    committed twice, a commit on the wrong account, the wrong order, too large a
    reversal, a taken id), so refusals and acceptances mix on shared accounts."""

    def __init__(self, seed: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.accounts = [f"{prefix}-a{n}" for n in range(3)]
        self.pending: list[tuple[str, str, int]] = []
        """(account, transaction, amount) of holds asked for (some were refused)."""
        self.committed: list[tuple[str, str]] = []
        self.finished: list[tuple[str, str]] = []
        self.bound: dict[str, str] = {}
        self.sent: list[Step] = []
        self.counter = 0

    def _id(self, what: str) -> str:
        self.counter += 1
        return f"{self.prefix}-{what}{self.counter}"

    def _step(self, account: str, payload: Message) -> Step:
        step = Step(command(payload, key=self._id("key")), account)
        self.sent.append(step)
        return step

    def steps(self) -> list[Step]:
        steps = [self._step(a, OpenLedgerAccount(account_id=a, unit=UNIT)) for a in self.accounts]
        while len(steps) < STEPS:
            steps.append(self._next())
        return steps

    def _order_of(self, transaction: str) -> str | None:
        """The order a hold is bound to, or sometimes a wrong one (or none)."""
        order = self.bound.get(transaction)
        if order is not None and self.rng.random() < 0.15:
            return self.rng.choice([None, f"{order}-other"])
        return order

    def _next(self) -> Step:
        rng, account = self.rng, self.rng.choice(self.accounts)
        choice = rng.randrange(19)
        if choice == 0 and self.sent:  # a client's retry: same key and payload, new message
            earlier = rng.choice(self.sent)
            retry = command(earlier.envelope.payload, key=earlier.envelope.idempotency_key)
            return Step(retry, earlier.key)
        if choice == 1 and self.sent:  # a redelivery: the very same message
            return rng.choice(self.sent)
        if choice == 2 and self.sent:  # the key again, another payload
            earlier = rng.choice(self.sent)
            other = self._deposit(account, rng.randrange(1, 50))
            return Step(command(other, key=earlier.envelope.idempotency_key), account)
        if choice in (3, 14) and self.pending:
            return self._commit()
        if choice == 4 and self.pending:
            held_account, held, _ = self.pending.pop(rng.randrange(len(self.pending)))
            self.finished.append((held_account, held))
            void = VoidPointTransaction(
                account_id=held_account, transaction_id=held, order_id=self._order_of(held)
            )
            return self._step(held_account, void)
        if choice == 5 and self.committed:
            owner, original = rng.choice(self.committed)
            return self._step(
                owner,
                ReversePointTransaction(
                    account_id=owner,
                    transaction_id=original,
                    reversal_transaction_id=self._id("rev"),
                    amount=rng.choice([None, rng.randrange(1, 40), rng.randrange(1, 400)]),
                ),
            )
        if choice in (6, 13):
            amount = -rng.randrange(1, 150)
            hold = CreatePointTransaction(
                account_id=account,
                transaction_id=self._id("tx"),
                amount=amount,
                kind=PointTransactionKind.SPEND,
                status="pending",
            )
            self.pending.append((account, hold.transaction_id, amount))
            return self._step(account, hold)
        if choice == 7:
            spend = CreatePointTransaction(
                account_id=account,
                transaction_id=self._id("tx"),
                amount=-rng.randrange(1, 400),
                kind=PointTransactionKind.SPEND,
            )
            return self._step(account, spend)
        if choice in (8, 15) and self.pending:
            held_account, held, _ = rng.choice(self.pending)
            order = self.bound.setdefault(held, self._id("order"))
            if rng.random() < 0.2:
                order = self._id("order")  # bound once, ever: refused if bound already
            bind = BindPointTransaction(
                account_id=held_account, transaction_id=held, order_id=order
            )
            return self._step(held_account, bind)
        if choice in (9, 16) and self.pending:
            index = rng.randrange(len(self.pending))
            held_account, held, _ = self.pending[index]
            amount = -rng.randrange(1, 200)
            new = self._id("tx")
            self.pending[index] = (held_account, new, amount)
            if held in self.bound:
                self.bound[new] = self.bound[held]
            replace_ = ReplacePointTransaction(
                account_id=held_account,
                transaction_id=held,
                new_transaction_id=new,
                amount=amount,
                order_id=self._order_of(held),
            )
            return self._step(held_account, replace_)
        if choice == 10 and (self.finished or self.pending):
            owner, transaction = rng.choice(self.finished or [p[:2] for p in self.pending])
            if rng.random() < 0.5:
                owner = rng.choice(self.accounts)  # perhaps the wrong account
            late: Message = rng.choice(
                [
                    CommitPointTransaction(account_id=owner, transaction_id=transaction),
                    VoidPointTransaction(account_id=owner, transaction_id=transaction),
                ]
            )
            return self._step(owner, late)
        if choice == 11 and self.committed:
            owner, original = rng.choice(self.committed)
            _, taken = rng.choice(self.committed)
            reverse = ReversePointTransaction(
                account_id=owner, transaction_id=original, reversal_transaction_id=taken
            )
            return self._step(owner, reverse)
        if choice == 12 and len(self.sent) > STEPS * 0.8:  # late: it may well succeed
            return self._step(account, CloseLedgerAccount(account_id=account))
        deposit = self._deposit(account, rng.randrange(1, 300))
        self.committed.append((account, deposit.transaction_id))
        return self._step(account, deposit)

    def _commit(self) -> Step:
        rng = self.rng
        held_account, held, amount = self.pending.pop(rng.randrange(len(self.pending)))
        if rng.random() < 0.2:
            self.pending.append((held_account, held, amount))  # committed again later
        self.committed.append((held_account, held))
        self.finished.append((held_account, held))
        part = rng.choice([None, None, -rng.randrange(1, -amount + 1), amount - 1])
        commit = CommitPointTransaction(
            account_id=held_account, transaction_id=held, amount=part, order_id=self._order_of(held)
        )
        return self._step(held_account, commit)

    def _deposit(self, account: str, amount: int) -> CreatePointTransaction:
        return CreatePointTransaction(
            account_id=account,
            transaction_id=self._id("tx"),
            amount=amount,
            kind=PointTransactionKind.DEPOSIT,
        )


def incoming(step: Step, known: dict[str, type[Message]]) -> Incoming[Any]:
    return decode(encode(step.envelope), known)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
IDS_OF_EACH_RUN = {"command_id", "message_id", "idempotency_key", "causation_id", "correlation_id"}


def without_ids(value: Any, prefix: str) -> Any:
    """The value with the run's prefix, times (``*_at``) and message ids taken out
    (a refusal's reason may name a message id)."""
    if isinstance(value, dict):
        return {
            k: without_ids(v, prefix)
            for k, v in value.items()
            if not k.endswith("_at") and k not in IDS_OF_EACH_RUN
        }
    if isinstance(value, list):
        return [without_ids(v, prefix) for v in value]
    if isinstance(value, str):
        return UUID.sub("<uuid>", value.replace(prefix, "<run>"))
    return value


async def written(ledger: ServiceRuntime, steps: list[Step], prefix: str) -> list[Any]:
    """Per step, the messages its handling wrote (result first), as the outbox holds them."""
    ids = {
        stable_message_id(f"{s.envelope.message_id}:{s.envelope.idempotency_key}", n): (i, n)
        for i, s in enumerate(steps)
        for n in range(5)
    }
    async with ledger.sessions() as session:
        rows = (
            await session.execute(
                select(outbox.c.message_id, outbox.c.value).where(outbox.c.message_id.in_(ids))
            )
        ).all()
    found: dict[tuple[int, int], Any] = {ids[r.message_id]: json.loads(r.value) for r in rows}
    per_step: list[Any] = []
    for i in range(len(steps)):
        messages = [found[(i, n)] for n in range(5) if (i, n) in found]
        per_step.append([(m["type"], without_ids(m["payload"], prefix)) for m in messages])
    return per_step


async def final_state(ledger: ServiceRuntime, prefix: str) -> Any:
    async with ledger.sessions() as session:
        accounts = (
            await session.execute(
                select(
                    ledger_accounts.c.id,
                    ledger_accounts.c.balance,
                    ledger_accounts.c.holds,
                    ledger_accounts.c.version,
                )
                .where(ledger_accounts.c.id.like(f"{prefix}-%"))
                .order_by(ledger_accounts.c.id)
            )
        ).all()
        transactions = (
            await session.execute(
                select(
                    point_transactions.c.id,
                    point_transactions.c.status,
                    point_transactions.c.amount,
                    point_transactions.c.committed_amount,
                    point_transactions.c.reversed_amount,
                    point_transactions.c.bound_order_id,
                    point_transactions.c.void_reason,
                    point_transactions.c.committed_at.is_(None),
                    point_transactions.c.voided_at.is_(None),
                )
                .where(point_transactions.c.id.like(f"{prefix}-%"))
                .order_by(point_transactions.c.seq)
            )
        ).all()
    return without_ids([list(a) for a in accounts] + [list(t) for t in transactions], prefix)


TWO_PHASE = {
    "CommitPointTransaction",
    "VoidPointTransaction",
    "BindPointTransaction",
    "ReplacePointTransaction",
    "ReversePointTransaction",
}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_a_batch_answers_as_the_same_commands_one_at_a_time(
    ledger: ServiceRuntime, seed: int
) -> None:
    known = ledger.processor.known_types
    alone, together = random_id("alone"), random_id("batch")
    one_by_one = Script(seed, alone).steps()
    batched = Script(seed, together).steps()

    for step in one_by_one:
        await ledger.processor.process(incoming(step, known), step.key)
    await ledger.processor.process_batch([(incoming(s, known), s.key) for s in batched])

    assert await written(ledger, batched, together) == await written(ledger, one_by_one, alone)
    assert await final_state(ledger, together) == await final_state(ledger, alone)
    states = await final_state(ledger, together)
    assert any(row[1] != 0 for row in states[:3]), "the script moved no points"
    answers = [m[0][1] for m in await written(ledger, batched, together) if m]
    accepted = {a["command_type"] for a in answers if a["status"] == "accepted"}
    assert accepted >= TWO_PHASE, f"the script's batch accepted no {TWO_PHASE - accepted}"
    refused = {a["command_type"] for a in answers if a["status"] == "rejected"}
    assert refused & TWO_PHASE, "the script's batch refused none of its two-phase commands"
    await assert_invariants(ledger.sessions, UNIT, *Script(seed, together).accounts)


async def test_a_batch_delivered_again_changes_nothing(ledger: ServiceRuntime) -> None:
    known = ledger.processor.known_types
    prefix = random_id("again")
    steps = Script(7, prefix).steps()
    batch = [(incoming(s, known), s.key) for s in steps]
    await ledger.processor.process_batch(batch)
    before_state = await final_state(ledger, prefix)
    before_messages = await written(ledger, steps, prefix)

    await ledger.processor.process_batch([(incoming(s, known), s.key) for s in steps])

    assert await final_state(ledger, prefix) == before_state
    assert await written(ledger, steps, prefix) == before_messages


async def test_a_command_made_and_used_in_one_batch_sees_the_earlier_writes(
    ledger: ServiceRuntime,
) -> None:
    """A hold created and committed in the same batch (both deferred): the commit finds
    the hold the batch created, and its row is written committed."""
    known = ledger.processor.known_types
    account, hold = random_id("acct"), random_id("tx")
    payloads: list[Message] = [
        OpenLedgerAccount(account_id=account, unit=UNIT),
        CreatePointTransaction(
            account_id=account,
            transaction_id=random_id("tx"),
            amount=500,
            kind=PointTransactionKind.DEPOSIT,
        ),
        CreatePointTransaction(
            account_id=account,
            transaction_id=hold,
            amount=-200,
            kind=PointTransactionKind.SPEND,
            status="pending",
        ),
        CommitPointTransaction(account_id=account, transaction_id=hold, amount=-150),
        CreatePointTransaction(
            account_id=account,
            transaction_id=random_id("tx"),
            amount=-351,
            kind=PointTransactionKind.SPEND,
        ),
    ]
    steps = [Step(command(p), account) for p in payloads]
    await ledger.processor.process_batch([(incoming(s, known), s.key) for s in steps])

    results = [m[0][1] for m in await written(ledger, steps, account)]
    assert [r["status"] for r in results] == ["accepted"] * 4 + ["rejected"]
    assert results[3]["produced"]["balance"] == 350
    assert results[4]["code"] == "insufficient_funds"
    async with ledger.sessions() as session:
        row = (
            await session.execute(
                select(
                    ledger_accounts.c.balance, ledger_accounts.c.holds, ledger_accounts.c.version
                ).where(ledger_accounts.c.id == account)
            )
        ).one()
    assert tuple(row) == (350, 0, 3)  # deposit, hold, commit: three changes after opening
    await assert_invariants(ledger.sessions, UNIT, account)


async def test_a_bug_in_one_command_of_a_batch_parks_only_that_command(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """The batch's transaction is undone and its commands are handled one at a time: the
    one whose handler fails is parked with an ``internal_error`` result, and an
    undecodable record among them is parked too; every other command is applied once."""

    async def explodes_on_boom(
        session: AsyncSession, incoming: Incoming[Any], context: HandlerContext
    ) -> Accepted:
        if incoming.payload.transaction_id.startswith("boom"):
            raise RuntimeError("a bug in the handler")
        return await handlers.create_point_transaction(session, incoming, context)

    routes = {
        **ledger_definition.routes,
        "CreatePointTransaction": CommandRoute(
            CreatePointTransaction, explodes_on_boom, deferrable=True
        ),
    }
    buggy = replace(ledger_definition, routes=routes)
    account = random_id("acct")
    deposits = [
        CreatePointTransaction(
            account_id=account,
            transaction_id=random_id(name),
            amount=amount,
            kind=PointTransactionKind.DEPOSIT,
        )
        for name, amount in (("tx", 100), ("boom", 7), ("tx", 50), ("tx", 25))
    ]
    envelopes = [command(OpenLedgerAccount(account_id=account, unit=UNIT))]
    envelopes += [command(d) for d in deposits]
    topic = isolated.topic(LEDGER_COMMANDS)
    for envelope in envelopes[:3]:
        await send_envelope(producer, topic, account, envelope)
    await send(producer, topic, account, b"{not json", {})
    for envelope in envelopes[3:]:
        await send_envelope(producer, topic, account, envelope)
    watcher = await watch(
        isolated.topic(LEDGER_COMMAND_RESULTS), isolated.topic(LEDGER_DEAD_LETTERS)
    )

    async with running(buggy, settings=isolated):  # all were waiting: one poll takes them
        answers = [
            (await watcher.wait_for(is_result_of(e)))[0].json()["payload"] for e in envelopes
        ]
        parked = await watcher.wait_for(
            lambda r: r.topic == isolated.topic(LEDGER_DEAD_LETTERS), count=2
        )

    assert [a["status"] for a in answers] == [
        "accepted",
        "accepted",
        "rejected",
        "accepted",
        "accepted",
    ]
    assert answers[2]["code"] == "internal_error"
    assert [a["produced"].get("balance") for a in answers[1:]] == [100, None, 150, 175]
    reasons = sorted(r.headers.get(dead_letters.REASON, "") for r in parked)
    assert reasons == ["handler_failed", "undecodable"], [r.headers for r in parked]


async def test_a_transient_fault_in_a_batch_reads_the_whole_poll_again(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """The database failing under one command undoes the batch, and the consumer rewinds
    every partition of the poll: the second reading applies each command once."""
    failed: list[str] = []

    async def fails_once(
        session: AsyncSession, incoming: Incoming[Any], context: HandlerContext
    ) -> Accepted:
        transaction_id = incoming.payload.transaction_id
        if transaction_id.startswith("flaky") and transaction_id not in failed:
            failed.append(transaction_id)
            raise OperationalError("INSERT ...", {}, ConnectionError("simulated: database gone"))
        return await handlers.create_point_transaction(session, incoming, context)

    routes = {
        **ledger_definition.routes,
        "CreatePointTransaction": CommandRoute(CreatePointTransaction, fails_once, deferrable=True),
    }
    flaky = replace(ledger_definition, routes=routes)
    accounts = [random_id("acct"), random_id("acct")]
    keyed = [(a, command(OpenLedgerAccount(account_id=a, unit=UNIT))) for a in accounts]
    for name, amount in (("tx", 100), ("tx", 20), ("flaky", 3), ("tx", 4)):
        for account in accounts:
            deposit = CreatePointTransaction(
                account_id=account,
                transaction_id=random_id(name),
                amount=amount,
                kind=PointTransactionKind.DEPOSIT,
            )
            keyed.append((account, command(deposit)))
    envelopes = [envelope for _, envelope in keyed]
    topic = isolated.topic(LEDGER_COMMANDS)
    for key, envelope in keyed:
        await send_envelope(producer, topic, key, envelope)
    watcher = await watch(isolated.topic(LEDGER_COMMAND_RESULTS))

    async with running(flaky, settings=isolated):  # all were waiting: one poll takes them
        answers = [(await watcher.wait_for(is_result_of(e)))[0] for e in envelopes]

    assert len(failed) == 2  # each flaky deposit failed once, undoing its batch
    assert [a.json()["payload"]["status"] for a in answers] == ["accepted"] * len(envelopes)
    assert all(len(watcher.matching(is_result_of(e))) == 1 for e in envelopes)
    engine = create_engine(isolated.database_url_for("ledger"))
    try:
        sessions = create_session_factory(engine)
        await assert_invariants(sessions, UNIT, *accounts)
        async with sessions() as session:
            balances = (
                await session.execute(
                    select(ledger_accounts.c.balance).where(ledger_accounts.c.id.in_(accounts))
                )
            ).scalars()
            assert list(balances) == [127, 127]
    finally:
        await engine.dispose()
