"""Every command readable enough to answer gets a result, over real Kafka and PostgreSQL:
an envelope whose own fields are wrong (a time without a zone, a bad actor) is answered
``invalid_envelope`` with the reason, by the message id it carries, and parked; bytes
that name nothing to answer by are parked alone."""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.ledger import OpenLedgerAccount
from contracts.topics import LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS, LEDGER_DEAD_LETTERS
from services.ledger.app import definition as ledger
from shared.runtime.codec import encode
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.kafka_tools import ADMIN, command, send
from tests.random_refs import random_id


async def test_a_wrong_envelope_is_answered_and_parked(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, settings=isolated):
        watcher = await watch(
            isolated.topic(LEDGER_COMMAND_RESULTS), isolated.topic(LEDGER_DEAD_LETTERS)
        )
        account = random_id("acct")
        opening = command(OpenLedgerAccount(account_id=account, unit="points"), actor=ADMIN)
        naive = json.loads(encode(opening))
        naive["occurred_at"] = "2026-12-02T12:00:00"  # no zone
        bad_actor = json.loads(encode(opening))
        bad_actor.update(
            message_id="7d1f5b1e-0000-4000-8000-000000000001",
            actor={"kind": "emperor", "id": "me"},
        )
        nothing = {"type": "OpenLedgerAccount", "payload": {}}  # names nothing to answer by
        for body in (naive, bad_actor, nothing):
            await send(
                producer, isolated.topic(LEDGER_COMMANDS), account, json.dumps(body).encode(), {}
            )

        def answering(message_id: str) -> Any:
            def check(record: Any) -> bool:
                return bool(
                    record.topic.endswith("command-results")
                    and record.json()["causation_id"] == message_id
                )

            return check

        [zone] = await watcher.wait_for(answering(naive["message_id"]))
        [actor] = await watcher.wait_for(answering(bad_actor["message_id"]))
        parked = await watcher.wait_for(
            lambda r: r.topic.endswith("dead-letters") and r.key == account.encode(), count=3
        )
    for result, field in ((zone, "occurred_at"), (actor, "actor")):
        payload = result.json()["payload"]
        assert (payload["status"], payload["code"]) == ("rejected", "invalid_envelope")
        assert field in payload["reason"]
        assert payload["idempotency_key"] == opening.idempotency_key
        assert result.key == account.encode()
    assert {r.headers["dlt-reason"] for r in parked} == {"invalid_envelope"}
    results = [r for r in watcher.records if r.topic.endswith("command-results")]
    assert len(results) == 2  # the one that names nothing is parked alone
