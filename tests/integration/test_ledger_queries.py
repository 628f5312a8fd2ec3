"""Ledger queries over Kafka request/reply: balances, paged history, refusals, bad queries.

Data is made through the command path (the session ``ledger`` runtime); the
questions go through ``shared.tools.request_client.RequestClient`` to the ledger's query
consumer, and the answers come back on ``ledger.query-replies``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer, TopicPartition
from faststream.kafka import KafkaBroker

from contracts.envelope import Actor, ActorKind, Message, new_envelope
from contracts.ledger import GetAccountBalances, GetTransactionHistory
from contracts.topics import (
    LEDGER_DEAD_LETTERS,
    LEDGER_EVENTS,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
)
from services.ledger.queries import query_routes
from shared.runtime.broker import create_broker, kafka_client_options
from shared.runtime.codec import encode, headers_for
from shared.runtime.db import create_engine, create_session_factory
from shared.runtime.queries import query_group, register_query_consumer
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.kafka_tools import ADMIN, Record, send
from tests.ledger_client import Ledger, make_ledger
from tests.random_refs import random_id

READY_TIMEOUT = 60.0


async def _wait_until_assigned(broker: KafkaBroker, settings: Settings) -> None:
    """Wait until the query consumer owns every partition and knows where it reads.

    Its group starts at "latest": a query sent before the consumer has a
    position would be skipped, and the test would wait in vain.
    """
    group = query_group(settings, "ledger")
    [subscriber] = [s for s in broker.subscribers if getattr(s, "group_id", None) == group]
    consumer: Any = getattr(subscriber, "consumer", None)
    assert consumer is not None, "the query subscriber did not start"
    topic = settings.topic(LEDGER_QUERIES)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        wanted = {TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()}
        if wanted and wanted <= consumer.assignment():
            break
        assert time.monotonic() < deadline, f"query consumer never got all of {topic}"
        await asyncio.sleep(0.1)
    for partition in sorted(wanted):
        await consumer.position(partition)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def query_consumer(ledger: ServiceRuntime, settings: Settings) -> AsyncIterator[None]:
    """The ledger's query consumer, running on a broker of its own.

    Built alone, not as a second ledger ServiceRuntime, whose command consumer
    would join the session ledger's group and rebalance it. Once app.py wires
    the queries, the session ledger answers them itself and this only waits.
    """
    if ledger.definition.queries is not None:
        await _wait_until_assigned(ledger.broker, settings)
        yield
        return
    engine = create_engine(settings.database_url_for("ledger"))
    broker = create_broker(settings, client_id="storecredit-ledger-queries-test")
    register_query_consumer(
        broker,
        settings,
        service="ledger",
        sessions=create_session_factory(engine),
        queries=LEDGER_QUERIES,
        dead_letters=LEDGER_DEAD_LETTERS,
        routes=query_routes,
    )
    await broker.start()
    try:
        await _wait_until_assigned(broker, settings)
        yield
    finally:
        await broker.stop()
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def requests(settings: Settings, query_consumer: None) -> AsyncIterator[RequestClient]:
    client = RequestClient(
        settings.kafka_bootstrap_servers,
        settings.topic(LEDGER_QUERY_REPLIES),
        client_id="storecredit-query-tests",
        keyring=settings.keyring(),
        **kafka_client_options(settings),
    )
    await client.start()
    yield client
    await client.stop()


async def ask(
    requests: RequestClient,
    settings: Settings,
    account_id: str,
    query: Message,
    actor: Actor = ADMIN,
) -> tuple[str, dict[str, Any]]:
    """Ask one question; check the reply's envelope; return its type and payload."""
    envelope = new_envelope(query, actor=actor)
    reply = await requests.request(settings.topic(LEDGER_QUERIES), account_id, envelope)
    assert reply.correlation_id == envelope.correlation_id
    assert reply.causation_id == str(envelope.message_id)
    assert reply.actor == Actor(kind=ActorKind.SERVICE, id="ledger")
    assert reply.idempotency_key == str(reply.message_id)
    assert reply.message_id != envelope.message_id
    return reply.type, reply.payload


async def history_pages(
    requests: RequestClient, settings: Settings, account_id: str, page_size: int
) -> list[dict[str, Any]]:
    """Every page of an account's history, following next_cursor to the end."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = GetTransactionHistory(account_id=account_id, page_size=page_size, cursor=cursor)
        kind, page = await ask(requests, settings, account_id, query)
        assert kind == "TransactionHistory", page
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "paging does not end"


async def deposit(client: Ledger, account_id: str, amount: int, **extra: Any) -> str:
    posting = client.post(account_id, amount, "deposit" if amount > 0 else "spend", **extra)
    result = await client.do(account_id, posting)
    assert result["status"] == "accepted", result
    return posting.transaction_id


async def test_balances_of_a_fresh_account_and_after_deposits_and_spends(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    customer_id = random_id("cust")
    account_id = await client.open(customer_id=customer_id)

    balances = GetAccountBalances(account_id=account_id)
    kind, fresh = await ask(requests, settings, account_id, balances)

    assert kind == "AccountBalances"
    assert fresh == {
        "account_id": account_id,
        "unit": "points:loyalty",
        "customer_id": customer_id,
        "status": "open",
        "balance": 0,
        "holds": 0,
        "available": 0,
        "version": 0,
    }
    await deposit(client, account_id, 100)
    await deposit(client, account_id, 250)
    await deposit(client, account_id, -30)
    _, after = await ask(requests, settings, account_id, balances)
    assert (after["balance"], after["holds"], after["available"]) == (320, 0, 320)
    assert after["version"] == 3


async def test_concurrent_questions_each_get_their_own_answer(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    accounts = [await client.open() for _ in range(3)]
    for amount, account_id in enumerate(accounts, start=1):
        await deposit(client, account_id, amount * 10)

    answers = await asyncio.gather(
        *(
            ask(requests, settings, a, GetAccountBalances(account_id=a))
            for a in [*accounts, *accounts]
        )
    )

    assert [(p["account_id"], p["balance"]) for _, p in answers] == [
        (a, n * 10) for n, a in [*enumerate(accounts, start=1), *enumerate(accounts, start=1)]
    ]


async def test_an_unknown_account_is_account_not_found(
    requests: RequestClient, settings: Settings
) -> None:
    missing = random_id("acct")
    for query in (
        GetAccountBalances(account_id=missing),
        GetTransactionHistory(account_id=missing),
    ):
        kind, payload = await ask(requests, settings, missing, query)
        assert kind == "QueryFailed"
        assert payload["code"] == "account_not_found"
        assert missing in payload["reason"]


async def test_a_customer_reads_only_their_own_accounts(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    owner = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
    stranger = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
    account_id = await client.open(customer_id=owner.id)
    nobodys = await client.open()  # no customer: only operators may read it
    await deposit(client, account_id, 40)

    balances = GetAccountBalances(account_id=account_id)
    history = GetTransactionHistory(account_id=account_id)
    kind, own = await ask(requests, settings, account_id, balances, owner)
    assert (kind, own["balance"]) == ("AccountBalances", 40)
    kind, own_history = await ask(requests, settings, account_id, history, owner)
    assert (kind, len(own_history["transactions"])) == ("TransactionHistory", 1)
    for query, actor in [
        (balances, stranger),
        (history, stranger),
        (GetAccountBalances(account_id=nobodys), owner),
    ]:
        kind, refused = await ask(requests, settings, account_id, query, actor)
        # Not theirs: the same answer, word for word, as for an account that is not there.
        assert (kind, refused["code"]) == ("QueryFailed", "account_not_found"), refused
        assert refused["reason"] == f"There is no ledger account {query.account_id}."
    service = Actor(kind=ActorKind.SERVICE, id="store_credit")
    kind, _ = await ask(requests, settings, account_id, balances, service)
    assert kind == "AccountBalances"


async def test_history_pages_are_newest_first_without_duplicates_or_gaps(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    created = [
        await deposit(
            client, account_id, n, description=f"deposit {n}", references={"order_id": f"o-{n}"}
        )
        for n in range(1, 8)
    ]

    pages = await history_pages(requests, settings, account_id, page_size=3)

    assert [len(p["transactions"]) for p in pages] == [3, 3, 1]
    assert [p["next_cursor"] is None for p in pages] == [False, False, True]
    assert {p["account_id"] for p in pages} == {account_id}
    listed = [t for p in pages for t in p["transactions"]]
    assert [t["transaction_id"] for t in listed] == created[::-1]
    newest = listed[0]
    assert newest["amount"] == newest["committed_amount"] == 7
    assert (newest["kind"], newest["status"]) == ("deposit", "committed")
    assert newest["description"] == "deposit 7"
    assert newest["references"] == {"order_id": "o-7"}
    assert newest["reversed_amount"] == 0
    assert newest["reverses"] is None
    assert newest["committed_at"] is not None and newest["created_at"] is not None
    assert newest["voided_at"] is None and newest["expires_at"] is None
    [whole] = await history_pages(requests, settings, account_id, page_size=7)
    assert [t["transaction_id"] for t in whole["transactions"]] == created[::-1]
    assert whole["next_cursor"] is None  # exactly page_size rows: no empty page after


async def test_an_account_without_transactions_has_an_empty_history(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    [page] = await history_pages(requests, settings, account_id, page_size=5)
    assert page == {"account_id": account_id, "transactions": [], "next_cursor": None}


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        base64.urlsafe_b64encode(b"v2:5").decode(),
        base64.urlsafe_b64encode(b"v1:abc").decode(),
        base64.urlsafe_b64encode(b"v1:0").decode(),
        base64.urlsafe_b64encode(b"v1:99999999999999999999").decode(),
    ],
)
async def test_an_invalid_cursor_is_refused(
    cursor: str,
    requests: RequestClient,
    producer: AIOKafkaProducer,
    settings: Settings,
    watch: Any,
) -> None:
    client = await make_ledger(producer, settings, watch)
    account_id = await client.open()
    query = GetTransactionHistory(account_id=account_id, cursor=cursor)
    kind, payload = await ask(requests, settings, account_id, query)
    assert (kind, payload["code"]) == ("QueryFailed", "invalid_cursor")


def _reply_to(cid: str) -> Any:
    return lambda r: r.topic.endswith("query-replies") and r.headers.get("correlation-id") == cid


def _parked(key: str) -> Any:
    return lambda r: r.topic.endswith("dead-letters") and r.key == key.encode()


async def test_garbage_and_invalid_queries_are_dead_lettered_and_answered(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    replies = settings.topic(LEDGER_QUERY_REPLIES)
    watcher = await watch(replies, settings.topic(LEDGER_DEAD_LETTERS))
    queries = settings.topic(LEDGER_QUERIES)
    garbage_key, garbage_cid = random_id("acct"), random_id("cid")
    garbage = b"\xff\xfe not json \x00"
    await send(
        producer,
        queries,
        garbage_key,
        garbage,
        {"reply_to": replies, "correlation-id": garbage_cid},
    )
    invalid_key = random_id("acct")
    valid = new_envelope(GetTransactionHistory(account_id=invalid_key), actor=ADMIN)
    body = json.loads(encode(valid))
    body["payload"]["page_size"] = 0
    headers = headers_for(valid) | {"reply_to": replies}
    await send(producer, queries, invalid_key, json.dumps(body).encode(), headers)

    [garbage_reply] = await watcher.wait_for(_reply_to(garbage_cid))
    [invalid_reply] = await watcher.wait_for(_reply_to(valid.correlation_id))

    assert garbage_reply.key == garbage_cid.encode()
    assert _failure(garbage_reply)["code"] == "invalid_query"
    assert _failure(invalid_reply)["code"] == "invalid_query"
    assert "page_size" in _failure(invalid_reply)["reason"]
    assert invalid_reply.json()["causation_id"] == str(valid.message_id)
    [parked_garbage] = await watcher.wait_for(_parked(garbage_key))
    [parked_invalid] = await watcher.wait_for(_parked(invalid_key))
    assert parked_garbage.value == garbage
    assert parked_garbage.headers["dlt-reason"] == "undecodable"
    assert parked_garbage.headers["dlt-original-topic"] == queries
    assert parked_garbage.headers["dlt-consumer-group"] == query_group(settings, "ledger")
    assert parked_invalid.headers["dlt-reason"] == "invalid_payload"


async def test_a_query_without_reply_to_is_dead_lettered(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    watcher = await watch(settings.topic(LEDGER_DEAD_LETTERS))
    key = random_id("acct")
    envelope = new_envelope(GetAccountBalances(account_id=key), actor=ADMIN)
    await send(producer, settings.topic(LEDGER_QUERIES), key, encode(envelope), {})

    [parked] = await watcher.wait_for(_parked(key))

    assert parked.headers["dlt-reason"] == "no_reply_to"
    assert parked.value == encode(envelope)
    # The consumer goes on: the next question is answered.
    kind, _ = await ask(requests, settings, key, GetAccountBalances(account_id=key))
    assert kind == "QueryFailed"


def _failure(record: Record) -> dict[str, Any]:
    body = record.json()
    assert body["type"] == "QueryFailed", body
    assert record.headers["type"] == "QueryFailed"
    payload: dict[str, Any] = body["payload"]
    return payload


async def test_replies_go_only_to_query_reply_topics(
    requests: RequestClient, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    events = settings.topic(LEDGER_EVENTS)
    watcher = await watch(settings.topic(LEDGER_DEAD_LETTERS), events)
    key = random_id("acct")
    envelope = new_envelope(GetAccountBalances(account_id=key), actor=ADMIN)
    await send(
        producer, settings.topic(LEDGER_QUERIES), key, encode(envelope), {"reply_to": events}
    )

    [parked] = await watcher.wait_for(_parked(key))
    assert parked.headers["dlt-reason"] == "reply_to_not_allowed"
    kind, _ = await ask(requests, settings, key, GetAccountBalances(account_id=key))
    assert kind == "QueryFailed"  # answered normally afterwards...
    assert not [r for r in watcher.records if r.topic == events and r.key == key.encode()]
