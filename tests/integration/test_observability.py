"""The ledger's HTTP endpoint over real Kafka and PostgreSQL: metrics that count exactly
what it handled, the outbox gauges, readiness and its failing checks, and JSON logs
that carry a command's correlation id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from contracts.customers import CustomerCreated
from contracts.envelope import new_envelope
from contracts.ledger import CommitPointTransaction, GetAccountBalances, OpenLedgerAccount
from contracts.topics import (
    CUSTOMERS_EVENTS,
    LEDGER_COMMANDS,
    LEDGER_DEAD_LETTERS,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
)
from services.ledger.app import definition as ledger_definition
from shared.runtime.broker import kafka_client_options
from shared.runtime.codec import encode
from shared.runtime.logging import log_handler
from shared.runtime.messaging_tables import outbox
from shared.runtime.service import ServiceDefinition, ServiceRuntime, create_app
from shared.runtime.settings import Settings
from shared.tools.bench.ledger_process import free_port
from shared.tools.request_client import RequestClient
from tests.kafka_tools import ADMIN, command, is_result_of, send, send_envelope
from tests.ledger_client import make_ledger
from tests.random_refs import random_id
from tests.store_credit_client import UPSTREAM

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def scrape(runtime: ServiceRuntime) -> Samples:
    assert runtime.http_port is not None
    status, body = await http_get(runtime.http_port, "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, service: str = "ledger", **labels: str) -> float:
    """A sample of ``service``'s, 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset({"service": service, **labels}.items())), 0.0)


def labelled(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def scraped_until(
    runtime: ServiceRuntime, condition: Callable[[Samples], bool], within: float = 30.0
) -> Samples:
    """Scrape until ``condition`` holds (counters move just after Kafka sees the effect)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        samples = await scrape(runtime)
        if condition(samples):
            return samples
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"metrics never met the condition: {samples}")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def service_with_http(
    settings: Settings, definition: ServiceDefinition = ledger_definition
) -> AsyncIterator[ServiceRuntime]:
    runtime = ServiceRuntime(definition, settings.model_copy(update={"http_port": 0}))
    await runtime.start()
    try:
        await runtime.wait_until_assigned()
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
def json_logs(caplog: pytest.LogCaptureFixture) -> Any:
    """The service's log lines as the JSON formatter writes them (STORECREDIT_LOG_FORMAT=json)."""
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handler = log_handler("ledger", "json", stream)
    logging.getLogger().addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


async def test_metrics_count_exactly_what_the_ledger_handled(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any, json_logs: Any
) -> None:
    async with service_with_http(isolated) as runtime:
        client = await make_ledger(producer, isolated, watch)
        dead_letters = await watch(isolated.topic(LEDGER_DEAD_LETTERS))
        account_id = random_id("acct")

        opening = command(OpenLedgerAccount(account_id=account_id, unit="points:loyalty"))
        assert (await client.ask(account_id, opening))["status"] == "accepted"

        # The relay stopped: the rejection's result waits in the outbox.
        await runtime.stop_background()
        unknown = CommitPointTransaction(account_id=account_id, transaction_id=random_id("tx"))
        commit = command(unknown)
        await client.send(account_id, commit)
        waiting = await scraped_until(
            runtime,
            lambda s: (
                value(
                    s,
                    "storecredit_commands_total",
                    type="CommitPointTransaction",
                    outcome="rejected",
                )
                == 1
            ),
        )
        assert value(waiting, "storecredit_outbox_unpublished_rows") == 1
        assert value(waiting, "storecredit_outbox_oldest_unpublished_age_seconds") >= 0

        await runtime.start_background()
        [result] = await client.watcher.wait_for(is_result_of(commit))
        assert result.json()["payload"]["code"] == "transaction_not_found"
        sent = await scraped_until(
            runtime, lambda s: value(s, "storecredit_outbox_unpublished_rows") == 0
        )
        assert value(sent, "storecredit_outbox_oldest_unpublished_age_seconds") == 0

        garbage_key = random_id("garbage")
        await send(producer, isolated.topic(LEDGER_COMMANDS), garbage_key, b"\xff not json", {})
        await dead_letters.wait_for(lambda r: r.key == garbage_key.encode())

        replies = isolated.topic(LEDGER_QUERY_REPLIES)
        async with RequestClient(
            isolated.kafka_bootstrap_servers,
            replies,
            keyring=isolated.keyring(),
            **kafka_client_options(isolated),
        ) as requests:
            balances = new_envelope(GetAccountBalances(account_id=account_id), actor=ADMIN)
            reply = await requests.request(isolated.topic(LEDGER_QUERIES), account_id, balances)
        assert reply.type == "AccountBalances"

        duration = "storecredit_handler_duration_seconds_count"
        samples = await scraped_until(
            runtime,
            lambda s: (
                value(s, duration, consumer="commands") >= 3
                and value(s, duration, consumer="queries") >= 1
            ),
        )
        async with runtime.sessions() as session:
            published = await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.isnot(None))
            )

    ledger = "ledger"
    assert series(samples, "storecredit_commands_total") == {
        labelled(service=ledger, type="OpenLedgerAccount", outcome="accepted"): 1,
        labelled(service=ledger, type="CommitPointTransaction", outcome="rejected"): 1,
    }
    assert series(samples, "storecredit_command_rejections_total") == {
        labelled(service=ledger, type="CommitPointTransaction", code="transaction_not_found"): 1
    }
    assert series(samples, "storecredit_dead_letters_total") == {
        labelled(service=ledger, consumer="commands", reason="undecodable"): 1
    }
    assert series(samples, "storecredit_queries_total") == {
        labelled(service=ledger, type="GetAccountBalances", outcome="answered"): 1
    }
    assert value(samples, duration, consumer="commands") == 3
    assert value(samples, duration, consumer="queries") == 1
    assert value(samples, "storecredit_handler_duration_seconds_sum", consumer="commands") > 0
    assert (
        value(
            samples, "storecredit_handler_duration_seconds_bucket", consumer="commands", le="10.0"
        )
        == 3
    )
    # the account's result and events, the rejection's result: each counted once
    assert published is not None and published >= 2
    assert value(samples, "storecredit_outbox_published_total") == published
    assert value(samples, "storecredit_outbox_publish_failures_total") == 0
    assert value(samples, "storecredit_outbox_unpublished_rows") == 0

    accepted = [
        line
        for line in json_logs()
        if line["message"] == "command accepted"
        and line["correlation_id"] == opening.correlation_id
    ]
    assert len(accepted) == 1
    assert accepted[0]["type"] == "OpenLedgerAccount"
    rejected = [line for line in json_logs() if line["message"] == "command rejected"]
    assert [line["correlation_id"] for line in rejected] == [commit.correlation_id]


async def test_ready_once_the_broker_is_connected_and_consumers_assigned(
    isolated: Settings,
) -> None:
    runtime = ServiceRuntime(ledger_definition, isolated.model_copy(update={"http_port": 0}))
    await runtime.start_http()  # the broker is not started yet
    try:
        assert runtime.http_port is not None
        port = runtime.http_port
        status, body = await http_get(port, "/health/ready")
        report = json.loads(body)
        assert status == 503
        assert report["status"] == "not_ready"
        assert report["failing"] == ["broker", "consumers"]
        assert report["checks"]["database"] == {"ok": True}
        assert "ledger.commands" in report["checks"]["consumers"]["detail"]
        assert (await http_get(port, "/health/live"))[0] == 200

        await runtime.start()
        await runtime.wait_until_assigned()
        status, body = await http_get(port, "/health/ready")
        assert (status, json.loads(body)) == (
            200,
            {
                "status": "ready",
                "failing": [],
                "checks": {
                    "broker": {"ok": True},
                    "consumers": {"ok": True},
                    "database": {"ok": True},
                    "progress": {"ok": True},
                },
            },
        )
        assert (await http_get(port, "/health/live"))[0] == 200
        assert (await http_get(port, "/nothing-here"))[0] == 404
        assert (await http_get(port, "/health"))[0] == 404
    finally:
        await runtime.stop()
    with pytest.raises(OSError):  # stopped with the service
        await http_get(port, "/health/live")


async def test_not_ready_when_the_database_does_not_answer(isolated: Settings) -> None:
    server = make_url(isolated.database_url_for("ledger"))
    missing = server.set(database=random_id("missing").replace("-", "_"))
    settings = isolated.model_copy(
        update={"ledger_database_url": SecretStr(missing.render_as_string(hide_password=False))}
    )
    async with service_with_http(settings) as runtime:
        assert runtime.http_port is not None
        status, body = await http_get(runtime.http_port, "/health/ready")
        report = json.loads(body)
        assert status == 503
        assert report["failing"] == ["database"]
        assert report["checks"]["broker"] == {"ok": True}
        assert report["checks"]["consumers"] == {"ok": True}
        assert report["checks"]["database"]["ok"] is False
        assert report["checks"]["database"]["detail"] == "InvalidCatalogNameError"
        assert report["checks"]["progress"] == {"ok": True}
        assert "postgresql" not in body.decode()

        samples = await scrape(runtime)  # still scraped; the outbox lag is unknown
        assert math.isnan(value(samples, "storecredit_outbox_unpublished_rows"))
        assert (await http_get(runtime.http_port, "/health/live"))[0] == 200


@pytest.mark.parametrize("batch_size", [1, 500])
async def test_event_consumers_count_handled_and_duplicate_events(
    isolated: Settings, producer: AIOKafkaProducer, batch_size: int
) -> None:
    from services.store_credit.app import definition as store_credit_definition

    configured = isolated.model_copy(update={"batch_size": batch_size})
    async with service_with_http(configured, store_credit_definition) as runtime:
        topic = isolated.topic(CUSTOMERS_EVENTS)
        customer_id = random_id("cust")
        created = new_envelope(CustomerCreated(customer_id=customer_id), actor=UPSTREAM)
        not_routed = json.loads(encode(created))
        not_routed["type"] = "CustomerRenamed"  # another consumer's business: skipped
        await send(producer, topic, customer_id, json.dumps(not_routed).encode(), {})
        await send_envelope(producer, topic, customer_id, created)
        await send_envelope(producer, topic, customer_id, created)  # a redelivery

        events = "storecredit_events_total"
        labels = {"service": "store_credit", "consumer": "events.customers"}
        samples = await scraped_until(
            runtime,
            lambda s: value(s, events, type="CustomerCreated", outcome="duplicate", **labels) == 1,
        )

    assert series(samples, events) == {
        labelled(**labels, type="CustomerCreated", outcome=outcome): 1
        for outcome in ("handled", "duplicate")
    }
    duration = "storecredit_handler_duration_seconds_count"
    observed = value(samples, duration, **labels)
    if batch_size == 1:  # one observation per message; the skipped type is no handler's latency
        assert observed == 2
    else:  # one per poll that handled something: the three records came in one poll or more
        assert observed in (1, 2)
    assert series(samples, "storecredit_dead_letters_total") == {}


async def test_the_app_serves_http_from_startup_to_shutdown(isolated: Settings) -> None:
    """``python -m services.<name>`` runs ``create_app``: its hooks start and stop the endpoint."""
    port = free_port()
    app = create_app(ledger_definition, isolated.model_copy(update={"http_port": port}))
    await app.start()
    try:
        assert (await http_get(port, "/health/live"))[0] == 200
        status, body = await http_get(port, "/metrics")
        assert status == 200 and b"storecredit_outbox_unpublished_rows" in body
    finally:
        await app.stop()
    with pytest.raises(OSError):
        await http_get(port, "/health/live")
