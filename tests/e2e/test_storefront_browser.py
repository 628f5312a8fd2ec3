"""The storefront path in a real browser: the example page clients/browser/storefront.html,
served from its own origin, calls the gateway (CORS) in headless Chromium as a signed-in
customer: the live balance, a pending spend paying a cart, a refusal shown with its
sentence, the checkout; what the page shows is checked against what the ledger says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium, static_site
from tests.e2e.conftest import System
from tests.gateway_client import Gateway, gateway_process, until
from tests.random_refs import random_id

PAGES = Path(__file__).resolve().parents[2] / "clients" / "browser"
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)  # waiting on what the page shows, never failing on speed


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with static_site(PAGES) as origin:
        yield origin


@pytest.fixture(scope="module")
def gateway(
    system: System, site: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    logs = tmp_path_factory.mktemp("storefront-gateway")
    with gateway_process(system.settings, logs, STORECREDIT_GATEWAY_CORS_ORIGINS=site) as running:
        yield running


@pytest.fixture
async def page(site: str) -> AsyncIterator[Page]:
    async with chromium() as browser:
        context = await browser.new_context()
        opened = await context.new_page()
        opened.set_default_timeout(WAIT_MS)
        await opened.goto(f"{site}/storefront.html")
        yield opened
        await context.close()


async def account_with_points(gateway: Gateway, customer: str, points: int) -> str:
    """A points account (1 point = 0.01 USD) made and filled by the back office."""
    account = random_id("acct")
    admin = gateway.admin.header
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
        made = await http.post(
            f"/v1/customers/{customer}/accounts",
            headers=admin,
            json={
                "account_id": account,
                "name": "Loyalty points",
                "kind": "loyalty",
                "unit": "points",
                "exchange_rates": {"USD": "0.01"},
            },
        )
        assert made.status_code == 200, made.text

        async def deposited() -> bool:
            answer = await http.post(
                f"/v1/accounts/{account}/transactions",
                headers={**admin, "Idempotency-Key": f"fill-{account}"},
                json={"transaction_id": f"{account}-fill", "amount": points, "kind": "deposit"},
            )
            assert answer.status_code in (200, 404, 503), answer.text
            return answer.status_code == 200  # 404 while the ledger account opens

        await until(deposited, timeout=120)
    return account


async def ledger_balance(gateway: Gateway, account: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
        answer = await http.get(f"/v1/accounts/{account}/balance", headers=gateway.admin.header)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


async def test_a_customer_pays_a_cart_with_points_from_the_storefront_page(
    gateway: Gateway, page: Page
) -> None:
    customer = random_id("cust")
    account = await account_with_points(gateway, customer, 1_000)

    await page.fill("#gateway", gateway.url)
    await page.fill("#token", gateway.identity.token(customer))
    await page.fill("#account", account)
    await page.click("#signin-button")
    await expect(page.locator("#message")).to_have_text(f"Signed in as {customer}.")
    await expect(page.locator("#balance")).to_have_text("1000")
    await expect(page.locator("#available")).to_have_text("1000")

    await page.click("#start-cart")
    await expect(page.locator("#order-status")).to_have_text("open")
    order_id = (await page.locator("#order-id").text_content() or "").strip()
    assert order_id.startswith("order-")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:  # the shop's back end
        added = await http.post(
            f"/v1/orders/{order_id}/line-items/products",
            headers=gateway.shop.header,
            json={"line_item_id": "mug", "sku": "MUG-1", "name": "Mug", "unit_price": 500},
        )
        assert added.status_code == 200, added.text
    await page.click("#refresh-cart")
    await expect(page.locator("#amount-due")).to_have_text("5.00")

    # More points than there are: refused, with the contract's sentence on the page.
    await page.fill("#points", "5000")
    await page.click("#use-points-button")
    await expect(page.locator("#message")).to_contain_text("insufficient_funds")
    assert await page.locator("#message").get_attribute("data-kind") == "error"
    await expect(page.locator("#available")).to_have_text("1000")

    await page.fill("#points", "500")
    await page.click("#use-points-button")
    await expect(page.locator("#message")).to_have_text("500 points are paying for your cart.")
    await expect(page.locator("#amount-due")).to_have_text("0.00")
    await expect(page.locator("#available")).to_have_text("500")  # held, live
    await expect(page.locator("#holds")).to_have_text("500")

    await page.click("#checkout")
    await expect(page.locator("#message")).to_have_text("Thank you: your order is placed.")
    assert await page.locator("#order-status").text_content() == "checked_out"
    # Fulfillment commits the spend: the page's live balance follows the ledger.
    await expect(page.locator("#balance")).to_have_text("500")
    await expect(page.locator("#holds")).to_have_text("0")
    ledger = await ledger_balance(gateway, account)
    assert (ledger["balance"], ledger["holds"], ledger["available"]) == (500, 0, 500)
    shown = await page.locator("#balance").get_attribute("data-version")
    assert shown == str(ledger["version"])


async def test_another_customers_account_is_refused_on_the_page(
    gateway: Gateway, page: Page
) -> None:
    owner, intruder = random_id("cust"), random_id("cust")
    account = await account_with_points(gateway, owner, 100)
    await page.fill("#gateway", gateway.url)
    await page.fill("#token", gateway.identity.token(intruder))
    await page.fill("#account", account)
    await page.click("#signin-button")
    await expect(page.locator("#message")).to_contain_text("account_not_found")
    assert await page.locator("#wallet").is_hidden()
