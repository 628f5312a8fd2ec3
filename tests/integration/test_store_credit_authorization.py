"""AuthorizeStoreCredit, as the order service asks it, over real Kafka and PostgreSQL:
a sealed code opens only for the customer who sealed it, wrong codes lock out even
though each is refused, and each reason a credit cannot pay has its code."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind
from contracts.store_credit import AuthorizeStoreCredit
from services.ledger.app import definition as ledger
from services.store_credit.app import definition as store_credit
from shared.runtime.settings import Settings
from tests.integration.conftest import running
from tests.integration.shop import balance_copied
from tests.integration.test_store_credit_rules import credit
from tests.random_refs import random_id
from tests.sealed import opened, sealed
from tests.store_credit_client import make_store_credit

ORDER_SERVICE = Actor(kind=ActorKind.SERVICE, id="order")


def by_code(
    settings: Settings, code: str, customer: str, order_id: str, currency: str = "USD"
) -> AuthorizeStoreCredit:
    """As the order service passes on a customer's ApplyStoreCredit: the code sealed by
    that customer, who is named as the requester."""
    shopper = Actor(kind=ActorKind.CUSTOMER, id=customer)
    return AuthorizeStoreCredit(
        application_id=random_id("app"),
        order_id=order_id,
        customer_id=customer,
        currency=currency,
        sealed_code=sealed(code, shopper),
        requested_by=shopper,
    )


async def test_authorizations_answer_with_the_credit_or_the_reason(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, store_credit, settings=isolated):
        client = await make_store_credit(producer, isolated, watch)
        customer, order_id = random_id("cust"), random_id("ord")
        mine = credit(customer_id=customer, amount=3_000, allow_balance_owing=True)
        code = opened((await client.do(customer, mine, ORDER_SERVICE))["produced"])["code"]
        await balance_copied(isolated, mine.store_credit_id, 3_000)

        ok = await client.do(customer, by_code(isolated, code, customer, order_id), ORDER_SERVICE)
        assert ok["status"] == "accepted", ok
        assert ok["produced"]["store_credit_id"] == mine.store_credit_id
        assert (ok["produced"]["available"], ok["produced"]["allow_balance_owing"]) == (3_000, True)
        assert ok["produced"]["code"] == "******" + code[-4:]
        assert code not in str(ok)

        refusals: list[tuple[AuthorizeStoreCredit, str]] = [
            (by_code(isolated, code, customer, order_id, currency="EUR"), "currency_mismatch"),
            # Another customer's credit, by code or by id: not found, as if there were none.
            (
                by_code(isolated, code, random_id("cust"), random_id("ord")),
                "store_credit_not_found",
            ),
            (
                AuthorizeStoreCredit(
                    application_id=random_id("app"),
                    order_id=order_id,
                    customer_id=random_id("cust"),
                    currency="USD",
                    store_credit_id=mine.store_credit_id,
                ),
                "store_credit_not_found",
            ),
        ]
        # A sealed code copied from the topic into another customer's request, or into one
        # that names no requester, does not open.
        stolen = by_code(isolated, code, customer, order_id)
        thief = random_id("cust")
        replayed = stolen.model_copy(
            update={
                "customer_id": thief,
                "requested_by": Actor(kind=ActorKind.CUSTOMER, id=thief),
            }
        )
        refusals.append((replayed, "invalid_sealed_code"))
        refusals.append((stolen.model_copy(update={"requested_by": None}), "invalid_sealed_code"))
        for ask, wanted in refusals:
            refused = await client.do(customer, ask, ORDER_SERVICE)
            assert (refused["status"], refused["code"]) == ("rejected", wanted), refused

        as_customer = await client.do(
            customer,
            by_code(isolated, code, customer, order_id),
            Actor(kind=ActorKind.CUSTOMER, id=customer),
        )
        assert as_customer["code"] == "forbidden"

        # Five wrong codes for one order: each refused, yet counted; then even the
        # right code is locked out for that order (and that customer).
        guesser, target = random_id("cust"), random_id("ord")
        for guess in range(5):
            wrong = by_code(isolated, f"{guess:04d}000011112222", guesser, target)
            missed = await client.do(guesser, wrong, ORDER_SERVICE)
            assert missed["code"] == "store_credit_not_found"
        locked = await client.do(guesser, by_code(isolated, code, guesser, target), ORDER_SERVICE)
        assert locked["code"] == "locked_out"
        other_order = await client.do(
            guesser, by_code(isolated, code, guesser, random_id("ord")), ORDER_SERVICE
        )
        assert other_order["code"] == "locked_out"  # the customer is locked out too

        off = credit(customer_id=customer, disabled=True)
        await client.do(customer, off)
        disabled = await client.do(
            customer,
            AuthorizeStoreCredit(
                application_id=random_id("app"),
                order_id=order_id,
                customer_id=customer,
                currency="USD",
                store_credit_id=off.store_credit_id,
            ),
            ORDER_SERVICE,
        )
        assert disabled["code"] == "disabled"
