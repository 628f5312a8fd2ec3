"""Forged actors, tried as an attacker would over real Kafka and PostgreSQL: a command or
query whose actor no good claim vouches for is answered ``unauthenticated`` or
``forbidden``, never applied, and takes no one's idempotency key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind, new_envelope
from contracts.ledger import GetAccountBalances
from contracts.store_credit import AuthorizeStoreCredit
from contracts.topics import (
    LEDGER_COMMANDS,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
    STORE_CREDIT_COMMANDS,
)
from services.ledger.app import definition as ledger
from services.store_credit.app import definition as store_credit
from shared.runtime import claims
from shared.runtime.broker import kafka_client_options
from shared.runtime.claims import CLAIM_HEADER
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.conftest import running
from tests.integration.shop import issue
from tests.kafka_tools import ADMIN, command, has_type, send
from tests.ledger_client import make_ledger
from tests.random_refs import random_id
from tests.store_credit_client import make_store_credit

STOREFRONT_CUSTOMER = Actor(kind=ActorKind.CUSTOMER, id="cust-attacker")


async def test_a_command_without_a_good_claim_is_refused_and_changes_nothing(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, settings=isolated):
        client = await make_ledger(producer, isolated, watch)
        account_id = await client.open()
        keyring = isolated.keyring()
        storefront = keyring.signer_for(STOREFRONT_CUSTOMER)
        stranger = claims.Signer("back-office", claims.new_private_key())  # not its key
        someone_else = Actor(kind=ActorKind.ADMIN, id="someone-else")
        elsewhere = encode(command(client.post(account_id, 1), actor=ADMIN))
        topic = isolated.topic(LEDGER_COMMANDS)
        key = random_id("deposit-key")
        deposit = client.post(account_id, 777_000)
        attempts: dict[str, Callable[[bytes], str]] = {
            "no claim": lambda value: "",
            "garbage": lambda value: "not-a-jws",
            "the storefront speaking for an admin": lambda value: storefront.claim(value, ADMIN),
            "a good claim of other bytes": lambda value: keyring.claim(elsewhere, ADMIN),
            "a good claim of another actor": lambda value: keyring.claim(value, someone_else),
            "an unknown key": lambda value: stranger.claim(value, ADMIN),
        }
        codes = {}
        for label, claim_of in attempts.items():
            forged = command(deposit, actor=ADMIN, key=key)
            value = encode(forged)
            headers = {**headers_for(forged), CLAIM_HEADER: claim_of(value)}
            await send(producer, topic, account_id, value, headers)
            codes[label] = (await client.result_of(forged))["code"]
        assert codes == {
            "no claim": "unauthenticated",
            "garbage": "unauthenticated",
            "the storefront speaking for an admin": "forbidden",
            "a good claim of other bytes": "unauthenticated",
            "a good claim of another actor": "unauthenticated",
            "an unknown key": "unauthenticated",
        }
        # Nothing was applied, and the key the forgeries claimed is still free: the
        # back office's own deposit with it is accepted, once.
        real = command(deposit, actor=ADMIN, key=key)
        assert (await client.ask(account_id, real))["status"] == "accepted"
        await client.watcher.wait_for(has_type("BalanceChanged", balance=777_000))
        balances = client.watcher.matching(has_type("BalanceChanged", account_id=account_id))
        assert [b.json()["payload"]["balance"] for b in balances] == [0, 777_000]


async def test_a_forged_order_service_cannot_ask_for_another_customers_credit(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, store_credit, settings=isolated):
        client = await make_store_credit(producer, isolated, watch)
        victim = random_id("cust")
        credit = await issue(client, isolated, victim, 5_000)
        order_service = Actor(kind=ActorKind.SERVICE, id="order")
        ask = AuthorizeStoreCredit(
            application_id=random_id("app"),
            order_id=random_id("ord"),
            customer_id=victim,
            currency="USD",
            store_credit_id=credit["store_credit_id"],
        )
        envelope = command(ask, actor=order_service)
        value = encode(envelope)
        storefront = isolated.keyring().signer_for(STOREFRONT_CUSTOMER)
        headers = {**headers_for(envelope), CLAIM_HEADER: storefront.claim(value, order_service)}
        await send(producer, isolated.topic(STORE_CREDIT_COMMANDS), victim, value, headers)
        result = await client.result_of(envelope)
    assert (result["status"], result["code"]) == ("rejected", "forbidden")
    assert result["produced"] == {}


async def test_a_query_without_a_good_claim_is_refused(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, settings=isolated):
        client = await make_ledger(producer, isolated, watch)
        account_id = await client.open()
        question = new_envelope(GetAccountBalances(account_id=account_id), actor=ADMIN)
        replies = isolated.topic(LEDGER_QUERY_REPLIES)
        async with RequestClient(
            isolated.kafka_bootstrap_servers, replies, **kafka_client_options(isolated)
        ) as unsigned:
            refused = await unsigned.request(isolated.topic(LEDGER_QUERIES), account_id, question)
        async with RequestClient(
            isolated.kafka_bootstrap_servers,
            replies,
            keyring=isolated.keyring(),
            **kafka_client_options(isolated),
        ) as signed:
            again = new_envelope(GetAccountBalances(account_id=account_id), actor=ADMIN)
            answered = await signed.request(isolated.topic(LEDGER_QUERIES), account_id, again)
    assert (refused.type, refused.payload["code"]) == ("QueryFailed", "unauthenticated")
    assert answered.type == "AccountBalances"
