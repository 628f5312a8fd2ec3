"""A newcomer rebuilds the current state from the compacted state topics, over real Kafka
and PostgreSQL: every template, point account and store credit is on
``store-credit.state`` keyed by entity, its latest version last, whatever else happened
on ``store-credit.events`` under the customer's key; and a query lists the templates."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind
from contracts.store_credit import (
    CreatePointAccountTemplate,
    ListPointAccountTemplates,
    UpdatePointAccountTemplate,
    UpdateStoreCredit,
)
from contracts.topics import STORE_CREDIT_STATE
from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings
from tests.integration.shop import issue, store_credit_running
from tests.integration.test_store_credits import ask
from tests.kafka_tools import ADMIN, has_type, read_all
from tests.random_refs import random_id


async def test_the_state_topic_holds_every_entity_as_it_is_now(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with store_credit_running(producer, isolated, watch) as client:
        template_id, customer = random_id("tpl"), random_id("cust")
        made = CreatePointAccountTemplate(
            template_id=template_id, name="Stars", kind="loyalty", unit="points:loyalty"
        )
        assert (await client.do(template_id, made))["status"] == "accepted"
        renamed = UpdatePointAccountTemplate(template_id=template_id, name="Gold stars")
        assert (await client.do(template_id, renamed))["status"] == "accepted"
        await client.customer_created(customer)
        [account] = await client.watcher.wait_for(
            has_type("PointAccount", customer_id=customer, name="Gold stars")
        )
        credit = await issue(client, isolated, customer, 1_000)
        off = UpdateStoreCredit(store_credit_id=credit["store_credit_id"], disabled=True)
        assert (await client.do(customer, off))["status"] == "accepted"
        await client.watcher.wait_for(
            has_type("StoreCredit", store_credit_id=credit["store_credit_id"], disabled=True)
        )

    latest: dict[bytes, Any] = {}
    for record in await read_all(
        isolated.kafka_bootstrap_servers,
        isolated.topic(STORE_CREDIT_STATE),
        **kafka_client_options(isolated),
    ):
        latest[record.key or b""] = record.json()
    account_id = account.json()["payload"]["account_id"]
    template = latest[f"template:{template_id}".encode()]
    assert (template["type"], template["payload"]["name"]) == ("PointAccountTemplate", "Gold stars")
    mine = latest[f"account:{account_id}".encode()]
    assert (mine["type"], mine["payload"]["name"]) == ("PointAccount", "Gold stars")
    stored = latest[f"store_credit:{credit['store_credit_id']}".encode()]
    assert (stored["type"], stored["payload"]["disabled"]) == ("StoreCredit", True)
    assert stored["payload"]["ledger_account_id"] == credit["ledger_account_id"]
    assert len({envelope["message_id"] for envelope in latest.values()}) == len(latest)


async def test_templates_are_listed_a_page_at_a_time(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with store_credit_running(producer, isolated, watch) as client:
        ids = sorted(random_id("tpl") for _ in range(3))
        for template_id in ids:
            made = CreatePointAccountTemplate(
                template_id=template_id, name=template_id, kind="loyalty", unit="points:x"
            )
            assert (await client.do(template_id, made))["status"] == "accepted"
        off = UpdatePointAccountTemplate(template_id=ids[1], status="inactive")
        assert (await client.do(ids[1], off))["status"] == "accepted"
        shopper = Actor(kind=ActorKind.CUSTOMER, id=random_id("cust"))
        pages, after = [], None
        while True:
            page = await ask(
                isolated, "templates", ListPointAccountTemplates(after=after, limit=2), shopper
            )
            pages.append([t["template_id"] for t in page.payload["templates"]])
            after = page.payload["next_after"]
            if after is None:
                break
        active = await ask(isolated, "templates", ListPointAccountTemplates(status="active"), ADMIN)
    assert pages == [ids[:2], ids[2:]]
    assert [t["template_id"] for t in active.payload["templates"]] == [ids[0], ids[2]]
