"""A consumer never wedges unseen: an unwritable reply is dropped, a reply topic must be
this environment's, and readiness says when a consumer is stuck on one poll."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts.envelope import new_envelope
from contracts.ledger import GetAccountBalances
from contracts.topics import (
    LEDGER_COMMAND_RESULTS,
    LEDGER_DEAD_LETTERS,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
)
from services.ledger.db import ledger_accounts
from shared.runtime.broker import kafka_client_options
from shared.runtime.codec import encode
from shared.runtime.db import create_engine
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.test_observability import http_get, scraped_until, service_with_http, value
from tests.kafka_tools import ADMIN, command, is_result_of, send
from tests.ledger_client import make_ledger
from tests.random_refs import random_id

REFUSED = ("unknown_topic", "not_allowed", "timed_out")
"""How Kafka refuses a reply to a topic that does not exist: with ACLs on it says "not
allowed" (an unknown topic is not told apart from a forbidden one)."""


async def test_an_unwritable_reply_is_dropped_and_later_queries_are_answered(
    isolated: Settings, producer: AIOKafkaProducer
) -> None:
    settings = isolated.model_copy(update={"query_reply_timeout_s": 2.0})
    async with service_with_http(settings) as runtime:
        key = random_id("acct")  # one key: both queries on one partition, in this order
        nowhere = settings.topic_prefix + random_id("nowhere") + ".query-replies"
        lost = new_envelope(GetAccountBalances(account_id=key), actor=ADMIN)
        await send(
            producer, settings.topic(LEDGER_QUERIES), key, encode(lost), {"reply_to": nowhere}
        )
        replies = settings.topic(LEDGER_QUERY_REPLIES)
        async with RequestClient(
            settings.kafka_bootstrap_servers,
            replies,
            keyring=settings.keyring(),
            **kafka_client_options(settings),
        ) as requests:
            asked = new_envelope(GetAccountBalances(account_id=key), actor=ADMIN)
            reply = await requests.request(settings.topic(LEDGER_QUERIES), key, asked, timeout=60)
        assert reply.type == "QueryFailed"  # no such account: an answer all the same
        assert reply.correlation_id == asked.correlation_id

        dropped = "storecredit_query_replies_dropped_total"
        samples = await scraped_until(
            runtime,
            lambda s: sum(value(s, dropped, reason=r) for r in REFUSED) == 1,
        )
        queries = "storecredit_queries_total"
        assert value(samples, queries, type="GetAccountBalances", outcome="refused") == 2


async def test_a_reply_topic_of_another_environment_is_refused(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with service_with_http(isolated):
        dead_letters = await watch(isolated.topic(LEDGER_DEAD_LETTERS))
        key = random_id("acct")
        elsewhere = "another-env." + LEDGER_QUERY_REPLIES.name  # a real suffix, not our prefix
        envelope = new_envelope(GetAccountBalances(account_id=key), actor=ADMIN)
        await send(
            producer, isolated.topic(LEDGER_QUERIES), key, encode(envelope), {"reply_to": elsewhere}
        )
        [parked] = await dead_letters.wait_for(lambda r: r.key == key.encode())
    assert parked.headers["dlt-reason"] == "reply_to_not_allowed"
    assert isolated.topic_prefix in parked.headers["dlt-detail"]


async def _ready(port: int) -> tuple[int, dict[str, Any]]:
    status, body = await http_get(port, "/health/ready")
    return status, json.loads(body)


async def _until(port: int, status: int) -> dict[str, Any]:
    """Poll readiness until it answers ``status``; the last report."""
    async with asyncio.timeout(60):
        while True:
            answered, report = await _ready(port)
            if answered == status:
                return report
            await asyncio.sleep(0.2)


async def test_not_ready_while_a_consumer_is_stuck_on_one_poll(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    settings = isolated.model_copy(update={"consumer_stuck_after_s": 1.0})
    async with service_with_http(settings) as runtime:
        assert runtime.http_port is not None
        ledger = await make_ledger(producer, settings, watch)
        account_id = await ledger.open()
        assert (await _ready(runtime.http_port))[0] == 200

        url = settings.database_url_for("ledger")
        engine = create_engine(url)
        try:
            async with engine.connect() as blocker:
                transaction = await blocker.begin()
                await blocker.execute(
                    select(ledger_accounts.c.id)
                    .where(ledger_accounts.c.id == account_id)
                    .with_for_update()
                )
                deposit = command(ledger.post(account_id, 100))
                results = await watch(settings.topic(LEDGER_COMMAND_RESULTS))
                await ledger.send(account_id, deposit)  # its handler waits on the row lock
                report = await _until(runtime.http_port, 503)
                assert report["failing"] == ["progress"]
                assert "commands" in report["checks"]["progress"]["detail"]
                await transaction.rollback()
            [result] = await results.wait_for(is_result_of(deposit))
            assert result.json()["payload"]["status"] == "accepted"
            report = await _until(runtime.http_port, 200)
            assert report["checks"]["progress"] == {"ok": True}
        finally:
            await engine.dispose()
