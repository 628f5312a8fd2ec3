"""Every ledger command and rejection over real Kafka and PostgreSQL: holds,
full and partial commits, voids, reversals, expiry, closing, actors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, ActorKind
from contracts.ledger import (
    CloseLedgerAccount,
    CommitPointTransaction,
    ReversePointTransaction,
    VoidPointTransaction,
)
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.kafka_tools import command, has_type
from tests.ledger_client import Ledger, assert_invariants, make_ledger
from tests.random_refs import random_id


@pytest.fixture
async def client(
    ledger: ServiceRuntime, producer: AIOKafkaProducer, settings: Settings, watch: Any
) -> Ledger:
    return await make_ledger(producer, settings, watch)


def customer_of(account_owner: str) -> Actor:
    return Actor(kind=ActorKind.CUSTOMER, id=account_owner)


async def funded(client: Ledger, amount: int, **terms: Any) -> tuple[str, str]:
    unit = terms.pop("unit", random_id("points"))
    account_id = await client.open(unit=unit, **terms)
    if amount:
        result = await client.do(account_id, client.post(account_id, amount))
        assert result["status"] == "accepted", result
    return account_id, unit


async def test_a_pending_spend_holds_funds_and_a_full_commit_spends_them(
    client: Ledger, ledger: ServiceRuntime
) -> None:
    owner = random_id("cust")
    account_id, unit = await funded(client, 100, customer_id=owner)
    hold = client.post(account_id, -60, "spend", status="pending", references={"order_id": "o-1"})

    created = await client.do(account_id, hold, customer_of(owner))
    assert created["status"] == "accepted", created
    assert created["produced"] == {
        "transaction_id": hold.transaction_id,
        "account_id": account_id,
        "status": "pending",
        "balance": 100,
        "holds": 60,
        "available": 40,
    }
    over = await client.do(account_id, client.post(account_id, -41, "spend", status="pending"))
    assert over["code"] == "insufficient_funds"

    commit = CommitPointTransaction(account_id=account_id, transaction_id=hold.transaction_id)
    done = await client.do(account_id, commit)
    assert done["produced"]["committed"] == -60
    assert (done["produced"]["balance"], done["produced"]["holds"]) == (40, 0)
    [event] = await client.watcher.wait_for(
        has_type("PointTransactionCommitted", transaction_id=hold.transaction_id)
    )
    assert event.json()["payload"]["references"] == {"order_id": "o-1"}
    again = await client.do(account_id, commit)
    assert again["code"] == "not_pending"
    await assert_invariants(ledger.sessions, unit, account_id)


async def test_a_partial_commit_releases_the_rest(client: Ledger, ledger: ServiceRuntime) -> None:
    account_id, unit = await funded(client, 100)
    hold = client.post(account_id, -60, "spend", status="pending")
    await client.do(account_id, hold)

    too_much = await client.do(
        account_id,
        CommitPointTransaction(
            account_id=account_id, transaction_id=hold.transaction_id, amount=-61
        ),
    )
    assert too_much["code"] == "invalid_amount"
    done = await client.do(
        account_id,
        CommitPointTransaction(
            account_id=account_id, transaction_id=hold.transaction_id, amount=-25
        ),
    )
    assert (
        done["produced"].items()
        >= {"committed": -25, "released": -35, "balance": 75, "holds": 0}.items()
    )
    [event] = await client.watcher.wait_for(
        has_type("PointTransactionCommitted", transaction_id=hold.transaction_id)
    )
    assert (event.json()["payload"]["amount"], event.json()["payload"]["released"]) == (-25, -35)
    await assert_invariants(ledger.sessions, unit, account_id)


async def test_a_void_releases_the_hold_once(client: Ledger, ledger: ServiceRuntime) -> None:
    account_id, unit = await funded(client, 50)
    hold = client.post(account_id, -40, "spend", status="pending")
    await client.do(account_id, hold)
    void = VoidPointTransaction(
        account_id=account_id, transaction_id=hold.transaction_id, reason="cart emptied"
    )

    voided = await client.do(account_id, void)
    assert (voided["produced"]["holds"], voided["produced"]["available"]) == (0, 50)
    [event] = await client.watcher.wait_for(
        has_type("PointTransactionVoided", transaction_id=hold.transaction_id)
    )
    assert (event.json()["payload"]["reason"], event.json()["payload"]["note"]) == (
        "requested",
        "cart emptied",
    )
    assert (await client.do(account_id, void))["code"] == "not_pending"
    commit = CommitPointTransaction(account_id=account_id, transaction_id=hold.transaction_id)
    assert (await client.do(account_id, commit))["code"] == "not_pending"
    await assert_invariants(ledger.sessions, unit, account_id)


async def test_pending_credits_count_only_once_committed(
    client: Ledger, ledger: ServiceRuntime
) -> None:
    account_id, unit = await funded(client, 0)
    incoming = client.post(account_id, 70, "deposit", status="pending")
    created = await client.do(account_id, incoming)
    assert (created["produced"]["balance"], created["produced"]["available"]) == (0, 0)
    done = await client.do(
        account_id,
        CommitPointTransaction(account_id=account_id, transaction_id=incoming.transaction_id),
    )
    assert done["produced"]["balance"] == 70
    await assert_invariants(ledger.sessions, unit, account_id)


async def test_what_a_customer_may_and_may_not_do(client: Ledger, ledger: ServiceRuntime) -> None:
    owner = random_id("cust")
    account_id, _ = await funded(client, 100, customer_id=owner)
    me, someone_else = customer_of(owner), customer_of(random_id("cust"))
    hold = client.post(account_id, -10, "spend", status="pending")
    cases = [
        (
            client.post(account_id, -10, "spend", status="pending"),
            someone_else,
            "account_not_found",  # to a stranger, the account is not there
        ),
        (client.post(account_id, -10, "spend"), me, "forbidden"),
        (client.post(account_id, 10, "deposit", status="pending"), me, "forbidden"),
        (client.post(account_id, -10, "adjustment", status="pending"), me, "forbidden"),
        (
            CommitPointTransaction(account_id=account_id, transaction_id=hold.transaction_id),
            me,
            "forbidden",
        ),
        (
            VoidPointTransaction(account_id=account_id, transaction_id=hold.transaction_id),
            me,
            "forbidden",
        ),
        (
            ReversePointTransaction(
                account_id=account_id,
                transaction_id=hold.transaction_id,
                reversal_transaction_id=random_id("tx"),
            ),
            me,
            "forbidden",
        ),
        (CloseLedgerAccount(account_id=account_id), me, "forbidden"),
    ]
    assert (await client.do(account_id, hold, me))["status"] == "accepted"
    for payload, actor, code in cases:
        result = await client.do(account_id, payload, actor)
        assert (result["status"], result["code"]) == ("rejected", code), (payload, result)


async def test_partial_and_full_reversals_never_exceed_the_original(
    client: Ledger, ledger: ServiceRuntime
) -> None:
    account_id, unit = await funded(client, 0)
    deposit = client.post(account_id, 100)
    await client.do(account_id, deposit)

    def reverse(
        amount: int | None = None, of: str = deposit.transaction_id
    ) -> ReversePointTransaction:
        return ReversePointTransaction(
            account_id=account_id,
            transaction_id=of,
            reversal_transaction_id=random_id("rev"),
            amount=amount,
        )

    first = reverse(30)
    partial = await client.do(account_id, first)
    assert (
        partial["produced"].items() >= {"amount": -30, "reversible_rest": 70, "balance": 70}.items()
    )
    [event] = await client.watcher.wait_for(
        has_type("PointTransactionReversed", reversal_transaction_id=first.reversal_transaction_id)
    )
    assert (
        event.json()["payload"]["reversed_total"],
        event.json()["payload"]["reversible_rest"],
    ) == (30, 70)
    assert (await client.do(account_id, reverse(71)))["code"] == "reversal_exceeds_original"
    rest = await client.do(account_id, reverse())
    assert rest["produced"].items() >= {"amount": -70, "reversible_rest": 0, "balance": 0}.items()
    assert (await client.do(account_id, reverse(1)))["code"] == "reversal_exceeds_original"
    assert (await client.do(account_id, reverse(of=first.reversal_transaction_id)))[
        "code"
    ] == "not_reversible"
    assert (await client.do(account_id, reverse(of=random_id("tx"))))[
        "code"
    ] == "transaction_not_found"
    await assert_invariants(ledger.sessions, unit, account_id)


async def test_reversing_a_spend_refunds_and_reversing_spent_credit_is_refused(
    client: Ledger, ledger: ServiceRuntime
) -> None:
    account_id, unit = await funded(client, 0)
    deposit = client.post(account_id, 100)
    spend = client.post(account_id, -80, "spend")
    await client.do(account_id, deposit)
    await client.do(account_id, spend)

    refused = await client.do(
        account_id,
        ReversePointTransaction(
            account_id=account_id,
            transaction_id=deposit.transaction_id,
            reversal_transaction_id=random_id("rev"),
        ),
    )
    assert refused["code"] == "insufficient_funds"
    refund = await client.do(
        account_id,
        ReversePointTransaction(
            account_id=account_id,
            transaction_id=spend.transaction_id,
            reversal_transaction_id=random_id("rev"),
        ),
    )
    assert refund["produced"]["balance"] == 100
    pending_one = client.post(account_id, -5, "spend", status="pending")
    await client.do(account_id, pending_one)
    not_committed = await client.do(
        account_id,
        ReversePointTransaction(
            account_id=account_id,
            transaction_id=pending_one.transaction_id,
            reversal_transaction_id=random_id("rev"),
        ),
    )
    assert not_committed["code"] == "not_committed"
    await assert_invariants(ledger.sessions, unit, account_id)


async def test_an_expired_hold_is_voided_by_the_ledger(
    client: Ledger, ledger: ServiceRuntime
) -> None:
    account_id, unit = await funded(client, 30)
    hold = client.post(
        account_id,
        -30,
        "spend",
        status="pending",
        expires_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    creation = command(hold)
    created = await client.ask(account_id, creation)
    assert created["produced"]["available"] == 0

    [event] = await client.watcher.wait_for(
        has_type("PointTransactionVoided", transaction_id=hold.transaction_id), within_s=60
    )
    assert event.json()["payload"]["reason"] == "expired"
    assert event.json()["actor"]["kind"] == "system"
    assert event.json()["correlation_id"] == creation.correlation_id  # the cart's flow
    await client.watcher.wait_for(
        has_type(
            "BalanceChanged", account_id=account_id, transaction_id=hold.transaction_id, holds=0
        )
    )
    late = await client.do(
        account_id,
        CommitPointTransaction(account_id=account_id, transaction_id=hold.transaction_id),
    )
    assert late["code"] in ("not_pending", "hold_expired")
    past = client.post(
        account_id,
        -1,
        "spend",
        status="pending",
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    assert (await client.do(account_id, past))["code"] == "invalid_expiry"
    await assert_invariants(ledger.sessions, unit, account_id)


async def test_only_an_empty_account_closes_and_a_closed_one_takes_nothing(
    client: Ledger, ledger: ServiceRuntime
) -> None:
    account_id, _ = await funded(client, 10)
    close = CloseLedgerAccount(account_id=account_id)
    assert (await client.do(account_id, close))["code"] == "account_not_empty"
    await client.do(account_id, client.post(account_id, -10, "spend"))

    closed = await client.do(account_id, close)
    assert closed["produced"] == {"account_id": account_id, "status": "closed"}
    await client.watcher.wait_for(has_type("LedgerAccountClosed", account_id=account_id))
    assert (await client.do(account_id, client.post(account_id, 5)))["code"] == "account_closed"
    assert (await client.do(account_id, close))["produced"]["already_closed"] is True
    missing = random_id("acct")
    assert (await client.do(missing, CloseLedgerAccount(account_id=missing)))[
        "code"
    ] == "account_not_found"


async def test_transactions_belong_to_their_account(client: Ledger) -> None:
    first, _ = await funded(client, 10)
    second, _ = await funded(client, 10)
    hold = client.post(first, -5, "spend", status="pending")
    await client.do(first, hold)
    elsewhere = CommitPointTransaction(account_id=second, transaction_id=hold.transaction_id)
    assert (await client.do(second, elsewhere))["code"] == "transaction_not_found"
    duplicate = client.post(second, 5, transaction_id=hold.transaction_id)
    assert (await client.do(second, duplicate))["code"] == "transaction_exists"


async def test_every_command_replayed_with_its_key_gets_its_first_result(
    client: Ledger, ledger: ServiceRuntime
) -> None:
    account_id, unit = await funded(client, 100)
    hold = client.post(account_id, -30, "spend", status="pending")
    second_hold = client.post(account_id, -10, "spend", status="pending")
    deposit = client.post(account_id, 5)
    commit = CommitPointTransaction(account_id=account_id, transaction_id=hold.transaction_id)
    void = VoidPointTransaction(account_id=account_id, transaction_id=second_hold.transaction_id)
    reverse = ReversePointTransaction(
        account_id=account_id,
        transaction_id=deposit.transaction_id,
        reversal_transaction_id=random_id("rev"),
    )
    for payload in (hold, second_hold, deposit, commit, void, reverse):
        key = random_id("idem")
        first = await client.ask(account_id, command(payload, key=key))
        retry = await client.ask(account_id, command(payload, key=key))
        assert first["status"] == "accepted", first
        assert retry == first, payload  # the first result, word for word

    reversed_once = has_type(
        "PointTransactionReversed", reversal_transaction_id=reverse.reversal_transaction_id
    )
    committed_once = has_type("PointTransactionCommitted", transaction_id=hold.transaction_id)
    await client.watcher.wait_for(reversed_once)
    await client.watcher.wait_for(committed_once)
    fence = client.post(account_id, 1)  # its event follows any duplicate on the same partition
    state = await client.do(account_id, fence)
    assert (state["produced"]["balance"], state["produced"]["holds"]) == (100 - 30 + 1, 0)
    await client.watcher.wait_for(
        has_type("PointTransactionCreated", transaction_id=fence.transaction_id)
    )
    assert len(client.watcher.matching(reversed_once)) == 1
    assert len(client.watcher.matching(committed_once)) == 1
    await assert_invariants(ledger.sessions, unit, account_id)
