"""The point-account seed's stories: templates, a deposit, a customer's spend through
checkout and auto-fulfillment, and a return that gives the points back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contracts.customers import CustomerCreated
from contracts.fulfillment import FulfillItem, ReturnItem
from contracts.ledger import CreatePointTransaction, PointTransactionKind, PointTransactionStatus
from contracts.order import (
    AddDepositLineItem,
    AddPointTransactionLineItem,
    AddProductLineItem,
    CheckoutOrder,
    EarnPoints,
    ExternalPayment,
)
from contracts.store_credit import (
    CreatePointAccountTemplate,
    ListCustomerAccounts,
    UpdatePointAccountTemplate,
)
from shared.tools.demo.cast import ADMIN, SHOP, WAREHOUSE, Cast, ledger_balance
from shared.tools.demo.narration import Narrator, money
from shared.tools.demo.steps import (
    accepted,
    balance_rows,
    checked_out,
    fulfilled,
    open_cart,
    returned,
    totals_rows,
)
from shared.tools.platform_client import Answer, Platform


@dataclass(frozen=True)
class Accounts:
    """What the templates story leaves: a customer with two accounts made from templates."""

    loyalty_template: str
    wallet_template: str
    loyalty: str
    wallet: str
    names_before: dict[str, str]
    names_after: dict[str, str]


@dataclass(frozen=True)
class Deposit:
    before: Answer
    after: Answer


@dataclass(frozen=True)
class Spend:
    order_id: str
    transaction_id: str
    order: Answer
    fulfillment: Answer
    wallet_after: Answer
    loyalty_after: Answer


@dataclass(frozen=True)
class Refund:
    parts: list[Answer]
    wallet_after: Answer
    retry: Answer


async def templates_give_accounts(platform: Platform, say: Narrator, cast: Cast) -> Accounts:
    say.story(
        "Templates give a new customer their point accounts",
        "An admin defines two templates; a customer created upstream gets one account of\n"
        "each; renaming a template renames every account made from it.",
    )
    loyalty_template, wallet_template = cast.id("tpl-loyalty"), cast.id("tpl-wallet")
    templates = [
        CreatePointAccountTemplate(
            template_id=loyalty_template,
            name="Loyalty points",
            kind="loyalty",
            unit=cast.unit("loyalty"),
            exchange_rates={"USD": Decimal("0.01")},
        ),
        CreatePointAccountTemplate(
            template_id=wallet_template,
            name="Store credit",
            kind="store_credit",
            unit=cast.unit("wallet"),
            exchange_rates={"USD": Decimal("0.01")},
        ),
    ]
    for template in templates:
        answer = await platform.do(template.template_id, template, ADMIN)
        accepted(answer)
        say.step(
            f'admin creates template "{template.name}" ({template.kind}, unit '
            f"{template.unit}, 1 point = 0.01 USD): {answer['status']}"
        )
    await platform.publish(
        cast.customer_id,
        CustomerCreated(customer_id=cast.customer_id, email="ada@example.com", name="Ada"),
        SHOP,
    )
    say.step(f"the shop publishes CustomerCreated for {cast.customer_id} on customers.events")
    made = {
        template.template_id: await platform.event(
            "PointAccount",
            lambda a, t=template.template_id: (  # type: ignore[misc]
                a["customer_id"] == cast.customer_id and a["template_id"] == t
            ),
        )
        for template in templates
    }
    loyalty, wallet = made[loyalty_template]["account_id"], made[wallet_template]["account_id"]
    for account_id in (loyalty, wallet):
        await platform.event("BalanceChanged", lambda b, a=account_id: b["account_id"] == a)  # type: ignore[misc]
    before = await _show_accounts(platform, say, cast, {loyalty, wallet})
    rename = UpdatePointAccountTemplate(template_id=loyalty_template, name="Rewards points")
    accepted(await platform.do(loyalty_template, rename, ADMIN))
    say.step('admin renames template "Loyalty points" to "Rewards points"')
    await platform.event(
        "PointAccount", lambda a: a["account_id"] == loyalty and a["name"] == "Rewards points"
    )
    after = await _show_accounts(platform, say, cast, {loyalty, wallet})
    return Accounts(loyalty_template, wallet_template, loyalty, wallet, before, after)


async def _show_accounts(
    platform: Platform, say: Narrator, cast: Cast, ours: set[str]
) -> dict[str, str]:
    reply = await platform.ask(
        cast.customer_id, ListCustomerAccounts(customer_id=cast.customer_id), cast.customer
    )
    accounts = [a for a in reply["point_accounts"] if a["account_id"] in ours]
    say.step(f"{cast.customer_id} lists their accounts (ListCustomerAccounts):")
    say.table(
        ["account", "name", "kind", "unit", "USD per point", "balance"],
        [
            [a[field] for field in ("account_id", "name", "kind", "unit")]
            + [a["exchange_rates"]["USD"], a["balance"]]
            for a in accounts
        ],
    )
    return {a["account_id"]: a["name"] for a in accounts}


async def admin_deposit(
    platform: Platform, say: Narrator, cast: Cast, accounts: Accounts
) -> Deposit:
    say.story(
        "An admin deposits points",
        "A committed deposit: the balance moves at once (the seed's first way to deposit).",
    )
    before = await ledger_balance(platform, accounts.wallet)
    deposit = CreatePointTransaction(
        account_id=accounts.wallet,
        transaction_id=cast.id("tx-welcome"),
        amount=5_000,
        kind=PointTransactionKind.DEPOSIT,
        description="Welcome credit",
    )
    accepted(await platform.do(accounts.wallet, deposit, ADMIN))
    say.step("admin commits a deposit of 5,000 points to the store-credit account")
    after = await ledger_balance(platform, accounts.wallet)
    say.table(*balance_rows([("before", before), ("after", after)]))
    return Deposit(before, after)


async def spend_points_at_checkout(
    platform: Platform, say: Narrator, cast: Cast, accounts: Accounts
) -> Spend:
    say.story(
        "A customer pays with points; fulfillment commits them",
        "The customer holds 3,000 points (a pending spend) and puts it in the cart as a line\n"
        "item worth 30.00 USD; the shop adds mugs that earn points and a gift of points;\n"
        "at checkout, auto-fulfillment commits the spend, the deposit and the points earned.",
    )
    spend_id, order_id = cast.id("tx-spend"), cast.id("ord-points")
    spend = CreatePointTransaction(
        account_id=accounts.wallet,
        transaction_id=spend_id,
        amount=-3_000,
        kind=PointTransactionKind.SPEND,
        status=PointTransactionStatus.PENDING,
    )
    accepted(await platform.do(accounts.wallet, spend, cast.customer))
    held = await ledger_balance(platform, accounts.wallet)
    say.step("the customer creates a pending spend of -3,000 points on their own account")
    say.table(*balance_rows([("held", held)]))
    mugs = AddProductLineItem(
        order_id=order_id,
        line_item_id="mugs",
        sku="MUG-1",
        name="Mug",
        unit_price=1_500,
        quantity=2,
        earn=EarnPoints(unit=cast.unit("loyalty"), points_per_unit=150),
    )
    gift = AddDepositLineItem(
        order_id=order_id,
        line_item_id="gift",
        sku="GIFT-500",
        name="500 reward points",
        unit_price=500,
        account_id=accounts.loyalty,
        points_per_unit=500,
    )
    await open_cart(platform, cast, order_id, mugs, gift)
    target = AddPointTransactionLineItem(
        order_id=order_id, line_item_id="points", transaction_id=spend_id
    )
    accepted(await platform.settled(order_id, target, cast.customer))
    say.step("the cart: two mugs (150 points each), a 500-point gift, and the pending spend")
    order = await platform.event(
        "Order", lambda o: o["order_id"] == order_id and len(o["line_items"]) == 3
    )
    say.table(
        ["line item", "kind", "quantity", "amount", "points"],
        [
            (i["name"], i["kind"], i["quantity"], money(i["amount"]), i["points"])
            for i in order["line_items"]
        ],
    )
    say.table(["total", "USD"], totals_rows(order["totals"]))
    card = ExternalPayment(provider_reference_name="Stripe-USD", token="tok_visa", amount=500)
    accepted(await platform.do(order_id, CheckoutOrder(order_id=order_id, payment=card), SHOP))
    say.step("the shop checks out, the card paying the 5.00 due")
    checked = await checked_out(platform, order_id)
    fulfillment = await fulfilled(platform, say, order_id)
    [mugs] = [i for i in fulfillment["items"] if i["kind"] == "manual"]
    ship = FulfillItem(order_id=order_id, fulfillment_item_id=mugs["fulfillment_item_id"])
    accepted(await platform.do(order_id, ship, WAREHOUSE))
    say.step("the warehouse ships the mugs (a manual fulfillment item)")
    fulfillment = await platform.event(
        "Fulfillment",
        lambda f: f["order_id"] == order_id and all(i["status"] == "fulfilled" for i in f["items"]),
    )
    wallet, loyalty = (
        await ledger_balance(platform, accounts.wallet),
        await ledger_balance(platform, accounts.loyalty),
    )
    say.step("balances after fulfillment:")
    say.table(*balance_rows([("store credit", wallet), ("rewards", loyalty)]))
    return Spend(order_id, spend_id, checked, fulfillment, wallet, loyalty)


async def return_gives_points_back(
    platform: Platform, say: Narrator, cast: Cast, accounts: Accounts, spend: Spend
) -> Refund:
    say.story(
        "A return reverses the points spent",
        "The admin marks the point line item returned; fulfillment reverses the committed\n"
        "spend, once, even when the shop sends the return again.",
    )
    give_back = ReturnItem(
        order_id=spend.order_id, return_id=cast.id("ret-1"), line_item_id="points"
    )
    key = cast.id("return-points")
    accepted(await platform.do(spend.order_id, give_back, ADMIN, idempotency_key=key))
    say.step("admin returns the point line item")
    done = await returned(platform, spend.order_id, give_back.return_id)
    say.table(
        ["return part", "amount", "status"],
        [(p["kind"], p["amount"], p["status"]) for p in done["parts"]],
    )
    retry = await platform.do(spend.order_id, give_back, ADMIN, idempotency_key=key)
    say.step(f"the shop sends the same return again: {retry['status']} (the first answer, kept)")
    wallet = await ledger_balance(platform, accounts.wallet)
    say.table(*balance_rows([("before the return", spend.wallet_after), ("after", wallet)]))
    return Refund(done["parts"], wallet, retry)
