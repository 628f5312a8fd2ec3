"""Every story of both seed documents, end to end: the four services as separate
processes, talking only through Kafka, each with its own PostgreSQL database.

The stories are the ones ``make demo`` tells (shared/tools/demo); they are played once
over Kafka and once through the HTTP gateway, and each test checks what one story must
have left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shared.tools.demo.cast import Cast
from shared.tools.demo.narration import Silent
from shared.tools.demo.play import Played, play_all
from shared.tools.gateway_platform import GatewayPlatform
from shared.tools.local_gateway import use_local_gateway
from shared.tools.platform_client import Platform
from tests.e2e.conftest import System
from tests.gateway_client import gateway_process


@pytest.fixture(scope="module", params=["kafka", "http"])
async def platform(
    request: pytest.FixtureRequest, system: System, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    """The stories over Kafka, and again through the HTTP gateway (``make demo VIA=http``),
    signed in as ``make run``'s local sign-in signs in."""
    if request.param == "kafka":
        async with Platform(system.settings) as client:
            yield client
        return
    local_sign_in: dict[str, str] = {}
    use_local_gateway(local_sign_in)
    logs = tmp_path_factory.mktemp("stories-gateway")
    with gateway_process(system.settings, logs, **local_sign_in) as gateway:
        async with GatewayPlatform(system.settings, gateway.url) as client:
            yield client


@pytest.fixture(scope="module")
async def played(platform: Platform) -> Played:
    return await play_all(platform, Silent(), Cast())


async def test_templates_give_a_new_customer_accounts_and_a_rename_reaches_them(
    played: Played,
) -> None:
    accounts = played.accounts
    assert accounts.names_before == {
        accounts.loyalty: "Loyalty points",
        accounts.wallet: "Store credit",
    }
    assert accounts.names_after == {
        accounts.loyalty: "Rewards points",
        accounts.wallet: "Store credit",
    }


async def test_an_admin_deposit_moves_the_balance_at_once(played: Played) -> None:
    before, after = played.deposit.before, played.deposit.after
    assert (before["balance"], after["balance"], after["holds"]) == (0, 5_000, 0)


async def test_points_spent_in_a_cart_are_committed_by_fulfillment_with_one_balance_change(
    played: Played, platform: Platform
) -> None:
    spend = played.spend
    [points_line] = [i for i in spend.order["line_items"] if i["kind"] == "point_transaction"]
    assert (points_line["amount"], points_line["points"]) == (-3_000, -3_000)
    assert spend.order["pending_spends"] == [
        {
            "line_item_id": "points",
            "account_id": played.accounts.wallet,
            "transaction_id": spend.transaction_id,
            "amount": -3_000,
        }
    ]
    assert spend.order["totals"]["total"] == 500
    assert {i["kind"]: (i["status"], i["amount"]) for i in spend.fulfillment["items"]} == {
        "points_spent": ("fulfilled", -3_000),
        "points_earned": ("fulfilled", 300),
        "deposit": ("fulfilled", 500),
        "manual": ("fulfilled", None),
    }
    assert (spend.wallet_after["balance"], spend.wallet_after["holds"]) == (2_000, 0)
    assert spend.loyalty_after["balance"] == 800  # 2 x 150 earned + the 500-point gift

    # Other services see each change of the account once, in order: opened, the deposit,
    # the hold, its commit (one change), the reversal of the return.
    def wallet_changes() -> list[tuple[int, int]]:
        found = platform.events("BalanceChanged", lambda b: b["account_id"] == wallet)
        return [(c["balance"], c["holds"]) for c in found]

    wallet = played.accounts.wallet
    async with asyncio.timeout(60):  # until the reversal's change, the last, has come
        while (5_000, 0) not in wallet_changes()[wallet_changes().index((2_000, 0)) :]:
            await asyncio.sleep(0.1)
    changes = platform.events("BalanceChanged", lambda b: b["account_id"] == wallet)
    assert wallet_changes() == [
        (0, 0),
        (5_000, 0),
        (5_000, 3_000),
        (2_000, 0),
        (5_000, 0),
    ]
    assert [c["version"] for c in changes] == sorted({c["version"] for c in changes})


async def test_a_return_reverses_the_points_once(played: Played) -> None:
    refund = played.refund
    assert [(p["kind"], p["amount"], p["status"]) for p in refund.parts] == [
        ("reverse_points_spent", 3_000, "done")
    ]
    assert refund.retry["status"] == "accepted"
    assert (refund.wallet_after["balance"], refund.wallet_after["holds"]) == (5_000, 0)


async def test_two_store_credits_pay_the_seed_order_and_a_card_pays_the_rest(
    played: Played,
) -> None:
    orders = played.credit_orders
    paid = orders.paid_by_credits
    assert paid["status"] == "checked_out"
    assert [(c["code"], c["status"], c["held"], c["applied"]) for c in paid["applied_credits"]] == [
        ("******" + orders.first.code[-4:], "captured", 3_000, 3_000),
        ("******" + orders.second.code[-4:], "captured", 2_495, 2_495),
    ]
    totals = paid["totals"]
    assert (totals["subtotal"], totals["shipping"], totals["total"]) == (3_000, 2_495, 5_495)
    assert (totals["store_credit_applied"], totals["amount_due"], totals["paid_externally"]) == (
        5_495,
        0,
        0,
    )
    assert orders.credits_checkout["payment"] is None
    assert [(b["balance"], b["holds"]) for b in orders.credit_balances] == [
        (0, 0),
        (159_000 - 2_495, 0),
    ]

    card = orders.card_checkout
    assert [(h["held"], h["capture"]) for h in card["holds"]] == [(-2_000, -2_000)]
    assert card["payment"] == {
        "provider_reference_name": "Stripe-USD",
        "amount": 3_495,
        "reference": "******FLrq",  # the token stays with the order
    }
    assert (card["totals"]["amount_due"], card["totals"]["paid_externally"]) == (3_495, 3_495)


async def test_a_credit_amount_may_only_be_raised_above_its_balance(played: Played) -> None:
    raised = played.raised
    assert (raised.before["amount"], raised.before["balance"]) == (159_000, 156_505)
    assert raised.lower["code"] == "amount_not_above_balance"
    assert raised.higher["status"] == "accepted"
    assert (raised.after["amount"], raised.after["balance"]) == (200_000, 200_000)


async def test_expired_disabled_and_not_yet_active_credits_are_refused(played: Played) -> None:
    refusals = played.refusals
    expected = {"expired": "expired", "disabled": "disabled", "not yet active": "not_yet_active"}
    assert {name: view["unusable_code"] for name, view in refusals.found.items()} == expected
    assert {name: view["usable"] for name, view in refusals.found.items()} == dict.fromkeys(
        expected, False
    )
    assert {
        name: (credit["status"], credit["refusal_code"], credit["held"])
        for name, credit in refusals.applied.items()
    } == {name: ("refused", code, 0) for name, code in expected.items()}
    assert (refusals.totals["store_credit_applied"], refusals.totals["amount_due"]) == (0, 1_000)


async def test_every_service_reports_what_it_handled_and_parked_nothing(
    played: Played, system: System
) -> None:
    for name, service in system.services.items():
        metrics = await asyncio.to_thread(service.scrape)
        accepted = sum(
            value
            for labels, value in metrics.get("storecredit_commands_total", [])
            if labels.get("outcome") == "accepted"
        )
        assert accepted > 0, f"{name} reports no accepted command"
        parked = sum(value for _, value in metrics.get("storecredit_dead_letters_total", []))
        assert parked == 0, f"{name} dead-lettered {parked} messages"
