"""Every service starts on the real servers and answers a command it does not
know with a rejection, parking the message on its dead-letter topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.ledger import OpenLedgerAccount
from shared.runtime.codec import encode
from shared.runtime.main import definition_for
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.kafka_tools import command, is_result_of, send
from tests.random_refs import random_id


@pytest.mark.parametrize("service", ["store_credit", "order", "fulfillment"])
async def test_service_starts_and_answers_an_unknown_command(
    service: str, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> None:
    definition = definition_for(service)
    runtime = ServiceRuntime(definition, settings)
    await runtime.start()
    try:
        watcher = await watch(
            settings.topic(definition.results), settings.topic(definition.dead_letters)
        )
        key = random_id("key")
        envelope = command(OpenLedgerAccount(account_id=key, unit="USD"))
        body = json.loads(encode(envelope))
        body["type"] = "DoSomethingNew"
        await send(
            producer, settings.topic(definition.commands), key, json.dumps(body).encode(), {}
        )

        [result] = await watcher.wait_for(is_result_of(envelope))
        answer = result.json()["payload"]
        assert (answer["status"], answer["code"]) == ("rejected", "invalid_command")
        assert "DoSomethingNew" in answer["reason"]
        [parked] = await watcher.wait_for(
            lambda r: r.topic == settings.topic(definition.dead_letters) and r.key == key.encode()
        )
        assert parked.headers["dlt-reason"] == "unknown_type"
    finally:
        await runtime.stop()
