"""Query plumbing without servers: cursors, headers, and the responder's replies."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError, UnknownTopicOrPartitionError

from contracts.envelope import Actor, ActorKind, Message, new_envelope
from contracts.ledger import AccountBalances, GetAccountBalances
from services.ledger.queries import decode_cursor, encode_cursor
from shared.runtime import claims
from shared.runtime.codec import Incoming, encode, headers_for
from shared.runtime.commands import HandlerContext
from shared.runtime.queries import (
    QueryFailure,
    QueryResponder,
    QueryRoute,
    reply_topic_allowed,
)
from shared.runtime.settings import Settings
from shared.tools.request_client import correlation_id_of

ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-1")
KEYSET = claims.new_keyset(["ledger"])
KEYRING = claims.Keyring(
    claims.parse_keys(claims.keys_json(KEYSET)), claims.parse_signers(claims.signers_json(KEYSET))
)


@pytest.mark.parametrize("seq", [1, 42, 2**63 - 1])
def test_a_cursor_survives_the_round_trip_and_is_opaque(seq: int) -> None:
    cursor = encode_cursor(seq)
    assert decode_cursor(cursor) == seq
    assert str(seq) not in cursor
    assert len(cursor) <= 100  # GetTransactionHistory.cursor's limit


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor!",
        "djE6NQ==x",
        base64.urlsafe_b64encode(b"v2:5").decode(),
        base64.urlsafe_b64encode(b"v1:-5").decode(),
        base64.urlsafe_b64encode(b"v1:05").decode(),
        base64.urlsafe_b64encode(b"v1:9223372036854775808").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(QueryFailure) as caught:
        decode_cursor(cursor)
    assert caught.value.code == "invalid_cursor"


def test_replies_are_matched_by_our_header_then_faststreams() -> None:
    assert correlation_id_of([("correlation-id", b"a"), ("correlation_id", b"b")]) == "a"
    assert correlation_id_of([("correlation_id", b"b")]) == "b"
    assert correlation_id_of([("correlation-id", b"")]) is None
    assert correlation_id_of(None) is None


@dataclass
class FakeRecord:
    value: bytes
    headers: list[tuple[str, bytes]]
    key: bytes | None = b"acct-1"
    topic: str = "ledger.queries"
    partition: int = 0
    offset: int = 7


@dataclass
class FakeBroker:
    published: list[dict[str, Any]] = field(default_factory=list)
    refuse: dict[str, list[BaseException]] = field(default_factory=dict)
    """Per topic, the errors its next publishes raise, in turn."""

    async def publish(self, message: bytes, topic: str, **options: Any) -> None:
        if self.refuse.get(topic):
            raise self.refuse[topic].pop(0)
        self.published.append({"value": message, "topic": topic, **options})


class FakeSession:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        yield

    async def execute(self, statement: Any) -> None:
        self.statements.append(str(statement))


def responder(handle: Any, prefix: str = "") -> tuple[QueryResponder, FakeBroker, FakeSession]:
    broker, session = FakeBroker(), FakeSession()

    @asynccontextmanager
    async def sessions() -> AsyncIterator[FakeSession]:
        yield session

    routes = {"GetAccountBalances": QueryRoute(GetAccountBalances, handle)}
    made = QueryResponder(
        broker,  # type: ignore[arg-type]
        service="ledger",
        sessions=sessions,  # type: ignore[arg-type]
        routes=routes,
        dead_letter_topic="ledger.dead-letters",
        group="storecredit-ledger-queries",
        context=HandlerContext("ledger", Settings()),
        prefix=prefix,
        reply_timeout_s=0.05,
        verifier=claims.Verifier(claims.parse_signers(claims.signers_json(KEYSET)), 3600),
    )
    return made, broker, session


def query_record(
    reply_to: str | None = "app.query-replies", signed: bool = True
) -> tuple[FakeRecord, Any]:
    envelope = new_envelope(GetAccountBalances(account_id="acct-1"), actor=ADMIN)
    value = encode(envelope)
    headers = [(k, v.encode()) for k, v in headers_for(envelope).items()]
    if signed:
        headers += [(k, v.encode()) for k, v in KEYRING.headers(value, ADMIN).items()]
    if reply_to is not None:
        headers.append(("reply_to", reply_to.encode()))
    return FakeRecord(value, headers), envelope


async def balances(session: Any, incoming: Incoming[GetAccountBalances], _: Any) -> Message:
    return AccountBalances(
        account_id=incoming.payload.account_id,
        unit="USD",
        customer_id=None,
        status="open",
        balance=5,
        holds=0,
        available=5,
        version=1,
    )


async def test_an_answer_goes_to_reply_to_in_an_envelope_of_the_service() -> None:
    made, broker, session = responder(balances)
    record, query = query_record()

    await made.respond(record)

    [reply] = broker.published
    body = json.loads(reply["value"])
    assert reply["topic"] == "app.query-replies"
    assert reply["key"] == query.correlation_id.encode()
    assert reply["headers"]["correlation-id"] == query.correlation_id
    assert body["type"] == "AccountBalances" and body["payload"]["balance"] == 5
    assert body["causation_id"] == str(query.message_id)
    assert body["actor"] == {"kind": "service", "id": "ledger"}
    assert session.statements == ["SET TRANSACTION READ ONLY"]


async def test_a_refusal_becomes_query_failed() -> None:
    async def refuse(session: Any, incoming: Any, _: Any) -> Message:
        raise QueryFailure("forbidden", "not yours")

    made, broker, _ = responder(refuse)
    await made.respond(query_record()[0])

    [reply] = broker.published
    assert json.loads(reply["value"])["payload"] == {"code": "forbidden", "reason": "not yours"}


async def test_a_bug_is_parked_and_answered_with_internal_error() -> None:
    async def crash(session: Any, incoming: Any, _: Any) -> Message:
        raise ZeroDivisionError

    made, broker, _ = responder(crash)
    await made.respond(query_record()[0])

    parked, reply = broker.published
    assert parked["topic"] == "ledger.dead-letters"
    assert parked["headers"]["dlt-reason"] == "handler_failed"
    assert json.loads(reply["value"])["payload"]["code"] == "internal_error"


async def test_a_query_without_reply_to_is_only_parked() -> None:
    made, broker, _ = responder(balances)
    await made.respond(query_record(reply_to=None)[0])

    [parked] = broker.published
    assert parked["headers"]["dlt-reason"] == "no_reply_to"


async def test_garbage_is_parked_and_answered_by_its_correlation_header() -> None:
    made, broker, _ = responder(balances)
    headers = [("reply_to", b"app.query-replies"), ("correlation_id", b"cid-1")]
    await made.respond(FakeRecord(b"\xff garbage", headers))

    parked, reply = broker.published
    assert parked["headers"]["dlt-reason"] == "undecodable"
    assert reply["key"] == b"cid-1"
    assert json.loads(reply["value"])["payload"]["code"] == "invalid_query"


async def test_a_reply_to_outside_the_reply_topics_is_refused() -> None:
    made, broker, _ = responder(balances)
    await made.respond(query_record(reply_to="ledger.events")[0])

    [parked] = broker.published
    assert parked["topic"] == "ledger.dead-letters"
    assert parked["headers"]["dlt-reason"] == "reply_to_not_allowed"


@pytest.mark.parametrize(
    ("topic", "prefix", "allowed"),
    [
        ("app.query-replies", "", True),
        ("staging.app.query-replies", "staging.", True),
        ("prod.app.query-replies", "staging.", False),
        ("app.query-replies", "staging.", False),
        ("ledger.events", "", False),
        ("app query-replies", "", False),
        ("app/../query-replies", "", False),
        ("a" * 250 + "query-replies", "", False),
        ("", "", False),
    ],
)
def test_replies_go_only_to_legal_reply_topics_of_this_environment(
    topic: str, prefix: str, allowed: bool
) -> None:
    assert reply_topic_allowed(topic, prefix) is allowed


async def test_a_reply_to_of_another_environment_is_refused() -> None:
    made, broker, _ = responder(balances, prefix="staging.")
    await made.respond(query_record(reply_to="prod.app.query-replies")[0])

    [parked] = broker.published
    assert parked["headers"]["dlt-reason"] == "reply_to_not_allowed"


async def test_a_reply_kafka_will_not_take_is_dropped_and_counted_not_retried() -> None:
    made, broker, _ = responder(balances)
    broker.refuse["app.query-replies"] = [UnknownTopicOrPartitionError()]

    await made.respond(query_record()[0])  # returns: nothing to retry

    assert broker.published == []
    dropped = made.metrics.registry.get_sample_value(
        "storecredit_query_replies_dropped_total", {"service": "ledger", "reason": "unknown_topic"}
    )
    assert dropped == 1


async def test_a_reply_that_never_confirms_is_dropped_after_the_timeout() -> None:
    made, broker, _ = responder(balances)

    async def hangs(message: bytes, topic: str, **options: Any) -> None:
        await asyncio.sleep(3600)

    broker.publish = hangs  # type: ignore[method-assign]
    await asyncio.wait_for(made.respond(query_record()[0]), 5)

    dropped = made.metrics.registry.get_sample_value(
        "storecredit_query_replies_dropped_total", {"service": "ledger", "reason": "timed_out"}
    )
    assert dropped == 1


async def test_a_reply_too_large_is_replaced_by_query_failed() -> None:
    made, broker, _ = responder(balances)
    broker.refuse["app.query-replies"] = [MessageSizeTooLargeError()]

    await made.respond(query_record()[0])

    [reply] = broker.published
    assert json.loads(reply["value"])["payload"]["code"] == "reply_too_large"


async def test_a_query_whose_actor_is_not_vouched_for_is_refused_unanswered() -> None:
    asked = []

    async def spy(session: Any, incoming: Any, _: Any) -> Message:
        asked.append(incoming)
        return await balances(session, incoming, _)

    made, broker, _ = responder(spy)
    await made.respond(query_record(signed=False)[0])

    [reply] = broker.published
    assert json.loads(reply["value"])["payload"]["code"] == "unauthenticated"
    assert asked == []
