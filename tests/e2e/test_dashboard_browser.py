"""The Dashboard in a real browser: both product documents run by an admin from the back
office the gateway serves at /dashboard/, in headless Chromium, against the four services
on real Kafka and PostgreSQL. Every step checks what the page shows and what the ledger
says; refusals show their sentence; a code the admin types reaches no log.

With ``STORECREDIT_SCREENSHOTS=<folder>`` the test also saves the main pages as PNGs
(``make screenshots`` puts them in docs/images for the README).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Locator, Page, expect

from contracts import dead_letters as dlt
from contracts.customers import CustomerCreated
from contracts.envelope import Actor, ActorKind
from contracts.store_credit import CreatePointAccountTemplate
from contracts.topics import (
    ORDER_COMMANDS,
    ORDER_DEAD_LETTERS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_DEAD_LETTERS,
)
from shared.tools.platform_client import Platform
from tests.browser import chromium
from tests.e2e.conftest import System
from tests.gateway_client import Gateway, gateway_process, until
from tests.parking import park, signed_message
from tests.random_refs import random_id

WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)  # waiting on what the page shows, never failing on speed
SHOP = Actor(kind=ActorKind.SERVICE, id="shop")


@pytest.fixture(scope="module")
def gateway(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_process(system.settings, tmp_path_factory.mktemp("dashboard-gateway")) as running:
        yield running


@pytest.fixture
async def page(gateway: Gateway) -> AsyncIterator[Page]:
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        opened = await context.new_page()
        opened.set_default_timeout(WAIT_MS)
        await opened.goto(f"{gateway.url}/dashboard/")
        yield opened
        await context.close()


class Pictures:
    """The main pages as PNGs, when ``STORECREDIT_SCREENSHOTS`` names a folder."""

    def __init__(self) -> None:
        folder = os.environ.get("STORECREDIT_SCREENSHOTS")
        self.folder = Path(folder) if folder else None

    async def take(self, page: Page, name: str) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(self.folder / f"dashboard-{name}.png"), full_page=True)


async def sign_in(page: Page, gateway: Gateway) -> None:
    await page.get_by_label("API key").fill(f"{gateway.admin.key_id}.{gateway.admin.secret}")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#message")).to_have_text("Signed in.")


async def said(page: Page, text: str, kind: str = "ok") -> None:
    message = page.locator("#message")
    await expect(message).to_have_text(text)
    await expect(message).to_have_attribute("data-kind", kind)


async def refused(page: Page, code: str) -> str:
    """The refusal on the page: the contract's sentence, its code and the reason."""
    message = page.locator("#message")
    await expect(message).to_contain_text(f"({code}): ")
    await expect(message).to_have_attribute("data-kind", "error")
    return await message.text_content() or ""


async def settled(page: Page) -> None:
    """Every list on the page loaded, no button still at work."""
    await expect(page.locator("[aria-busy=true]")).to_have_count(0)
    await expect(page.get_by_text("Loading…", exact=True)).to_have_count(0)


async def open_view(page: Page, section: str) -> None:
    """Open a section from the navigation, once its view has replaced the one before."""
    before = await page.locator("main h1").element_handle()
    await page.get_by_role("navigation", name="Sections").get_by_role("link", name=section).click()
    if before is not None:
        await before.wait_for_element_state("hidden")  # detached: the new view is there
    await expect(page.locator("main h1")).to_be_visible()


async def in_pages(page: Page, row: Locator) -> Locator:
    """``row`` of a paged list, showing more until it is there (other tests' rows too)."""
    more = page.get_by_role("button", name="Show more")
    for _ in range(200):
        await settled(page)
        if await row.count() > 0:
            return row
        await more.click()
    raise AssertionError("the row never showed")


async def looked_up_until(page: Page, cell: Locator, text: str) -> None:
    """Find again (the page asks the services afresh) until ``cell`` shows ``text``."""

    async def shows() -> bool:
        await page.get_by_role("button", name="Find").click()
        await settled(page)
        return await cell.count() == 1 and (await cell.text_content() or "").strip() == text

    await until(shows, timeout=WAIT_MS / 1000, pause=0.5)


def local_minute(moment: datetime) -> str:
    """An ``<input type=datetime-local>`` value (the browser runs in this machine's zone)."""
    return moment.astimezone().strftime("%Y-%m-%dT%H:%M")


class Api:
    """The gateway as the customer and the shop's back end call it, and the ledger's word."""

    def __init__(self, gateway: Gateway, http: httpx.AsyncClient, customer: str) -> None:
        self.gateway, self.http, self.customer = gateway, http, customer
        self.me = gateway.identity.bearer(customer)

    async def send(self, path: str, body: dict[str, Any], who: dict[str, str]) -> Any:
        answer = await self.http.post(
            path, headers={**who, "Idempotency-Key": random_id("k")}, json=body
        )
        while answer.status_code == 202:
            answer = await self.http.get(answer.headers["location"], headers=who)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def get(self, path: str) -> Any:
        answer = await self.http.get(path, headers=self.gateway.admin.header)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def balance(self, account: str) -> tuple[int, int, int]:
        found = await self.get(f"/v1/accounts/{account}/balance")
        return found["balance"], found["holds"], found["available"]

    async def balance_becomes(self, account: str, expected: tuple[int, int, int]) -> None:
        """Wait until the ledger answers ``expected`` (balance, holds, available): the
        effects the gateway answered for (a checkout, a return) reach it a moment later."""
        last: list[tuple[int, int, int]] = []

        async def reached() -> bool:
            last[:] = [await self.balance(account)]
            return last[0] == expected

        try:
            await until(reached, timeout=WAIT_MS / 1000, pause=0.2)
        except TimeoutError as timed_out:
            raise AssertionError(
                f"balance of {account}: {last} never became {expected}"
            ) from timed_out

    async def order_where(self, order_id: str, condition: Any) -> dict[str, Any]:
        async def seen() -> dict[str, Any] | None:
            order: dict[str, Any] = (await self.get(f"/v1/orders/{order_id}"))["order"]
            return order if condition(order) else None

        found: dict[str, Any] = await until(seen, timeout=WAIT_MS / 1000)
        return found


async def test_an_admin_runs_both_product_documents_from_the_dashboard(
    gateway: Gateway, system: System, page: Page, producer: AIOKafkaProducer
) -> None:
    pictures = Pictures()
    run = random_id("dash")
    template_id, unit, customer = f"tpl-{run}", f"points:{run}", random_id("cust")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # A wrong key is refused on the page, and nothing else shows.
    await page.get_by_label("API key").fill(f"{gateway.admin.key_id}.not-the-secret")
    await page.get_by_role("button", name="Sign in").click()
    await refused(page, "unauthenticated")
    await expect(page.get_by_role("navigation", name="Sections")).to_be_hidden()
    await sign_in(page, gateway)

    # --- templates: create (a second time is refused), and later rename ------------------
    await expect(page.get_by_role("heading", name="Point-account templates")).to_be_visible()
    new_template = page.locator("form[aria-labelledby=new-template]")
    for _ in range(2):
        await new_template.get_by_label("Template id").fill(template_id)
        await new_template.get_by_label("Name", exact=True).fill("Loyalty points")
        await new_template.get_by_label("Kind").select_option("loyalty")
        await new_template.get_by_label("Unit").fill(unit)
        await new_template.get_by_label("1 point is worth").fill("0.01")
        await new_template.get_by_role("button", name="Create template").click()
        if _ == 0:
            await said(
                page, f"Template {template_id} created: new customers get an account from it."
            )
    await refused(page, "template_exists")
    row = await in_pages(page, page.locator(f"tr[data-template='{template_id}']"))
    await expect(row.locator("td").nth(3)).to_have_text(unit)
    await expect(row.locator(".badge")).to_have_text("active")
    await pictures.take(page, "templates")

    # --- a customer appears (the shop's CustomerCreated on Kafka) with an account ---------
    async with Platform(system.settings) as platform:
        created = CustomerCreated(customer_id=customer, email="grace@example.com", name="Grace")
        await platform.publish(customer, created, SHOP)
    await open_view(page, "Customers")
    await page.get_by_label("Customer id").fill(customer)
    await page.get_by_role("button", name="Find").click()
    # Its account from this template (other tests' active templates give it theirs too).
    ours = page.get_by_role("cell", name=unit, exact=True)
    account_row = page.locator("tr[data-account]", has=ours)
    balance_cell = account_row.locator("td").nth(4)
    await looked_up_until(page, balance_cell, "0")  # made from the template, opened by the ledger
    account = await account_row.get_attribute("data-account")
    assert account is not None
    account_row = page.locator(f"tr[data-account='{account}']")
    balance_cell = account_row.locator("td").nth(4)
    await expect(account_row.locator("td").nth(1)).to_have_text("Loyalty points")

    # --- deposit, and a spend (a committed negative transaction); one too large refused ---
    deposit = page.locator("form", has=page.get_by_role("heading", name="Deposit points"))
    await deposit.locator("select[name=account_id]").select_option(account)
    await deposit.get_by_label("Points", exact=True).fill("1000")
    await deposit.get_by_label("Description").fill("Welcome bonus")
    await deposit.get_by_role("button", name="Deposit points").click()
    await said(page, "Deposit points: done. The balance is 1000.")
    await expect(balance_cell).to_have_text("1000")
    spend = page.locator("form", has=page.get_by_role("heading", name="Spend points"))
    await spend.locator("select[name=account_id]").select_option(account)
    await spend.get_by_label("Points", exact=True).fill("5000")
    await spend.get_by_role("button", name="Spend points").click()
    sentence = await refused(page, "insufficient_funds")
    assert sentence.startswith("What the account has available (balance less holds")
    await spend.locator("select[name=account_id]").select_option(account)
    await spend.get_by_label("Points", exact=True).fill("100")
    await spend.get_by_role("button", name="Spend points").click()
    await said(page, "Spend points: done. The balance is 900.")
    await expect(balance_cell).to_have_text("900")

    # --- an account made directly, without a template ---------------------------------------
    wallet = random_id("wallet")
    direct = page.locator(
        "form", has=page.get_by_role("heading", name="Create an account directly")
    )
    await direct.get_by_label("Account id").fill(wallet)
    await direct.get_by_label("Name").fill("Gift wallet")
    await direct.get_by_label("Kind").select_option("store_credit")
    await direct.get_by_label("Unit").fill(f"{unit}-wallet")
    await direct.get_by_label("1 point is worth (USD)").fill("0.01")
    await direct.get_by_role("button", name="Create account").click()
    await said(
        page, f"Account {wallet} created for {customer}; its ledger side opens a moment later."
    )
    wallet_row = page.locator(f"tr[data-account='{wallet}']")
    await looked_up_until(page, wallet_row.locator("td").nth(4), "0")
    await expect(wallet_row.locator("td").nth(2)).to_have_text("store_credit")

    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
        api = Api(gateway, http, customer)
        await api.balance_becomes(account, (900, 0, 900))

        # --- the template's rename reaches the account ------------------------------------
        await open_view(page, "Templates")
        row = await in_pages(page, page.locator(f"tr[data-template='{template_id}']"))
        await row.get_by_label(f"New name of {template_id}").fill("Rewards points")
        await row.get_by_role("button", name="Rename").click()
        await said(page, f"Template {template_id} renamed: its accounts follow.")
        await open_view(page, "Customers")
        await page.get_by_label("Customer id").fill(customer)
        await looked_up_until(page, account_row.locator("td").nth(1), "Rewards points")
        await pictures.take(page, "customer")

        # --- the account's history, with its chart ----------------------------------------
        await page.get_by_role("link", name=account).click()
        await expect(page.get_by_role("heading", name=f"Account {account}")).to_be_visible()
        await expect(page.locator("dd[data-field=balance]")).to_have_text("900")
        history = page.locator("tr[data-transaction]")
        await expect(history).to_have_count(2)
        await expect(history.first.locator("td").nth(4)).to_have_text("-100")
        chart = page.get_by_role("img", name="Balance over the last 2 transactions, from 0 to 900")
        await expect(chart).to_be_visible()
        await pictures.take(page, "account")

        # --- a store credit from the full form; its code shown once --------------------------
        code = str(int.from_bytes(os.urandom(8)) % 10**16).zfill(16)
        await open_view(page, "Store credits")
        await page.get_by_label("Customer id").fill(customer)
        await page.get_by_role("button", name="Find").click()
        await expect(page.get_by_text("This customer has no store credits.")).to_be_visible()
        form = page.locator("form[aria-labelledby=new-credit]")
        now = datetime.now(UTC)
        await form.get_by_label("Name", exact=True).fill("Birthday gift")
        await form.get_by_label("Description").fill("For Grace's birthday")
        await form.get_by_label("Code (empty: generated)").fill(code)
        await form.get_by_label("Amount (minor units: 5495 = 54.95)").fill("2500")
        await expect(form.locator("output[name=balance]")).to_have_text("2500")
        await form.get_by_label("Currency").fill("USD")
        await form.get_by_label("External id").fill(f"ext-{run}")
        await form.get_by_label("Active date").fill(local_minute(now - timedelta(days=1)))
        await form.get_by_label("Expiry date").fill(local_minute(now + timedelta(days=30)))
        await expect(form.get_by_label("Allow balance owing")).not_to_be_checked()
        await expect(form.get_by_label("Disabled")).not_to_be_checked()
        await expect(form.get_by_label("Customer")).to_have_value(customer)
        await form.get_by_role("button", name="Create store credit").click()
        await expect(page.locator("[data-field=new-code]")).to_have_text(code)
        await pictures.take(page, "store-credit-created")
        credit_row = page.locator("tr[data-credit]")
        await looked_up_until(page, credit_row.locator("td").nth(4), "25.00 USD")
        await expect(page.locator("[data-field=new-code]")).to_have_count(0)  # shown once
        await expect(credit_row.locator("td").nth(2)).to_have_text(f"******{code[-4:]}")
        await expect(credit_row.locator(".badge")).to_have_text("usable")
        credit_id = await credit_row.get_attribute("data-credit")
        # Found by its code (sealed by the gateway on its way): shown masked.
        heading = page.get_by_role("heading", name="Find a credit by its code")
        by_code = page.locator("form", has=heading)
        await by_code.get_by_label("Code").fill(f"{code[:4]} {code[4:8]} {code[8:]}")
        await by_code.get_by_role("button", name="Look up").click()
        found = by_code.locator("tbody tr")
        await expect(found.locator("td").nth(0)).to_have_text(credit_id or "")
        await expect(found.locator("td").nth(2)).to_have_text(f"******{code[-4:]}")
        await expect(by_code.get_by_label("Code")).to_have_value("")
        # Updated by the rules: the amount only above the balance.
        await credit_row.get_by_role("button", name="Edit").click()
        edit = page.locator("form", has=page.get_by_role("heading", name="Edit Birthday gift"))
        await edit.get_by_label("Amount (minor units; balance 2500)").fill("2000")
        await edit.get_by_role("button", name="Save").click()
        await refused(page, "amount_not_above_balance")
        await edit.get_by_label("Amount (minor units; balance 2500)").fill("3000")
        await edit.get_by_role("button", name="Save").click()
        await said(page, f"Store credit {credit_id} updated.")
        await looked_up_until(page, credit_row.locator("td").nth(4), "30.00 USD")
        await pictures.take(page, "store-credits")

        # --- the customer, over the gateway, pays with points and the credit ------------------
        order_id, spend_id = random_id("order"), random_id("spend")
        await api.send(
            f"/v1/accounts/{account}/transactions",
            {"transaction_id": spend_id, "amount": -400, "kind": "spend", "status": "pending"},
            api.me,
        )
        await api.send(
            "/v1/orders", {"order_id": order_id, "customer_id": customer, "currency": "USD"}, api.me
        )
        kettle = {"line_item_id": "kettle", "sku": "KETTLE-1", "name": "Kettle", "unit_price": 3400}
        await api.send(f"/v1/orders/{order_id}/line-items/products", kettle, gateway.shop.header)
        points = {"line_item_id": "points", "transaction_id": spend_id}
        await api.send(f"/v1/orders/{order_id}/line-items/point-spends", points, api.me)
        await api.send(
            f"/v1/orders/{order_id}/store-credits", {"application_id": "gift", "code": code}, api.me
        )
        await api.order_where(
            order_id,
            lambda o: o["applied_credits"] and o["applied_credits"][0]["status"] == "held",
        )
        await api.send(f"/v1/orders/{order_id}/checkout", {}, api.me)
        await api.order_where(order_id, lambda o: o["status"] == "checked_out")
        await api.balance_becomes(account, (500, 0, 500))  # the spend committed by fulfillment

        # --- the order in the Dashboard: items, the credit masked, totals, fulfillment --------
        await open_view(page, "Orders")
        await page.get_by_label("Order id").fill(order_id)
        await page.get_by_role("button", name="Find").click()
        await expect(page.locator("[data-field=order-status]")).to_have_text("checked_out")
        await expect(page.get_by_role("cell", name="Kettle").first).to_be_visible()
        await expect(page.get_by_role("cell", name=f"******{code[-4:]}")).to_be_visible()
        await expect(page.locator("dd[data-field=amount_due]")).to_have_text("0.00 USD")
        await expect(page.locator("dd[data-field=store_credit_applied]")).to_have_text("30.00 USD")
        points_item = page.locator(
            "tr[data-item]", has=page.get_by_role("cell", name="points_spent")
        )
        await expect(points_item.locator(".badge")).to_have_text("fulfilled")
        kettle_item = page.locator("tr[data-item]", has=page.get_by_role("cell", name="Kettle"))
        await expect(kettle_item.locator(".badge")).to_have_text("pending")
        await kettle_item.get_by_role("button", name="Mark fulfilled").click()
        await said(page, "Kettle fulfilled.")
        await expect(kettle_item.locator(".badge")).to_have_text("fulfilled")
        await pictures.take(page, "order")

        # --- a return: the points reversed, the credit given back ---------------------------
        await points_item.get_by_label("Reason").fill("changed their mind")
        await points_item.get_by_role("button", name="Mark returned").click()
        await said(page, "Return completed.")
        reversal = page.locator("tr[data-return]", has=page.get_by_role("cell", name="points"))
        await expect(reversal.locator("td").nth(6)).to_have_text(
            f"points back to {account} (reversal of {spend_id})"
        )
        await api.balance_becomes(account, (900, 0, 900))
        await expect(points_item.locator("td").nth(4)).to_have_text("1 of 1")
        await kettle_item.get_by_role("button", name="Mark returned").click()
        await said(page, "Return completed.")
        refund = page.locator("tr[data-return]", has=page.get_by_role("cell", name="kettle"))
        await expect(refund.locator("td").nth(2)).to_have_text("completed")
        await expect(refund.locator("td").nth(4)).to_have_text("done")
        await expect(refund.locator("td").nth(3)).to_have_text("restore_store_credit")
        await expect(refund.locator("td").nth(5)).to_have_text("30.00 USD")
        await expect(refund.locator("td").nth(6)).to_contain_text(
            f"back to store credit {credit_id}"
        )

        async def credit_restored() -> bool:
            listed = await api.get(f"/v1/customers/{customer}/store-credits")
            return bool(listed["store_credits"][0]["balance"] == 3000)

        await until(credit_restored, timeout=WAIT_MS / 1000)
        await pictures.take(page, "order-returned")

        # --- the credit disabled, the template deactivated ----------------------------------
        await open_view(page, "Store credits")
        await page.get_by_label("Customer id").fill(customer)
        await looked_up_until(page, credit_row.locator("td").nth(4), "30.00 USD")
        await credit_row.get_by_role("button", name="Edit").click()
        await expect(edit.get_by_label("External id")).to_have_value(f"ext-{run}")
        await edit.get_by_label("Description").fill("Given back after a return")
        await edit.get_by_label("Expiry date").fill("")  # emptied: cleared, never expires
        await edit.get_by_label("Disabled").check()
        await edit.get_by_role("button", name="Save").click()
        await said(page, f"Store credit {credit_id} updated.")
        await looked_up_until(page, credit_row.locator("td").nth(7), "disabled")
        await expect(credit_row.locator("td").nth(6)).to_have_text("never")
        [listed] = (await api.get(f"/v1/customers/{customer}/store-credits"))["store_credits"]
        assert listed["disabled"] is True and listed["expiry_date"] is None
        assert listed["description"] == "Given back after a return"
        assert listed["external_id"] == f"ext-{run}" and listed["balance"] == 3000

    await open_view(page, "Templates")
    row = await in_pages(page, page.locator(f"tr[data-template='{template_id}']"))
    rates = row.get_by_label(f"Rates of {template_id}")
    await rates.fill("a cent")
    await row.get_by_role("button", name="Set").click()
    await said(page, '"a cent" is not a rate and a currency, such as 0.01 USD.', "error")
    await rates.fill("0.02 USD, 0.018 eur")
    await row.get_by_role("button", name="Set").click()
    await said(page, f"Template {template_id}'s rates set: its accounts follow.")
    row = await in_pages(page, page.locator(f"tr[data-template='{template_id}']"))
    await expect(row.get_by_label(f"Rates of {template_id}")).to_have_value(
        re.compile(r"^(0\.02 USD, 0\.018 EUR|0\.018 EUR, 0\.02 USD)$")
    )
    await row.get_by_role("button", name="Deactivate").click()
    await said(page, f"Template {template_id} is inactive.")
    row = await in_pages(page, page.locator(f"tr[data-template='{template_id}']"))
    await expect(row.locator(".badge")).to_have_text("inactive")

    # --- operations: what needs a person, consumer lag, dead letters ------------------------
    settings = system.settings
    marker = random_id("junk")
    redacted = {dlt.REDACTED: "true", dlt.REASON: "undecodable"}
    orders = settings.topic(ORDER_COMMANDS)
    await park(producer, settings.topic(ORDER_DEAD_LETTERS), b"{not json", marker, orders, redacted)
    fixed_template = random_id("tpl-fixed")
    command = CreatePointAccountTemplate(
        template_id=fixed_template, name="Fixed", kind="loyalty", unit=f"points:{fixed_template}"
    )
    value, signed = signed_message(settings, command)
    credits = settings.topic(STORE_CREDIT_COMMANDS)
    await park(
        producer, settings.topic(STORE_CREDIT_DEAD_LETTERS), value, fixed_template, credits, signed
    )

    await open_view(page, "Operations")
    await expect(page.get_by_role("heading", name="Needs a person")).to_be_visible()
    await settled(page)
    lag = page.locator(
        f"tr[data-group='{settings.topic_prefix}storecredit-store_credit'][data-topic='{credits}']"
    )
    await expect(lag.locator("td").nth(1)).to_have_text("store-credit")
    await expect(lag.locator(".badge")).to_have_text(re.compile(r"^\d+$"))
    services = page.get_by_role("navigation", name="Services")
    await services.get_by_role("link", name="order").click()
    parked = page.locator("tr[data-offset]", has=page.get_by_role("cell", name=marker))
    await expect(parked.locator("td").nth(1)).to_have_text("undecodable")
    await expect(parked.locator("td").nth(3)).to_have_text(f"{orders} [0] @3")
    await expect(parked.locator("td").nth(6)).to_have_text("redacted: send a corrected message")
    await services.get_by_role("link", name="store-credit").click()
    parked = page.locator("tr[data-offset]", has=page.get_by_role("cell", name=fixed_template))
    await expect(parked.locator("td").nth(1)).to_have_text("handler_failed")
    await expect(parked.locator("td").nth(4)).to_have_text("CreatePointAccountTemplate")
    await settled(page)
    await pictures.take(page, "operations")
    await parked.get_by_role("button", name="Re-drive").click()
    await expect(page.locator("#message")).to_contain_text(f"Sent back to {credits} [")
    await open_view(page, "Templates")
    fixed = await in_pages(page, page.locator(f"tr[data-template='{fixed_template}']"))
    await expect(fixed.locator("td").nth(3)).to_have_text(f"points:{fixed_template}")

    # The code the admin typed reached no log, the gateway's or a service's.
    for log in [gateway.log, *(service.log for service in system.services.values())]:
        assert code not in log.read_text(errors="replace"), log.name
