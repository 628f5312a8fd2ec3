"""Store-credit rules over real Kafka and PostgreSQL: every UpdateStoreCredit
refusal, changes of owner and dates, a code-hash key rotation, clear codes refused
and never parked, and dead letters that never carry a code in clear."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy import select

from contracts.envelope import Actor, ActorKind, Envelope
from contracts.store_credit import CreateStoreCredit, FindStoreCredit, UpdateStoreCredit
from contracts.topics import (
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_DEAD_LETTERS,
    STORE_CREDIT_QUERIES,
    STORE_CREDIT_QUERY_REPLIES,
)
from services.ledger.app import definition as ledger
from services.store_credit.app import definition as store_credit
from services.store_credit.codes import CodeHasher
from services.store_credit.db import store_credits
from shared.runtime.broker import kafka_client_options
from shared.runtime.codec import encode
from shared.runtime.db import create_engine
from shared.runtime.settings import Settings
from shared.tools.request_client import RequestClient
from tests.integration.conftest import running
from tests.integration.shop import balance_copied
from tests.integration.test_store_credits import ask
from tests.kafka_tools import ADMIN, command, has_type, is_result_of, send
from tests.random_refs import random_id
from tests.sealed import REPLY_PUBLIC_KEY, find_by_code, opened, sealed
from tests.store_credit_client import make_store_credit


def credit(code: str | None = None, **fields: Any) -> CreateStoreCredit:
    """A credit to issue (with ``code``, sealed by the admin who will send it); its new code
    and token come back sealed to the tests."""
    values: dict[str, Any] = {
        "store_credit_id": random_id("sc"),
        "name": "Gift card",
        "amount": 5_000,
        "currency": "USD",
        "reply_public_key": REPLY_PUBLIC_KEY,
    }
    if code is not None:
        values["sealed_code"] = sealed(code, ADMIN)
    values.update(fields)
    return CreateStoreCredit(**values)


async def test_update_refusals_and_changes(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(ledger, store_credit, settings=isolated):
        client = await make_store_credit(producer, isolated, watch)
        owner, heir = random_id("cust"), random_id("cust")
        soon = datetime.now(UTC) + timedelta(days=1)
        first = credit(customer_id=owner, external_id=random_id("ext"), active_date=soon)
        second = credit(customer_id=owner, external_id=random_id("ext"))
        made = [await client.do(owner, issue) for issue in (first, second)]
        assert [m["status"] for m in made] == ["accepted", "accepted"]

        refusals = [
            (
                UpdateStoreCredit(store_credit_id=random_id("sc"), name="x"),
                "store_credit_not_found",
            ),
            (
                UpdateStoreCredit(
                    store_credit_id=second.store_credit_id, external_id=first.external_id
                ),
                "external_id_taken",
            ),
            (
                UpdateStoreCredit(store_credit_id=first.store_credit_id, expiry_date=soon),
                "invalid_dates",
            ),
            (
                UpdateStoreCredit(
                    store_credit_id=second.store_credit_id,
                    active_date=soon + timedelta(days=2),
                    expiry_date=soon,
                ),
                "invalid_dates",
            ),
        ]
        for update, code in refusals:
            refused = await client.do(owner, update)
            assert (refused["status"], refused["code"]) == ("rejected", code), refused
        shopper = Actor(kind=ActorKind.CUSTOMER, id=owner)
        raised_by_customer = UpdateStoreCredit(store_credit_id=first.store_credit_id, amount=9_000)
        assert (await client.do(owner, raised_by_customer, shopper))["code"] == "forbidden"

        # Not yet active: found, but not usable, until the date is cleared.
        token = opened(made[0]["produced"])["token"]  # given once, sealed to whoever issued it
        found = await ask(isolated, owner, FindStoreCredit(token=token), shopper)
        assert found.payload["store_credit"]["unusable_code"] == "not_yet_active"

        # A new owner and no external id; the old owner now sees another's credit.
        moved = UpdateStoreCredit(
            store_credit_id=first.store_credit_id,
            customer_id=heir,
            description="Moved to the account holder's partner",
            clear=["external_id", "active_date"],
        )
        assert (await client.do(owner, moved))["status"] == "accepted"
        [event] = await client.watcher.wait_for(
            has_type("StoreCredit", store_credit_id=first.store_credit_id, customer_id=heir)
        )
        payload = event.json()["payload"]
        assert (payload["external_id"], payload["active_date"], payload["version"]) == (
            None,
            None,
            2,
        )
        assert payload["description"] == "Moved to the account holder's partner"
        as_owner = await ask(isolated, owner, FindStoreCredit(token=token), shopper)
        assert as_owner.payload["code"] == "store_credit_not_found"  # no longer theirs
        heir_actor = Actor(kind=ActorKind.CUSTOMER, id=heir)
        as_heir = await ask(isolated, heir, FindStoreCredit(token=token), heir_actor)
        assert as_heir.payload["store_credit"]["usable"] is True
        past = UpdateStoreCredit(
            store_credit_id=second.store_credit_id,
            expiry_date=datetime.now(UTC) - timedelta(minutes=1),
        )
        assert (await client.do(owner, past))["status"] == "accepted"
        expired = await ask(isolated, owner, FindStoreCredit(external_id=second.external_id))
        assert expired.payload["store_credit"]["unusable_code"] == "expired"
        # The freed external id may be taken by another credit now.
        reuse = UpdateStoreCredit(
            store_credit_id=second.store_credit_id, external_id=first.external_id
        )
        assert (await client.do(owner, reuse))["status"] == "accepted"


async def test_codes_survive_a_key_rotation_and_are_rehashed(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    old_key, new_key = secrets.token_hex(32), secrets.token_hex(32)
    before = isolated.model_copy(update={"code_hash_key": SecretStr(old_key)})
    after = isolated.model_copy(
        update={
            "code_hash_key": SecretStr(new_key),
            "code_hash_previous_keys": SecretStr(f" {old_key} ,"),
        }
    )
    customer = random_id("cust")
    kept, other = credit(customer_id=customer), credit(customer_id=customer)
    async with running(ledger, store_credit, settings=before):
        client = await make_store_credit(producer, before, watch)
        code = opened((await client.do(customer, kept))["produced"])["code"]
        other_code = opened((await client.do(customer, other))["produced"])["code"]

    engine = create_engine(isolated.database_url_for("store_credit"))

    async def stored_hash() -> str:
        async with engine.connect() as connection:
            found: str = await connection.scalar(
                select(store_credits.c.code_hash).where(store_credits.c.id == kept.store_credit_id)
            )
        return found

    try:
        assert await stored_hash() == CodeHasher(old_key.encode()).hash(code)
        async with running(ledger, store_credit, settings=after):
            client = await make_store_credit(producer, after, watch)
            # A code stored under the retired key is still taken ...
            clash = credit(customer_id=customer, code=other_code)
            assert (await client.do(customer, clash))["code"] == "code_taken"
            # ... and still found, and then stored under the current key.
            found = await ask(after, customer, find_by_code(code, ADMIN))
            assert found.payload["store_credit"]["store_credit_id"] == kept.store_credit_id
            assert await stored_hash() == CodeHasher(new_key.encode()).hash(code)
            again = await ask(after, customer, find_by_code(code, ADMIN))
            assert again.type == "StoreCreditFound"
    finally:
        await engine.dispose()


async def test_clear_codes_are_refused_unparked_and_dead_letters_mask_codes(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    async with running(store_credit, settings=isolated):
        watcher = await watch(
            isolated.topic(STORE_CREDIT_DEAD_LETTERS),
            isolated.topic(STORE_CREDIT_COMMAND_RESULTS),
        )
        key = random_id("cust")
        code = "4000 1234 5678 9010"
        clear = command(credit(customer_id=key))
        clear_body = json.loads(encode(clear))
        clear_body["payload"]["code"] = code  # in clear: refused, kept nowhere
        issue = command(credit(code=code, customer_id=key))
        body = json.loads(encode(issue))
        body["payload"]["amount"] = "a lot"  # schema-invalid: parked and refused
        garbage = b"\xff not json, but a code: 4000-1234-5678-9010 and an amount 1500"
        question = json.loads(encode(command(FindStoreCredit(token="a-token"))))
        question["payload"] = {"code": code}
        for value in (clear_body, body):
            await send(
                producer, isolated.topic(STORE_CREDIT_COMMANDS), key, json.dumps(value).encode(), {}
            )
        await send(producer, isolated.topic(STORE_CREDIT_COMMANDS), key, garbage, {})

        def parked_commands(record: Any) -> bool:
            return bool(record.topic.endswith("dead-letters") and record.key == key.encode())

        [refused] = await watcher.wait_for(is_result_of(clear))
        assert refused.json()["payload"]["code"] == "code_not_sealed"
        assert "crypto_box_seal" in refused.json()["payload"]["reason"]  # says how to seal
        assert code not in refused.value.decode()
        await watcher.wait_for(parked_commands, count=2)
        # Queries are read from the latest offset: one answered question first proves
        # the query consumer is in place before the bad one is sent.
        answered = await ask(isolated, key, FindStoreCredit(token="no-such-token"))
        assert answered.payload["code"] == "store_credit_not_found"
        async with RequestClient(
            isolated.kafka_bootstrap_servers,
            isolated.topic(STORE_CREDIT_QUERY_REPLIES),
            keyring=isolated.keyring(),
            **kafka_client_options(isolated),
        ) as client:
            unsealed = await client.request(
                isolated.topic(STORE_CREDIT_QUERIES),
                key,
                Envelope[dict[str, Any]].model_validate(question),
            )
        assert unsealed.payload["code"] == "code_not_sealed"
        # answered in order: the query before this one was handled (and not parked)
        assert (await ask(isolated, key, FindStoreCredit(token="x"))).type == "QueryFailed"
        parked = await watcher.wait_for(parked_commands, count=2)
        [result] = await watcher.wait_for(is_result_of(issue))
        assert result.json()["payload"]["code"] == "invalid_command"
        assert len([r for r in watcher.records if parked_commands(r)]) == 2  # nothing more
        digits = code.replace(" ", "")
        for record in parked:
            assert record.headers.get("dlt-redacted") == "true" or record.value[:1] == b"{"
            assert digits not in record.value.decode("utf-8", "replace").replace("-", "")
            assert code not in record.value.decode("utf-8", "replace")
        [letter] = [r.json() for r in parked if r.value[:1] == b"{"]
        assert letter["payload"]["amount"] == "a lot"  # the rest kept for a fix
        assert letter["payload"]["sealed_code"] == issue.payload.sealed_code  # sealed
        [raw] = [r for r in parked if r.value[:1] != b"{"]
        assert raw.value.endswith(b"an amount 1500")  # short numbers are no code


async def test_a_retried_issue_never_issues_twice_nor_shows_the_code_again(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """The seed's "via code" path, as a refund: an upstream service retries after a
    timeout with the same idempotency key and gets the first result, code masked."""
    async with running(ledger, store_credit, settings=isolated):
        client = await make_store_credit(producer, isolated, watch)
        customer = random_id("cust")
        refund = credit(
            customer_id=customer, amount=2_495, reason="refund", references={"order_id": "o-7"}
        )
        service = Actor(kind=ActorKind.SERVICE, id="fulfillment")
        key = random_id("refund-key")
        first = await client.ask(customer, command(refund, actor=service, key=key))
        retry = await client.ask(customer, command(refund, actor=service, key=key))
        code = opened(first["produced"])["code"]
        assert first["status"] == retry["status"] == "accepted"
        assert first["produced"]["code"] == "******" + code[-4:]
        assert first["produced"]["sealed_token"] is not None
        assert retry["produced"] == {
            **first["produced"],
            "sealed_code": None,
            "sealed_token": None,
        }
        account = first["produced"]["ledger_account_id"]
        await client.watcher.wait_for(has_type("BalanceChanged", account_id=account, balance=2_495))
        other = credit(customer_id=customer, amount=1)  # a later command, same partition
        assert (await client.do(customer, other))["status"] == "accepted"
        await client.watcher.wait_for(
            has_type("StoreCredit", store_credit_id=other.store_credit_id)
        )
        issued = client.watcher.matching(has_type("StoreCredit", customer_id=customer))
        assert [e.json()["payload"]["store_credit_id"] for e in issued].count(
            refund.store_credit_id
        ) == 1
        deposits = await client.watcher.wait_for(
            has_type("PointTransactionCreated", account_id=account)
        )
        assert [d.json()["payload"]["amount"] for d in deposits] == [2_495]
        assert deposits[0].json()["payload"]["kind"] == "refund"


async def test_a_retryable_refusal_does_not_bind_the_idempotency_key(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    """Raising the amount needs the ledger's balance: before it is known the refusal
    is retryable, and a retry with the same key is handled afresh once it is."""
    customer = random_id("cust")
    issue = credit(customer_id=customer, amount=1_000)
    raise_it = UpdateStoreCredit(store_credit_id=issue.store_credit_id, amount=1_500)
    key = random_id("raise")
    async with running(store_credit, settings=isolated):  # no ledger: no balance yet
        client = await make_store_credit(producer, isolated, watch)
        assert (await client.do(customer, issue))["status"] == "accepted"
        early = await client.ask(customer, command(raise_it, key=key))
        assert (early["code"], early["retryable"]) == ("balance_not_known", True)
    async with running(ledger, store_credit, settings=isolated):
        await balance_copied(isolated, issue.store_credit_id, 1_000)
        later = await client.ask(customer, command(raise_it, key=key))
        assert (later["status"], later["retryable"]) == ("accepted", False), later
        again = await client.ask(customer, command(raise_it, key=key))
        assert again == later  # now bound: the first accepted result
        await client.watcher.wait_for(has_type("BalanceChanged", balance=1_500))
