"""Guessing store-credit codes, tokens and external ids, as an attacker would, over real
Kafka and PostgreSQL: the lock-out holds against right codes interleaved with wrong
ones, against every actor kind, across many customers and orders, for one guessed
value tried everywhere, for one client principal, for everyone together, and in a
race; a stranger learns nothing a missing credit would not tell."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts.envelope import Actor, ActorKind, Message, new_envelope
from contracts.order import ApplyStoreCredit
from contracts.store_credit import FindStoreCredit
from contracts.topics import STORE_CREDIT_QUERIES, STORE_CREDIT_QUERY_REPLIES
from services.fulfillment.app import definition as fulfillment
from services.ledger.app import definition as ledger
from services.order.app import definition as order
from services.store_credit.app import definition as store_credit
from services.store_credit.db import code_attempts
from shared.runtime.broker import kafka_client_options
from shared.runtime.db import create_engine
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.shop import issue, shop_running, store_credit_running
from tests.order_client import customer
from tests.random_refs import random_id
from tests.sealed import sealed

WRONG = "4000111122223333"


@dataclass(frozen=True)
class ByCode:
    """A FindStoreCredit by this code, sealed by whoever asks it."""

    code: str
    order_id: str | None = None

    def sealed_by(self, actor: Actor) -> FindStoreCredit:
        return FindStoreCredit(sealed_code=sealed(self.code, actor), order_id=self.order_id)


async def answers(
    settings: Settings, questions: Sequence[tuple[Message | ByCode, Actor]]
) -> list[str]:
    """Each question's answer, asked one after another: the type, or the refusal's code."""
    replies = settings.topic(STORE_CREDIT_QUERY_REPLIES)
    found = []
    async with RequestClient(
        settings.kafka_bootstrap_servers,
        replies,
        keyring=settings.keyring(),
        **kafka_client_options(settings),
    ) as client:
        for question, actor in questions:
            reply = await client.request(
                settings.topic(STORE_CREDIT_QUERIES),
                random_id("key"),  # any partition: the count is in the database
                new_envelope(
                    question.sealed_by(actor) if isinstance(question, ByCode) else question,
                    actor=actor,
                ),
            )
            found.append(reply.payload.get("code", reply.type))
    return found


async def test_a_right_code_between_wrong_ones_clears_nothing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with store_credit_running(producer, isolated, watch) as client:
        owner = random_id("cust")
        code = (await issue(client, isolated, owner, 1_000))["code"]
        shopper = customer(owner)
        script = []
        for round_ in range(6):  # 4 wrong, 1 right, ... (24 wrong and 6 right)
            script += [(ByCode(f"40001111222{round_}{n:04d}"), shopper) for n in range(4)]
            script.append((ByCode(code), shopper))
        got = await answers(isolated, script)
    assert got[:4] == ["store_credit_not_found"] * 4
    assert got[4] == "StoreCreditFound"
    assert got[5] == "store_credit_not_found"  # the fifth wrong code: now locked out
    assert set(got[6:]) == {"locked_out"}, got


async def test_every_actor_kind_is_counted_even_without_an_order(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with store_credit_running(producer, isolated, watch) as client:
        code = (await issue(client, isolated, random_id("cust"), 1_000))["code"]
        for kind in (ActorKind.SERVICE, ActorKind.ADMIN, ActorKind.SYSTEM):
            actor = Actor(kind=kind, id="ledger" if kind is not ActorKind.ADMIN else "admin-1")
            wrong = [(ByCode(f"40002222{n:04d}{n:04d}"), actor) for n in range(5)]
            got = await answers(isolated, [*wrong, (ByCode(code), actor)])
            assert got == ["store_credit_not_found"] * 5 + ["locked_out"], (kind, got)


async def test_tokens_and_external_ids_are_guesses_too(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with store_credit_running(producer, isolated, watch) as client:
        owner = random_id("cust")
        made = await issue(client, isolated, owner, 1_000, external_id=random_id("ext"))
        stranger = customer(random_id("cust"))
        # The stranger holds the real token and external id: not theirs, so as good as none.
        script = [
            (FindStoreCredit(token=made["token"]), stranger),
            (FindStoreCredit(external_id=made["external_id"]), stranger),
            (FindStoreCredit(token="f" * 64), stranger),
            (FindStoreCredit(external_id="no-such-credit"), stranger),
            (FindStoreCredit(token="e" * 64), stranger),
            (FindStoreCredit(token=made["token"]), stranger),
        ]
        got = await answers(isolated, script)
        assert got == ["store_credit_not_found"] * 5 + ["locked_out"]
        mine = await answers(isolated, [(FindStoreCredit(token=made["token"]), customer(owner))])
        assert mine == ["StoreCreditFound"]


async def test_one_code_tried_by_many_customers_and_orders_is_locked(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with store_credit_running(producer, isolated, watch):
        script: list[tuple[Message | ByCode, Actor]] = [
            (ByCode(WRONG, order_id=random_id("ord")), customer(random_id("cust")))
            for _ in range(6)
        ]
        got = await answers(isolated, script)
    assert got == ["store_credit_not_found"] * 5 + ["locked_out"]


async def test_everyone_together_is_braked(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """Fresh customers, orders and codes each time: only the overall count sees them."""
    settings = isolated.model_copy(update={"guess_overall_max_failures": 8})
    async with store_credit_running(producer, settings, watch) as client:
        owner = random_id("cust")
        code = (await issue(client, settings, owner, 1_000))["code"]
        script: list[tuple[Message | ByCode, Actor]] = [
            (
                ByCode(f"40003333{n:04d}{n:04d}", order_id=random_id("ord")),
                customer(random_id("cust")),
            )
            for n in range(8)
        ]
        got = await answers(settings, [*script, (ByCode(code), customer(owner))])
    assert got == ["store_credit_not_found"] * 8 + ["locked_out"]


async def test_a_client_principal_speaking_for_many_customers_is_locked(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """Fresh customers, orders and codes, all vouched for by the storefront: its own count
    locks it, while the back office (another principal) still looks up."""
    settings = isolated.model_copy(update={"guess_principal_max_failures": 6})
    async with store_credit_running(producer, settings, watch) as client:
        owner = random_id("cust")
        code = (await issue(client, settings, owner, 1_000))["code"]
        script: list[tuple[Message | ByCode, Actor]] = [
            (
                ByCode(f"40006666{n:04d}{n:04d}", order_id=random_id("ord")),
                customer(random_id("cust")),
            )
            for n in range(6)
        ]
        got = await answers(settings, [*script, (ByCode(code), customer(owner))])
        admin = Actor(kind=ActorKind.ADMIN, id="admin-1")
        by_admin = await answers(settings, [(ByCode(code), admin)])
    assert got == ["store_credit_not_found"] * 6 + ["locked_out"]
    assert by_admin == ["StoreCreditFound"]


async def test_concurrent_guesses_are_all_counted(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with store_credit_running(producer, isolated, watch):
        guesser = customer(random_id("cust"))
        lanes = [
            answers(isolated, [(ByCode(f"40004444{n:04d}{n:04d}"), guesser)]) for n in range(12)
        ]
        got = [answer for lane in await asyncio.gather(*lanes) for answer in lane]
    assert sorted(got) == sorted(["store_credit_not_found"] * 5 + ["locked_out"] * 7)


async def test_applying_wrong_codes_to_ever_new_orders_locks_the_customer_out(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """The way through the order service: ApplyStoreCredit, then AuthorizeStoreCredit."""
    services = (ledger, store_credit, order, fulfillment)
    async with shop_running(producer, isolated, watch, services) as shop:
        code = (await shop.issue(1_000))["code"]
        refusals = []
        for n in range(6):
            order_id = await shop.mug_cart()
            applied = await shop.orders.do(
                ApplyStoreCredit(
                    order_id=order_id,
                    application_id="guess",
                    sealed_code=sealed(code if n == 5 else f"40005555{n:04d}{n:04d}", shop.shopper),
                ),
                shop.shopper,
            )
            assert applied["status"] == "accepted", applied
            settled = await shop.orders.credits_settled(order_id, 1)
            refusals.append(settled["applied_credits"][0]["refusal_code"])
    assert refusals == ["store_credit_not_found"] * 5 + ["locked_out"]
    # the guesses came through the order service, and still count against the
    # principal that vouched for the customer's ApplyStoreCredit
    assert await failures_of(isolated, "principal:storefront") == 5
    assert await failures_of(isolated, "principal:order") is None


async def failures_of(settings: Settings, subject: str) -> int | None:
    engine = create_engine(settings.database_url_for("store_credit"))
    query = select(code_attempts.c.failures).where(code_attempts.c.subject == subject)
    try:
        async with engine.connect() as connection:
            found: int | None = await connection.scalar(query)
            return found
    finally:
        await engine.dispose()
