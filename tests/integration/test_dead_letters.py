"""Undecodable or invalid messages are parked with their reason; the consumer goes on."""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts import dead_letters as dead_letter_headers
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from contracts.topics import LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS, LEDGER_DEAD_LETTERS
from shared.runtime.codec import encode
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.kafka_tools import Record, command, is_result_of, send, send_envelope
from tests.random_refs import random_id


def dead_letter_for(key: str) -> Any:
    return lambda record: record.key == key.encode()


async def test_garbage_bytes_are_dead_lettered_and_the_next_command_is_handled(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    watcher = await watch(
        settings.topic(LEDGER_DEAD_LETTERS), settings.topic(LEDGER_COMMAND_RESULTS)
    )
    key = random_id("acct")
    garbage = b"\xff\xfe not json \x00\x01"
    await send(producer, settings.topic(LEDGER_COMMANDS), key, garbage, {"type": "Nonsense"})
    opening = command(OpenLedgerAccount(account_id=key, unit="points:loyalty"))
    await send_envelope(producer, settings.topic(LEDGER_COMMANDS), key, opening)

    [parked] = await watcher.wait_for(
        lambda r: r.topic.endswith("dead-letters") and r.key == key.encode()
    )
    assert parked.value == garbage  # the original bytes, untouched
    assert parked.headers["dlt-reason"] == "undecodable"
    assert parked.headers["dlt-original-topic"] == settings.topic(LEDGER_COMMANDS)
    assert parked.headers["type"] == "Nonsense"  # original headers kept
    assert int(parked.headers["dlt-original-offset"]) >= 0
    always = set(dead_letter_headers.HEADERS) - {dead_letter_headers.REDACTED}
    assert always <= set(parked.headers)  # as documented
    assert dead_letter_headers.REDACTED not in parked.headers  # the ledger redacts nothing
    [result] = await watcher.wait_for(is_result_of(opening))
    assert result.json()["payload"]["status"] == "accepted"


async def test_schema_invalid_json_is_dead_lettered_and_answered_with_a_rejection(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    watcher = await watch(
        settings.topic(LEDGER_DEAD_LETTERS), settings.topic(LEDGER_COMMAND_RESULTS)
    )
    key = random_id("acct")
    valid = command(
        CreatePointTransaction(
            account_id=key,
            transaction_id=random_id("tx"),
            amount=5,
            kind=PointTransactionKind.DEPOSIT,
        )
    )
    body = json.loads(encode(valid))
    body["payload"]["amount"] = "a lot"
    invalid_payload = json.dumps(body).encode()
    not_an_envelope = json.dumps({"hello": "world"}).encode()
    topic = settings.topic(LEDGER_COMMANDS)
    await send(producer, topic, key, invalid_payload, {"type": "CreatePointTransaction"})
    await send(producer, topic, key, not_an_envelope, {})

    parked = await watcher.wait_for(
        lambda r: r.topic.endswith("dead-letters") and r.key == key.encode(), count=2
    )
    by_reason = {r.headers["dlt-reason"]: r for r in parked}
    assert set(by_reason) == {"invalid_payload", "invalid_envelope"}
    assert by_reason["invalid_payload"].value == invalid_payload
    assert "amount" in by_reason["invalid_payload"].headers["dlt-detail"]
    assert by_reason["invalid_envelope"].value == not_an_envelope

    [result] = await watcher.wait_for(is_result_of(valid))
    answer = result.json()["payload"]
    assert (answer["status"], answer["code"]) == ("rejected", "invalid_command")
    assert "amount" in answer["reason"]


async def test_an_unknown_message_type_is_dead_lettered(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    watcher = await watch(settings.topic(LEDGER_DEAD_LETTERS))
    key = random_id("acct")
    body = json.loads(encode(command(OpenLedgerAccount(account_id=key, unit="USD"))))
    body["type"] = "TransferEverything"
    await send(producer, settings.topic(LEDGER_COMMANDS), key, json.dumps(body).encode(), {})
    [parked] = await watcher.wait_for(lambda r: r.key == key.encode())
    assert parked.headers["dlt-reason"] == "unknown_type"
    assert isinstance(parked, Record)
