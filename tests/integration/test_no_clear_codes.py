"""No clear store-credit code anywhere, over real Kafka and PostgreSQL: a workload creates
credits, applies them by code (right and wrong), looks them up, sends codes in clear
(refused), and makes every service dead-letter messages carrying codes in every shape (a
"Code" field, a code in a description, a "codes" list, a code in a header, bytes that are
not JSON); then every record of every topic (keys, values, headers), every row of every
table of every database and every line the services logged is scanned for every code.

A code the platform made is in clear nowhere at all. A code a client put in clear on a
topic itself is, of course, in the record it wrote, and nowhere else."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from contracts.envelope import Envelope, new_envelope
from contracts.order import ApplyStoreCredit
from contracts.topics import (
    FULFILLMENT_COMMANDS,
    LEDGER_COMMANDS,
    ORDER_COMMANDS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_QUERIES,
    STORE_CREDIT_QUERY_REPLIES,
    TopicSpec,
)
from shared.runtime.broker import kafka_client_options
from shared.runtime.codec import encode
from shared.runtime.db import create_engine
from shared.runtime.logging import log_handler
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.conftest import ISOLATED_SERVICES
from tests.integration.shop import ALL_SERVICES, shop_running
from tests.integration.test_order_secrets_and_queries import (
    every_record,
    rows_showing,
    shows,
    written_forms,
)
from tests.kafka_tools import ADMIN, Record, command, has_type, send
from tests.random_refs import random_id
from tests.sealed import find_by_code, sealed

COMMAND_TOPICS = (LEDGER_COMMANDS, STORE_CREDIT_COMMANDS, ORDER_COMMANDS, FULFILLMENT_COMMANDS)


@contextmanager
def service_logs() -> Iterator[io.StringIO]:
    """What the services in this process write to their logs, as they write it (their
    handler, at DEBUG; aiokafka at WARNING, as the services run it)."""
    stream = io.StringIO()
    root, kafka = logging.getLogger(), logging.getLogger("aiokafka")
    handler = log_handler("all", "json", stream)
    levels = root.level, kafka.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    kafka.setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        kafka.setLevel(levels[1])


def poisoned(code: str, key: str) -> list[tuple[bytes, dict[str, str]]]:
    """Messages no consumer can take, each carrying ``code`` another way."""
    envelope = json.loads(encode(command(find_by_code("000000000000", ADMIN), key=key)))
    shapes: list[dict[str, Any]] = [
        {"Code": code},
        {"description": f"a gift for Ann, code {' '.join(code[i : i + 4] for i in (0, 4, 8, 12))}"},
        {"codes": [code, "4000"]},
        {"nested": {"deeper": [{"value": "-".join(code[i : i + 4] for i in (0, 4, 8, 12))}]}},
    ]
    found: list[tuple[bytes, dict[str, str]]] = []
    for shape in shapes:
        body = {**envelope, "type": "NoSuchCommand", "payload": shape}
        found.append((json.dumps(body).encode(), {"type": "NoSuchCommand"}))
    found.append((json.dumps(envelope).encode()[:-5], {"x-note": f"code {code}"}))  # cut short
    found.append((b"\xff not JSON: " + code.encode(), {}))
    return found


async def test_no_code_is_ever_in_clear(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    with service_logs() as logs:
        async with shop_running(producer, isolated, watch, ALL_SERVICES) as shop:
            made = [(await shop.issue(amount))["code"] for amount in (1_000, 2_000)]
            order_id = await shop.mug_cart()
            wrong = "4000999988887777"
            await shop.apply_credit(order_id, "wrong", 1, code=wrong)
            order = await shop.apply_credit(order_id, "right", 2, code=made[0])
            assert [c["status"] for c in order["applied_credits"]] == ["refused", "held"]
            async with RequestClient(
                isolated.kafka_bootstrap_servers,
                isolated.topic(STORE_CREDIT_QUERY_REPLIES),
                keyring=isolated.keyring(),
                **kafka_client_options(isolated),
            ) as client:
                for code in (made[1], wrong):
                    await client.request(
                        isolated.topic(STORE_CREDIT_QUERIES),
                        shop.owner,
                        new_envelope(find_by_code(code, shop.shopper), actor=shop.shopper),
                    )
                # A code in clear, where a sealed one belongs: refused, kept nowhere.
                clear_question = json.loads(
                    encode(new_envelope(find_by_code(made[1], ADMIN), actor=ADMIN))
                )
                clear_question["payload"] = {"code": "4000111100002222"}
                refused = await client.request(
                    isolated.topic(STORE_CREDIT_QUERIES),
                    shop.owner,
                    Envelope[dict[str, Any]].model_validate(clear_question),  # type: ignore[arg-type]
                )
                assert refused.payload["code"] == "code_not_sealed"
            clear_apply = json.loads(
                encode(
                    command(
                        ApplyStoreCredit(
                            order_id=order_id,
                            application_id="clear",
                            sealed_code=sealed(made[1], shop.shopper),
                        ),
                        actor=shop.shopper,
                    )
                )
            )
            clear_apply["payload"] = {
                "order_id": order_id,
                "application_id": "clear",
                "code": "4000111100003333",
            }
            await send(
                producer,
                isolated.topic(ORDER_COMMANDS),
                order_id,
                json.dumps(clear_apply).encode(),
                {"type": "ApplyStoreCredit"},
            )
            [result] = await shop.orders.watcher.wait_for(
                has_type("CommandResult", idempotency_key=clear_apply["idempotency_key"])
            )
            assert result.json()["payload"]["code"] == "code_not_sealed"

            # Every service dead-letters messages that carry a code, in every shape.
            probe = "4000555544443333"
            sent: list[tuple[TopicSpec, bytes]] = []
            letters = await watch(
                *(isolated.topic(t).replace("commands", "dead-letters") for t in COMMAND_TOPICS)
            )
            for spec in COMMAND_TOPICS:
                key = random_id("poison")
                for value, headers in poisoned(probe, key):
                    await send(producer, isolated.topic(spec), key, value, headers)
                    sent.append((spec, value))
            await letters.wait_for(lambda r: True, count=len(sent))

    records = await every_record(isolated)
    written = logs.getvalue()
    assert written  # the services did log

    for code in [*made, wrong]:  # sealed wherever they went
        assert [topic for topic, record in records if shows(record, code)] == []
        assert await rows_showing(isolated, code) == []
        assert not [form for form in written_forms(code) if form.decode() in written]

    def written_by_the_test(topic: str, record: Record) -> bool:
        return any(record.value == value and topic == spec.name for spec, value in sent)

    # Put in clear by a client: only in the record the client wrote itself.
    for code, only_in in (
        ("4000111100002222", ["store-credit.queries"]),
        ("4000111100003333", ["order.commands"]),
        (probe, []),  # each of its records is one the test wrote (never a dead letter)
    ):
        holders = [
            topic
            for topic, record in records
            if shows(record, code) and not written_by_the_test(topic, record)
        ]
        assert holders == only_in, code
        assert await rows_showing(isolated, code) == []
        assert not [form for form in written_forms(code) if form.decode() in written]
    parked = [r for topic, r in records if topic.endswith("dead-letters")]
    assert {topic for topic, _ in records if topic.endswith("dead-letters")} == {
        spec.name.replace("commands", "dead-letters") for spec in COMMAND_TOPICS
    }
    assert len(parked) >= len(sent)
    # An outbox row that carried a sealed code (order's AuthorizeStoreCredit, store-credit's
    # creation results) is emptied once published.
    assert await sealed_outbox_rows(isolated) == {"order": [0, 0], "store_credit": [0, 0]}


async def sealed_outbox_rows(settings: Settings) -> dict[str, list[int]]:
    """The length of each published outbox row marked secret, by service."""
    found: dict[str, list[int]] = {}
    for service in ISOLATED_SERVICES:
        engine = create_engine(settings.database_url_for(service))
        try:
            async with engine.connect() as connection:
                lengths = await connection.execute(
                    text(
                        "SELECT octet_length(value) FROM outbox "
                        "WHERE secret AND published_at IS NOT NULL ORDER BY id"
                    )
                )
                if rows := list(lengths.scalars()):
                    found[service] = rows
        finally:
            await engine.dispose()
    return found
