"""Metrics, the HTTP endpoint and readiness, without Kafka or PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from prometheus_client import REGISTRY

from shared.runtime.health import Readiness, json_response, live, ready_route, stuck_check
from shared.runtime.http_server import HttpServer, Response
from shared.runtime.metrics import (
    CommandOutcome,
    EventOutcome,
    QueryOutcome,
    ServiceMetrics,
    metrics_route,
)
from shared.runtime.settings import Settings
from shared.tools.service_processes import HTTP_PORTS, environment_for


def value(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"service": metrics.service, **labels})


def test_each_service_counts_in_its_own_registry_with_its_name() -> None:
    ledger, order = ServiceMetrics("ledger"), ServiceMetrics("order")
    ledger.command("OpenLedgerAccount", CommandOutcome.ACCEPTED)
    ledger.command("CommitPointTransaction", CommandOutcome.REJECTED, "transaction_not_found")
    ledger.command("OpenLedgerAccount", CommandOutcome.REPLAYED)

    total = "storecredit_commands_total"
    assert value(ledger, total, type="OpenLedgerAccount", outcome="accepted") == 1
    assert value(ledger, total, type="OpenLedgerAccount", outcome="replayed") == 1
    assert value(ledger, total, type="CommitPointTransaction", outcome="rejected") == 1
    assert (
        value(
            ledger,
            "storecredit_command_rejections_total",
            type="CommitPointTransaction",
            code="transaction_not_found",
        )
        == 1
    )
    assert value(order, total, type="OpenLedgerAccount", outcome="accepted") is None
    assert REGISTRY.get_sample_value(total, {"service": "ledger"}) is None  # not global


def test_events_queries_dead_letters_and_outbox_counters() -> None:
    metrics = ServiceMetrics("order", process_metrics=False)
    metrics.event("events.ledger", "PointTransactionCommitted", EventOutcome.HANDLED)
    metrics.event("events.ledger", "PointTransactionCommitted", EventOutcome.DUPLICATE)
    metrics.query("GetOrder", QueryOutcome.REFUSED)
    metrics.dead_letter("commands", "undecodable")
    metrics.published(3)
    metrics.published(0)
    metrics.publish_failed()

    events = "storecredit_events_total"
    for outcome in ("handled", "duplicate"):
        labels = {"consumer": "events.ledger", "type": "PointTransactionCommitted"}
        assert value(metrics, events, outcome=outcome, **labels) == 1
    assert value(metrics, "storecredit_queries_total", type="GetOrder", outcome="refused") == 1
    dead = "storecredit_dead_letters_total"
    assert value(metrics, dead, consumer="commands", reason="undecodable") == 1
    assert value(metrics, "storecredit_outbox_published_total") == 3
    assert value(metrics, "storecredit_outbox_publish_failures_total") == 1


def test_outbox_gauges_say_unknown_rather_than_stale() -> None:
    metrics = ServiceMetrics("ledger", process_metrics=False)
    metrics.outbox_lag(4, 12.5)
    assert value(metrics, "storecredit_outbox_unpublished_rows") == 4
    assert value(metrics, "storecredit_outbox_oldest_unpublished_age_seconds") == 12.5
    metrics.outbox_lag_unknown()
    unpublished = value(metrics, "storecredit_outbox_unpublished_rows")
    assert unpublished is not None and math.isnan(unpublished)


def test_latency_is_observed_unless_skipped_or_failed() -> None:
    metrics = ServiceMetrics("ledger", process_metrics=False)
    count = "storecredit_handler_duration_seconds_count"
    with metrics.timed("commands"):
        pass
    with metrics.timed("commands") as timer:
        timer.skip()
    with pytest.raises(ConnectionError), metrics.timed("commands"):
        raise ConnectionError("transient: retried, not a handler's latency")
    assert value(metrics, count, consumer="commands") == 1
    fastest = value(
        metrics, "storecredit_handler_duration_seconds_bucket", consumer="commands", le="0.001"
    )
    assert fastest == 1


def test_a_poll_that_fails_stays_busy_until_one_ends() -> None:
    metrics = ServiceMetrics("ledger", process_metrics=False)
    stuck = "storecredit_consumer_stuck_seconds"
    assert metrics.busy() == {} and value(metrics, stuck) == 0
    with pytest.raises(ConnectionError), metrics.timed("commands"):
        raise ConnectionError("transient: the same records come again")
    [(consumer, seconds)] = metrics.busy().items()
    assert consumer == "commands" and seconds >= 0
    with metrics.timed("commands"):
        assert "commands" in metrics.busy()
    assert metrics.busy() == {}


async def test_progress_fails_only_past_the_limit() -> None:
    busy = {"commands": 61.0, "events": 2.0}
    assert await stuck_check(lambda: busy, 60)() == "on one poll for over 60s: commands"
    assert await stuck_check(lambda: busy, 120)() is None


async def get(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


async def test_http_server_routes_and_refuses_the_rest() -> None:
    async def boom() -> Response:
        raise RuntimeError("bug")

    server = HttpServer({"/health/live": live, "/boom": boom}, host="127.0.0.1", port=0)
    await server.start()
    try:
        port = server.port
        status, headers, body = await get(port, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (status, json.loads(body)) == (200, {"status": "live"})
        assert headers["Content-Type"] == "application/json"
        assert headers["Content-Length"] == str(len(body))

        status, headers, body = await get(port, b"HEAD /health/live?x=1 HTTP/1.1\r\n\r\n")
        assert (status, body) == (200, b"")
        assert int(headers["Content-Length"]) > 0

        assert (await get(port, b"GET /nothing HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await get(port, b"GET / HTTP/1.1\r\n\r\n"))[0] == 404
        status, headers, _ = await get(port, b"POST /health/live HTTP/1.1\r\n\r\n")
        assert (status, headers["Allow"]) == (405, "GET, HEAD")
        assert (await get(port, b"garbage\r\n\r\n"))[0] == 400
        assert (await get(port, b"GET /boom HTTP/1.1\r\n\r\n"))[0] == 500
    finally:
        await server.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_metrics_route_refreshes_then_renders_the_text_format() -> None:
    metrics = ServiceMetrics("ledger", process_metrics=False)
    refreshed: list[bool] = []

    async def refresh() -> None:
        refreshed.append(True)
        metrics.outbox_lag(2, 1.0)

    response = await metrics_route(metrics, refresh)()
    assert refreshed == [True]
    assert response.content_type.startswith("text/plain; version=0.0.4")
    assert b'storecredit_outbox_unpublished_rows{service="ledger"} 2.0' in response.body


async def test_readiness_names_the_failing_checks() -> None:
    async def passes() -> str | None:
        return None

    async def refuses() -> str | None:
        return "no partitions yet: ledger.commands"

    async def raises() -> str | None:
        raise ConnectionRefusedError("secret://user:pw@host")

    async def hangs() -> str | None:
        await asyncio.sleep(60)
        return None

    readiness = Readiness(
        {"broker": passes, "consumers": refuses, "database": raises, "slow": hangs},
        timeout_seconds=0.2,
    )
    response = await ready_route(readiness)()
    body = json.loads(response.body)
    assert response.status == 503
    assert body["status"] == "not_ready"
    assert body["failing"] == ["consumers", "database", "slow"]
    assert body["checks"]["broker"] == {"ok": True}
    assert body["checks"]["consumers"]["detail"] == "no partitions yet: ledger.commands"
    assert body["checks"]["database"] == {"ok": False, "detail": "ConnectionRefusedError"}
    assert "no answer within 0.2s" in body["checks"]["slow"]["detail"]

    ok = await ready_route(Readiness({"broker": passes}))()
    assert (ok.status, json.loads(ok.body)) == (
        200,
        {"status": "ready", "failing": [], "checks": {"broker": {"ok": True}}},
    )


def test_json_response_shape() -> None:
    response = json_response(503, {"status": "not_ready"})
    assert (response.status, response.content_type) == (503, "application/json")


@pytest.mark.parametrize(("raw", "port"), [("", None), ("off", None), ("0", 0), ("9181", 9181)])
def test_http_port_setting(raw: str, port: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORECREDIT_HTTP_PORT", raw)
    assert Settings().http_port == port


def test_http_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORECREDIT_HTTP_PORT", raising=False)
    monkeypatch.delenv("STORECREDIT_HTTP_HOST", raising=False)
    assert (Settings().http_port, Settings().http_host) == (None, "127.0.0.1")
    with pytest.raises(ValueError):
        Settings(http_port=70_000)


def test_runner_gives_each_service_its_own_port() -> None:
    assert HTTP_PORTS == {"ledger": 9181, "store_credit": 9182, "order": 9183, "fulfillment": 9184}
    env = {"STORECREDIT_HTTP_PORT": "7000", "PATH": "/bin"}
    ports = {name: environment_for(name, env)["STORECREDIT_HTTP_PORT"] for name in HTTP_PORTS}
    assert ports == {name: str(port) for name, port in HTTP_PORTS.items()}
    assert environment_for("order", env)["PATH"] == "/bin"
    off = environment_for("ledger", {"STORECREDIT_HTTP_PORT": "off"})
    assert off["STORECREDIT_HTTP_PORT"] == "off"


def test_runner_gives_the_gateway_the_clients_keys_and_no_service_secret() -> None:
    from shared.runtime import claims, sealing

    keyset = claims.new_keyset(("ledger", "store_credit", "order", "fulfillment"))
    private = sealing.new_private_key()
    env = {
        "STORECREDIT_ACTOR_KEYS": claims.keys_json(keyset),
        "STORECREDIT_CODE_SEAL_PRIVATE_KEY": private,
        "STORECREDIT_CODE_HASH_KEY": "h" * 64,
        "STORECREDIT_GATEWAY_JWKS": '{"keys": []}',
        "STORECREDIT_GATEWAY_API_KEYS": "{}",
        "STORECREDIT_GATEWAY_OPERATION_KEY": "o" * 40,
        "DATABASE_URL": "postgresql+asyncpg://postgres:secret@127.0.0.1/postgres",
        "LEDGER_DATABASE_URL": "postgresql+asyncpg://ledger:secret@127.0.0.1/ledger",
    }
    gateway = environment_for("gateway", env)
    assert not [name for name in gateway if name.endswith("DATABASE_URL")]
    assert set(claims.parse_keys(gateway["STORECREDIT_ACTOR_KEYS"])) == {
        "storefront",
        "back-office",
        "shop",
    }
    assert "STORECREDIT_CODE_SEAL_PRIVATE_KEY" not in gateway
    assert "STORECREDIT_CODE_HASH_KEY" not in gateway
    assert gateway["STORECREDIT_CODE_SEAL_PUBLIC_KEY"] == sealing.public_key_for(private)
    assert "STORECREDIT_HTTP_PORT" not in gateway  # it serves on STORECREDIT_GATEWAY_PORT
