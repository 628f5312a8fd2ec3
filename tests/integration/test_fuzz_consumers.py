"""Every consumer of every service, fed bad input over real Kafka and PostgreSQL.

The four services run in this process, on topics and databases of the test's own. Each
consumer (commands, queries, event subscriptions) gets a batch of generated and named
bad messages (fuzz_inputs.py) with valid traffic among them on the same partition
(fuzz_targets.py, in the world of fuzz_world.py), all sent at once. Then:

- every bad command with a readable envelope has exactly one result, rejected with a code;
- every message that cannot be handled is on the dead-letter topic of each service that
  reads it, once, with its dlt-reason; nothing else is dead-lettered;
- every bad query naming a reply topic is answered ``QueryFailed`` (``invalid_query``);
- every valid command has exactly one result, accepted, and its effect is there once:
  the ledger balance is the exact sum of the valid deposits, the cart holds exactly the
  valid lines, each valid CustomerCreated gave one account, the wallet's balance change
  sent after garbage on its partition reached store-credit;
- every consumer group committed past everything sent to it (none is stuck), and the
  services still answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts.ledger import (
    CreatePointTransaction,
    GetAccountBalances,
    GetTransactionHistory,
    PointTransactionKind,
)
from contracts.order import GetOrder
from contracts.store_credit import ListCustomerAccounts
from contracts.topics import (
    ALL_TOPICS,
    CUSTOMERS_EVENTS,
    FULFILLMENT_EVENTS,
    LEDGER_COMMANDS,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
    ORDER_QUERIES,
    ORDER_QUERY_REPLIES,
    STORE_CREDIT_QUERIES,
    STORE_CREDIT_QUERY_REPLIES,
)
from services.fulfillment.app import definition as fulfillment
from services.ledger.app import definition as ledger
from services.order.app import definition as order_service
from services.store_credit.app import definition as store_credit
from shared.runtime.broker import kafka_client_options
from shared.runtime.claims import CLAIM_HEADER
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.integration.fuzz_inputs import CLAIM_ROOM, SIZE_LIMIT, Probe
from tests.integration.fuzz_targets import Plan, Target, plan_for
from tests.integration.fuzz_world import (
    SHOP,
    Wire,
    World,
    body_of,
    check_out,
    fulfillment_of,
    make_world,
)
from tests.kafka_tools import Record, TopicWatcher
from tests.random_refs import random_id
from tests.signing import actor_of

WITHIN_S = 60.0

# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    target: Target
    probe: Probe
    partition: int
    offset: int


def prepare(target: Target, probe: Probe, settings: Settings) -> None:
    """Key it like its consumer's valid traffic, say where a query's answer goes, and grow
    a probe that should be as large as Kafka takes."""
    if probe.key is None and not probe.keyless:
        probe.key = target.key.encode()
    if target.replies is not None and not probe.as_is:
        probe.headers = [
            *probe.headers,
            ("reply_to", settings.topic(target.replies).encode()),
            ("correlation-id", probe.correlation_id.encode()),
        ]
    if probe.sign_other:
        probe.headers = [
            (name, _claim_of(settings, value) if name == CLAIM_HEADER else value)
            for name, value in probe.headers
        ]
    if probe.fill_to_limit and probe.value is not None:
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            probe.key, probe.value, probe.headers
        )
        filler = b"x" * (SIZE_LIMIT - 16 - CLAIM_ROOM - size)
        probe.value = probe.value.replace(b'"filler": ""', b'"filler": "' + filler + b'"', 1)


def _claim_of(settings: Settings, other: bytes | None) -> bytes:
    """A good claim, by a signer that may speak for its actor, of ``other`` bytes."""
    actor = actor_of(other)
    assert other is not None and actor is not None
    return settings.keyring().claim(other, actor).encode()


async def publish(wire: Wire, plan: Plan) -> list[Sent]:
    """Every probe of every target, in order per target, all in flight at once."""
    pending = []
    for target in plan.targets:
        for probe in target.probes:
            prepare(target, probe, wire.settings)
            pending.append((target, probe, await wire.send(target.topic, probe)))
    sent = []
    for target, probe, delivery in pending:
        metadata = await delivery
        sent.append(Sent(target, probe, metadata.partition, metadata.offset))
    return sent


# --- what came back -----------------------------------------------------------------------------

Origin = tuple[str, int, int]


class Answers:
    """Results by the command they answer, dead letters by where they came from, and
    replies by correlation id; read as they arrive."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.results: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.dead_letters: dict[Origin, list[dict[str, str]]] = defaultdict(list)
        self.replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._read = 0

    def read(self, records: list[Record]) -> None:
        for record in records[self._read :]:
            if record.topic.endswith("dead-letters"):
                self.dead_letters[origin_of(record)].append(
                    {"topic": record.topic, **record.headers}
                )
            elif record.topic.endswith("query-replies"):
                body = body_of(record)
                self.replies[str(body.get("correlation_id"))].append(body)
            elif record.topic.endswith("command-results"):
                body = body_of(record)
                if body.get("type") == "CommandResult" and body.get("causation_id"):
                    self.results[str(body["causation_id"])].append(body["payload"])
        self._read = len(records)

    def parked(self, sent: Sent) -> list[dict[str, str]]:
        return self.dead_letters.get(
            (self.settings.topic(sent.target.topic), sent.partition, sent.offset), []
        )

    def missing(self, sent: Sent) -> list[str]:
        """What the probe should have caused and has not (yet)."""
        expect, probe, problems = sent.probe.expect, sent.probe, []
        if expect.result is not None:
            results = self.results.get(str(probe.message_id), [])
            if not [r for r in results if outcome(r) == expect.result]:
                problems.append(
                    f"no result {expect.result} (found {[outcome(r) for r in results]})"
                )
        if expect.dead_letter is not None:
            parked = self.parked(sent)
            for dead_letters, group in sent.target.readers:
                mine = [
                    d
                    for d in parked
                    if d["topic"] == self.settings.topic(dead_letters)
                    and d["dlt-consumer-group"] == self.settings.topic_prefix + group
                ]
                if expect.dead_letter not in [d["dlt-reason"] for d in mine]:
                    found = [d["dlt-reason"] for d in mine]
                    problems.append(f"no dead letter {expect.dead_letter} from {group} ({found})")
        if expect.reply is not None:
            replies = [answer_of(r) for r in self.replies.get(probe.correlation_id, [])]
            if expect.reply not in replies:
                problems.append(f"no reply {expect.reply} (found {replies})")
        return problems

    def extra(self, sent: Sent) -> list[str]:
        """What the probe caused beyond what it should: a second result, a dead letter."""
        expect, problems = sent.probe.expect, []
        if sent.probe.message_id is not None:
            results = [outcome(r) for r in self.results.get(sent.probe.message_id, [])]
            if len(results) != (expect.result is not None):
                problems.append(f"results {results}")
        parked = self.parked(sent)
        if len(parked) != (len(sent.target.readers) if expect.dead_letter else 0):
            problems.append(f"dead letters {[(d['topic'], d['dlt-reason']) for d in parked]}")
        return problems


def origin_of(record: Record) -> Origin:
    headers = record.headers
    return (
        headers.get("dlt-original-topic", "?"),
        int(headers.get("dlt-original-partition", "-1")),
        int(headers.get("dlt-original-offset", "-1")),
    )


def outcome(result: dict[str, Any]) -> str:
    return "accepted" if result.get("status") == "accepted" else str(result.get("code"))


def answer_of(reply: dict[str, Any]) -> str:
    if reply.get("type") == "QueryFailed":
        return str(reply.get("payload", {}).get("code"))
    return str(reply.get("type"))


def report(sent: list[Sent], check: Any) -> list[str]:
    return [f"{s.target.name} / {s.probe.label}: {check(s)}" for s in sent if check(s)]


async def all_answered(watcher: TopicWatcher, answers: Answers, sent: list[Sent]) -> None:
    """Wait until every probe caused what it should; fail naming those that did not."""
    deadline = time.monotonic() + WITHIN_S
    waiting = sent
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        answers.read(watcher.records)
        waiting = [s for s in waiting if answers.missing(s)]
    problems = report(waiting, answers.missing)
    assert not problems, f"{len(problems)} not answered as they should be:\n" + "\n".join(
        problems[:40]
    )


async def all_consumed(settings: Settings, sent: list[Sent]) -> None:
    """Wait until every consumer group has committed past every probe sent to its topic:
    none is stuck on one, retrying it for ever."""
    wanted: dict[str, dict[TopicPartition, int]] = defaultdict(dict)
    for s in sent:
        partition = TopicPartition(settings.topic(s.target.topic), s.partition)
        for _, group in s.target.readers:
            ends = wanted[settings.topic_prefix + group]
            ends[partition] = max(ends.get(partition, 0), s.offset + 1)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **kafka_client_options(settings)
    )
    await admin.start()
    try:
        deadline = time.monotonic() + WITHIN_S
        while True:
            behind = {}
            for group, ends in wanted.items():
                committed = await admin.list_consumer_group_offsets(group)
                late = {
                    f"{tp.topic}/{tp.partition}": (
                        committed[tp].offset if tp in committed else None,
                        end,
                    )
                    for tp, end in ends.items()
                    if tp not in committed or committed[tp].offset < end
                }
                if late:
                    behind[group] = late
            if not behind or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert not behind, f"consumer groups behind what was sent (committed, needed): {behind}"
    finally:
        await admin.close()


# --- the test -----------------------------------------------------------------------------------


@pytest.mark.timeout(240)
async def test_every_consumer_survives_bad_input_and_handles_the_valid_once(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    settings = isolated
    async with running(ledger, store_credit, order_service, fulfillment, settings=settings):
        answer_topics = [
            t
            for t in ALL_TOPICS
            if t.name.endswith(("command-results", "dead-letters", "query-replies"))
        ]
        watcher = await watch(
            *(settings.topic(t) for t in [*answer_topics, FULFILLMENT_EVENTS, CUSTOMERS_EVENTS])
        )
        wire = Wire(settings, producer, watcher)
        world = await make_world(wire)
        plan = plan_for(world, settings)
        sent = await publish(wire, plan)

        # Valid traffic after the garbage on the same partitions: the wallet's balance
        # changes (ledger.balances, read by store-credit), an order is checked out
        # (order.events, read by fulfillment).
        deposit = CreatePointTransaction(
            account_id=world.wallet,
            transaction_id=random_id("tx"),
            amount=4_321,
            kind=PointTransactionKind.DEPOSIT,
        )
        assert (await wire.do(LEDGER_COMMANDS, world.wallet, deposit))["status"] == "accepted"
        await check_out(wire, world.later, 100)

        answers = Answers(settings)
        await all_answered(watcher, answers, sent)
        await all_consumed(settings, sent)
        answers.read(watcher.records)
        extra = report(sent, answers.extra)
        assert not extra, f"{len(extra)} caused more than they should:\n" + "\n".join(extra[:40])
        origins = {(settings.topic(s.target.topic), s.partition, s.offset) for s in sent}
        strays = [
            d for o, parked in answers.dead_letters.items() for d in parked if o not in origins
        ]
        assert not strays, f"dead letters of messages the test did not send: {strays[:5]}"
        published = [
            r
            for r in watcher.records
            if r.topic == settings.topic(CUSTOMERS_EVENTS)
            and (r.topic, r.partition, r.offset) not in origins
        ]
        assert not published, f"a reply_to header made a service publish: {published[:5]}"
        await effects_are_there_once(wire, world, plan)


async def effects_are_there_once(wire: Wire, world: World, plan: Plan) -> None:
    """What the valid traffic did, asked over Kafka: each effect once, nothing else."""
    kind, balances = await wire.ask(
        LEDGER_QUERIES,
        LEDGER_QUERY_REPLIES,
        world.account,
        GetAccountBalances(account_id=world.account),
    )
    assert kind == "AccountBalances", balances
    assert (balances["balance"], balances["holds"]) == (sum(plan.deposits), 0), plan.deposits
    _, history = await wire.ask(
        LEDGER_QUERIES,
        LEDGER_QUERY_REPLIES,
        world.account,
        GetTransactionHistory(account_id=world.account, page_size=500),
    )
    assert sorted(t["amount"] for t in history["transactions"]) == sorted(plan.deposits)

    async def accounts(customer_id: str) -> list[dict[str, Any]]:
        query = ListCustomerAccounts(customer_id=customer_id)
        _, listing = await wire.ask(
            STORE_CREDIT_QUERIES, STORE_CREDIT_QUERY_REPLIES, customer_id, query
        )
        return list(listing["point_accounts"])

    made = {a["account_id"] for a in await accounts(world.accounts_owner)}
    assert made == plan.point_accounts
    for new in plan.new_customers:
        assert [a["template_id"] for a in await accounts(new)] == [world.template], new
    deadline = time.monotonic() + WITHIN_S
    while [a["balance"] for a in await accounts(world.wallet_owner)] != [4_321]:
        assert time.monotonic() < deadline, await accounts(world.wallet_owner)
        await asyncio.sleep(0.2)

    kind, found = await wire.ask(
        ORDER_QUERIES, ORDER_QUERY_REPLIES, world.cart, GetOrder(order_id=world.cart), SHOP
    )
    assert kind == "OrderFound", found
    lines = {line["line_item_id"]: line["amount"] for line in found["order"]["line_items"]}
    assert lines == plan.lines
    assert found["order"]["totals"]["subtotal"] == sum(plan.lines.values())

    await wire.watcher.wait_for(fulfillment_of(world.later))  # checked out after garbage
    await wire.watcher.wait_for(  # each manual item fulfilled by a valid FulfillItem
        lambda r: (
            fulfillment_of(world.shipped)(r)
            and {item["status"] for item in body_of(r)["payload"]["items"]} == {"fulfilled"}
        )
    )


async def test_a_message_of_a_few_megabytes_is_refused_by_kafka_and_never_consumed(
    settings: Settings,
) -> None:
    """Kafka itself refuses a record over its limit (1 MiB by default): no consumer can
    ever be handed one. Those just under the limit are among the fuzz test's probes."""
    large = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        max_request_size=8 * SIZE_LIMIT,
        **kafka_client_options(settings),
    )
    await large.start()
    try:
        with pytest.raises((MessageSizeTooLargeError, RecordListTooLargeError)):
            await large.send_and_wait(
                settings.topic(LEDGER_COMMANDS), b"{" + b" " * 3 * SIZE_LIMIT + b"}"
            )
    finally:
        await large.stop()
