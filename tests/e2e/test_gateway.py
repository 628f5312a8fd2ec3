"""The HTTP gateway over real HTTP, in front of the four services on real Kafka and
PostgreSQL: the seed stories, who may do what, idempotent replays, a slow result
answered 202 and then found, live balances, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import dead_letters as dlt
from contracts.store_credit import CreatePointAccountTemplate
from contracts.topics import (
    LEDGER_COMMANDS,
    LEDGER_DEAD_LETTERS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_DEAD_LETTERS,
    STORE_CREDIT_EVENTS,
)
from services.gateway.routes import ROUTES
from tests.e2e.conftest import System
from tests.gateway_client import Gateway, IdentityProvider, gateway_process, until
from tests.parking import park, signed_message
from tests.random_refs import random_id


@pytest.fixture(scope="module")
def gateway(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_process(system.settings, tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    return body


async def test_the_openapi_document_is_3_1_and_matches_the_routes(
    http: httpx.AsyncClient,
) -> None:
    document = ok(await http.get("/openapi.json"))
    assert document["openapi"].startswith("3.1")
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.operation_id
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node: Any = document
        for step in ref.removeprefix("#/").split("/"):
            node = node[step]
    assert (await http.get("/docs")).status_code == 200


async def test_the_store_credit_seed_story_over_http(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    customer, order_id, credit_id = random_id("cust"), random_id("ord"), random_id("sc")
    me = gateway.identity.bearer(customer)
    created = ok(
        await http.post(
            "/v1/store-credits",
            headers={**gateway.admin.header, "Idempotency-Key": f"create-{credit_id}"},
            json={
                "store_credit_id": credit_id,
                "name": "Credit over HTTP",
                "amount": 5_495,
                "currency": "USD",
                "customer_id": customer,
                "reason": "goodwill",
            },
        )
    )
    code = created["produced"]["code"]
    assert len(code) == 16 and code.isdigit(), "the new code, once, to the admin who made it"
    listed = ok(await http.get(f"/v1/customers/{customer}/store-credits", headers=me))
    assert [c["store_credit_id"] for c in listed["store_credits"]] == [credit_id]
    assert listed["store_credits"][0]["code"] == f"******{code[-4:]}"
    later = random_id("sc")  # a second credit, with an expiry: listed before the first
    ok(
        await http.post(
            "/v1/store-credits",
            headers=gateway.admin.header,
            json={
                "store_credit_id": later,
                "name": "Second",
                "amount": 100,
                "currency": "USD",
                "customer_id": customer,
                "reason": "goodwill",
                "expiry_date": "2999-01-01T00:00:00Z",
            },
        )
    )
    found = ok(await http.post("/v1/store-credits/lookup", headers=me, json={"code": code}))
    assert found["store_credit"]["store_credit_id"] == credit_id, found
    path = f"/v1/customers/{customer}/store-credits"
    first = ok(await http.get(path, params={"limit": 1}, headers=me))
    assert [c["store_credit_id"] for c in first["store_credits"]] == [later]
    assert first["next_offset"] == 1
    second = ok(await http.get(path, params={"limit": 1, "offset": 1}, headers=me))
    assert [c["store_credit_id"] for c in second["store_credits"]] == [credit_id]
    assert second["next_offset"] is None

    ok(
        await http.post(
            "/v1/orders",
            headers=me,
            json={"order_id": order_id, "customer_id": customer, "currency": "USD"},
        )
    )
    shop = gateway.shop.header
    ok(
        await http.post(
            f"/v1/orders/{order_id}/line-items/products",
            headers=shop,
            json={
                "line_item_id": "tickets",
                "sku": "T6060",
                "name": "Tickets",
                "unit_price": 1500,
                "quantity": 2,
            },
        )
    )
    ok(await http.put(f"/v1/orders/{order_id}/charges", headers=shop, json={"shipping": 2495}))
    applied = ok(
        await http.post(
            f"/v1/orders/{order_id}/store-credits",
            headers=me,
            json={"application_id": "by-code", "code": code},
        )
    )
    assert applied["produced"]["status"] == "requested"

    async def held() -> dict[str, Any] | None:
        found = ok(await http.get(f"/v1/orders/{order_id}", headers=me))["order"]
        credit = found["applied_credits"][0]
        return found if credit["status"] not in ("requested", "holding") else None

    order = await until(held)
    assert order["applied_credits"][0]["status"] == "held", order
    assert order["applied_credits"][0]["code"] == f"******{code[-4:]}"
    assert order["totals"]["amount_due"] == 0

    async def checked_out() -> dict[str, Any] | None:
        answer = await http.post(f"/v1/orders/{order_id}/checkout", headers=me, json={})
        if answer.status_code == 503:
            return None
        return ok(answer)

    checkout = await until(checked_out)
    assert checkout["produced"]["amount_due"] == 0, checkout

    async def fulfilled() -> dict[str, Any] | None:
        answer = await http.get(f"/v1/orders/{order_id}/fulfillment", headers=me)
        if answer.status_code == 404:
            return None  # OrderCheckedOut on its way to the fulfillment service
        found: dict[str, Any] = ok(answer)["fulfillment"]
        return found if found["payment_status"] == "captured" else None

    fulfillment = await until(fulfilled)
    assert {(i["kind"], i["status"]) for i in fulfillment["items"]} == {
        ("manual", "pending"),
        ("store_credit", "fulfilled"),
    }, fulfillment
    stranger = gateway.identity.bearer(random_id("cust"))
    peek = await http.get(f"/v1/orders/{order_id}/fulfillment", headers=stranger)
    assert peek.status_code == 404 and peek.json()["code"] == "fulfillment_not_found"
    assert code not in gateway.log.read_text(), "a code never reaches a log"


async def test_the_point_spend_seed_story_and_another_customer_is_refused(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    customer, other = random_id("cust"), random_id("cust")
    account = random_id("acct")
    admin = gateway.admin.header
    ok(
        await http.post(
            f"/v1/customers/{customer}/accounts",
            headers=admin,
            json={"account_id": account, "name": "Loyalty", "kind": "loyalty", "unit": "points"},
        )
    )

    async def deposited() -> dict[str, Any] | None:
        answer = await http.post(
            f"/v1/accounts/{account}/transactions",
            headers={**admin, "Idempotency-Key": f"deposit-{account}"},
            json={"transaction_id": f"{account}-deposit", "amount": 1_000, "kind": "deposit"},
        )
        return None if answer.status_code in (404, 503) else ok(answer)  # opening on its way

    await until(deposited)
    me = gateway.identity.bearer(customer)
    balance = ok(await http.get(f"/v1/accounts/{account}/balance", headers=me))
    assert (balance["balance"], balance["available"]) == (1_000, 1_000)
    spend = ok(
        await http.post(
            f"/v1/accounts/{account}/transactions",
            headers=me,
            json={
                "transaction_id": f"{account}-spend",
                "amount": -300,
                "kind": "spend",
                "status": "pending",
            },
        )
    )
    assert spend["produced"]["status"] == "pending"
    assert ok(await http.get(f"/v1/accounts/{account}/balance", headers=me))["available"] == 700

    stranger = gateway.identity.bearer(other)
    peek = await http.get(f"/v1/accounts/{account}/balance", headers=stranger)
    assert peek.status_code == 404 and peek.json()["code"] == "account_not_found", peek.text
    steal = await http.post(
        f"/v1/accounts/{account}/transactions",
        headers=stranger,
        json={
            "transaction_id": random_id("tx"),
            "amount": -100,
            "kind": "spend",
            "status": "pending",
        },
    )
    assert steal.status_code in (403, 404), steal.text
    assert steal.headers["content-type"] == "application/problem+json"
    listing = await http.get(f"/v1/customers/{customer}/accounts", headers=stranger)
    assert listing.status_code == 403, listing.text
    assert ok(await http.get(f"/v1/accounts/{account}/balance", headers=me))["available"] == 700


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    customer, order_id = random_id("cust"), random_id("ord")
    me = {**gateway.identity.bearer(customer), "Idempotency-Key": f"open-{order_id}"}
    body = {"order_id": order_id, "customer_id": customer, "currency": "USD"}
    first = ok(await http.post("/v1/orders", headers=me, json=body))
    again = ok(await http.post("/v1/orders", headers=me, json=body))
    assert (again["command_id"], again["produced"]) == (first["command_id"], first["produced"])
    other = await http.post("/v1/orders", headers=me, json={**body, "currency": "EUR"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


async def test_a_slow_result_is_answered_202_and_then_found(system: System, tmp_path: Path) -> None:
    with gateway_process(
        system.settings, tmp_path, STORECREDIT_GATEWAY_RESULT_WAIT_S="0.001"
    ) as hasty:
        async with httpx.AsyncClient(base_url=hasty.url, timeout=60) as http:
            customer = random_id("cust")
            me = hasty.identity.bearer(customer)
            body = {"order_id": random_id("ord"), "customer_id": customer, "currency": "USD"}
            sent = await http.post("/v1/orders", headers=me, json=body)
            assert sent.status_code == 202, sent.text
            location = sent.headers["location"]
            assert location == sent.json()["location"]

            async def found() -> dict[str, Any] | None:
                answer = await http.get(location, headers=me)
                return None if answer.status_code == 202 else ok(answer)

            result = await until(found)
            assert (
                result["status"] == "accepted"
                and result["produced"]["order_id"] == body["order_id"]
            )
            stranger = await http.get(location, headers=hasty.identity.bearer(random_id("cust")))
            assert stranger.status_code == 404
            forged = await http.get(location[:-3] + "AAA", headers=me)
            assert forged.status_code == 404


async def test_a_balance_streams_as_server_sent_events(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    customer, account = random_id("cust"), random_id("acct")
    admin = gateway.admin.header
    ok(
        await http.post(
            f"/v1/customers/{customer}/accounts",
            headers=admin,
            json={"account_id": account, "name": "Loyalty", "kind": "loyalty", "unit": "points"},
        )
    )
    me = gateway.identity.bearer(customer)
    await until(lambda: _exists(http, account, me))
    async with http.stream("GET", f"/v1/accounts/{account}/balance/stream", headers=me) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        first = await _next_event(lines)
        deposit = {"transaction_id": f"{account}-d", "amount": 250, "kind": "deposit"}
        ok(await http.post(f"/v1/accounts/{account}/transactions", headers=admin, json=deposit))
        later = await _next_event(lines)
        assert later["balance"] == first["balance"] + 250
        assert later["version"] > first["version"]


async def test_a_reconnecting_balance_stream_gets_only_what_is_newer(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    customer, account = random_id("cust"), random_id("acct")
    admin = gateway.admin.header
    ok(
        await http.post(
            f"/v1/customers/{customer}/accounts",
            headers=admin,
            json={"account_id": account, "name": "Loyalty", "kind": "loyalty", "unit": "points"},
        )
    )
    me = gateway.identity.bearer(customer)
    await until(lambda: _exists(http, account, me))
    path = f"/v1/accounts/{account}/balance/stream"
    async with http.stream("GET", path, headers=me) as stream:
        seen = await _next_event(stream.aiter_lines())
    # The stream dropped; a deposit happens before the client is back.
    deposit = {"transaction_id": f"{account}-d1", "amount": 40, "kind": "deposit"}
    ok(await http.post(f"/v1/accounts/{account}/transactions", headers=admin, json=deposit))
    back = {**me, "Last-Event-ID": str(seen["version"])}
    async with http.stream("GET", path, headers=back) as stream:
        missed = await _next_event(stream.aiter_lines())
    assert missed["balance"] == seen["balance"] + 40 and missed["version"] > seen["version"]
    # Up to date on reconnecting: nothing is sent again until the next change.
    current = {**me, "Last-Event-ID": str(missed["version"])}
    async with http.stream("GET", path, headers=current) as stream:
        lines = stream.aiter_lines()
        more = {"transaction_id": f"{account}-d2", "amount": 2, "kind": "deposit"}
        ok(await http.post(f"/v1/accounts/{account}/transactions", headers=admin, json=more))
        change = await _next_event(lines)
    assert (change["balance"], change["version"] > missed["version"]) == (
        missed["balance"] + 2,
        True,
    )


async def test_a_storefront_origin_may_call_and_another_may_not(http: httpx.AsyncClient) -> None:
    asked = {
        "Origin": "https://shop.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    }
    allowed = await http.options("/v1/orders", headers=asked)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://shop.test"
    assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
    other = await http.options("/v1/orders", headers={**asked, "Origin": "https://evil.test"})
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    plain = await http.get("/health/live", headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in plain.headers


async def test_an_admin_reads_dead_letters_and_no_one_else_does(
    system: System, gateway: Gateway, http: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    # Parked as a service parks (contracts/dead_letters.py), straight on the dead-letter
    # topic: the session's services must park nothing (test_seed_stories checks it).
    marker = random_id("junk")
    await producer.send_and_wait(
        system.settings.topic(LEDGER_DEAD_LETTERS),
        key=marker.encode(),
        value=b"{not json " + marker.encode(),
        headers=[
            (dlt.REASON, b"undecodable"),
            (dlt.DETAIL, b"not JSON"),
            (dlt.ORIGINAL_TOPIC, system.settings.topic(LEDGER_COMMANDS).encode()),
            (dlt.ORIGINAL_PARTITION, b"0"),
            (dlt.ORIGINAL_OFFSET, b"7"),
        ],
    )

    async def parked() -> dict[str, Any] | None:
        page = ok(await http.get("/v1/dead-letters/ledger", headers=gateway.admin.header))
        return next((d for d in page["dead_letters"] if d["key"] == marker), None)

    letter = await until(parked)
    assert letter["reason"] and letter["original_topic"] == system.settings.topic(LEDGER_COMMANDS)
    assert marker in letter["value"]
    first = ok(await http.get("/v1/dead-letters/ledger?limit=1", headers=gateway.admin.header))
    assert len(first["dead_letters"]) == 1
    if first["next_before"] is not None:
        older = ok(
            await http.get(
                f"/v1/dead-letters/ledger?limit=1&before={first['next_before']}",
                headers=gateway.admin.header,
            )
        )
        assert older["dead_letters"][0]["offset"] < first["dead_letters"][0]["offset"]
    for caller in (gateway.identity.bearer(random_id("cust")), gateway.shop.header):
        refused = await http.get("/v1/dead-letters/ledger", headers=caller)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    unknown = await http.get("/v1/dead-letters/nowhere", headers=gateway.admin.header)
    assert unknown.status_code == 422


async def _exists(http: httpx.AsyncClient, account: str, headers: dict[str, str]) -> bool:
    return (await http.get(f"/v1/accounts/{account}/balance", headers=headers)).status_code == 200


async def _next_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    async with asyncio.timeout(60):
        async for line in lines:
            if line.startswith("data: "):
                found: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return found
    raise AssertionError("the stream ended")


async def test_bad_input_gets_a_clear_4xx_and_the_gateway_stays_up(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    customer = random_id("cust")
    me = gateway.identity.bearer(customer)
    path = "/v1/orders"
    good = {"order_id": random_id("ord"), "customer_id": customer, "currency": "USD"}
    unsigned = await http.post(path, json=good)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "unauthenticated"
    forger = IdentityProvider()  # a key the gateway does not know
    forged = await http.post(path, headers=forger.bearer(customer), json=good)
    assert forged.status_code == 401
    expired = gateway.identity.token(customer, life_s=-3_600)
    assert (
        await http.post(path, headers={"Authorization": f"Bearer {expired}"}, json=good)
    ).status_code == 401
    other_audience = gateway.identity.token(customer, aud="someone-else")
    assert (
        await http.post(path, headers={"Authorization": f"Bearer {other_audience}"}, json=good)
    ).status_code == 401
    wrong_key = await http.post(
        path, headers={"X-API-Key": f"{gateway.admin.key_id}.nope"}, json=good
    )
    assert wrong_key.status_code == 401
    typed = await http.post(path, headers=me, json={**good, "currency": 12})
    assert typed.status_code == 422 and any(
        e["field"] == "currency" for e in typed.json()["errors"]
    )
    broken = await http.post(
        path, headers={**me, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert broken.status_code == 422, broken.text
    huge = await http.post(
        path, headers={**me, "Content-Type": "application/json"}, content=b" " * 200_000
    )
    assert huge.status_code == 413
    extra = await http.post(path, headers=me, json={**good, "surprise": True})
    assert extra.status_code == 422
    bad_id = await http.get("/v1/orders/has%20space", headers=me)
    assert bad_id.status_code == 422
    assert (await http.get("/health/ready")).status_code == 200
    unknown = await http.get(f"/v1/orders/{good['order_id']}", headers=me)
    assert unknown.status_code == 404  # nothing was created by any of the above


async def test_an_admin_sees_every_services_consumer_lag_and_no_one_else_does(
    system: System, gateway: Gateway, http: httpx.AsyncClient
) -> None:
    prefix = system.settings.topic_prefix
    template = {
        "template_id": random_id("tpl-lag"),
        "name": "Lag probe",
        "kind": "loyalty",
        "unit": f"points:{random_id('lag')}",
    }
    made = await http.post(
        "/v1/templates",
        headers={**gateway.admin.header, "Idempotency-Key": random_id("k")},
        json=template,
    )
    assert made.status_code == 200, made.text
    commands = system.settings.topic(STORE_CREDIT_COMMANDS)

    async def committed() -> dict[str, Any] | None:
        found = ok(await http.get("/v1/consumer-lag", headers=gateway.admin.header))
        groups = {g["group"]: g for g in found["groups"]}
        group = groups.get(f"{prefix}storecredit-store_credit", {"topics": []})
        read = next((t for t in group["topics"] if t["topic"] == commands), None)
        return groups if read is not None else None

    groups = await until(committed)
    for service in ("ledger", "store_credit", "order", "fulfillment"):  # each one's groups
        assert groups[f"{prefix}storecredit-{service}"]["service"] == service.replace("_", "-")
        assert f"{prefix}storecredit-{service}-queries" in groups
    for group in groups.values():
        assert group["lag"] == sum(t["lag"] for t in group["topics"]) >= 0
        for topic in group["topics"]:
            assert topic["lag"] == sum(p["lag"] for p in topic["partitions"])
            for part in topic["partitions"]:
                if part["committed"] is not None:
                    assert part["end"] >= part["committed"]
                    assert part["lag"] == part["end"] - part["committed"]
    # Only this environment's groups, only the services'.
    assert all(name.startswith(f"{prefix}storecredit-") for name in groups)
    for caller in (gateway.identity.bearer(random_id("cust")), gateway.shop.header):
        refused = await http.get("/v1/consumer-lag", headers=caller)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


async def test_an_admin_redrives_a_fixed_dead_letter_and_never_a_redacted_or_an_event(
    system: System, gateway: Gateway, http: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    settings = system.settings
    template_id = random_id("tpl-redriven")
    command = CreatePointAccountTemplate(
        template_id=template_id, name="Redriven", kind="loyalty", unit=f"points:{template_id}"
    )
    value, signed = signed_message(settings, command)
    dead_letters = settings.topic(STORE_CREDIT_DEAD_LETTERS)
    commands = settings.topic(STORE_CREDIT_COMMANDS)
    fixable = await park(producer, dead_letters, value, template_id, commands, signed)
    redacted = await park(
        producer, dead_letters, value, template_id, commands, {**signed, dlt.REDACTED: "true"}
    )
    events = settings.topic(STORE_CREDIT_EVENTS)
    event = await park(producer, dead_letters, value, template_id, events, signed)
    path = "/v1/dead-letters/store-credit/{}/redrive"

    for caller in (gateway.identity.bearer(random_id("cust")), gateway.shop.header):
        refused = await http.post(path.format(fixable), headers=caller)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    for offset, why in [(redacted, "redacted"), (event, "not a command or query topic")]:
        refused = await http.post(path.format(offset), headers=gateway.admin.header)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "not_redrivable" and why in refused.json()["detail"]
    missing = await http.post(path.format(event + 1_000), headers=gateway.admin.header)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"

    sent = ok(await http.post(path.format(fixable), headers=gateway.admin.header))
    assert sent["sent_to"]["topic"] == commands
    again = ok(await http.post(path.format(fixable), headers=gateway.admin.header))
    assert again["sent_to"]["offset"] > sent["sent_to"]["offset"]

    async def made() -> bool:
        found = ok(await http.get("/v1/templates?limit=500", headers=gateway.admin.header))
        return any(t["template_id"] == template_id for t in found["templates"])

    await until(made)  # handled (the same message id again is skipped: its inbox)
