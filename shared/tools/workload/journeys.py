"""Play a workload plan against a running platform, many customers at once.

Each customer's journey runs in order (as one shopper would act), customers run
concurrently. Every answer is tallied; a refusal is an outcome, not an error
(a spend larger than what is left is refused with ``insufficient_funds``). A
journey that cannot go on (no answer in time) is recorded as failed with the
reason, and the others go on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from contracts.customers import CustomerCreated
from contracts.envelope import Actor, ActorKind, Message
from contracts.fulfillment import FulfillItem, ReturnItem
from contracts.ledger import CreatePointTransaction, PointTransactionKind, PointTransactionStatus
from contracts.order import (
    AddDepositLineItem,
    AddPointTransactionLineItem,
    AddProductLineItem,
    ApplyStoreCredit,
    CancelOrder,
    CheckoutOrder,
    CreateOrder,
    EarnPoints,
    ExternalPayment,
)
from contracts.store_credit import CreatePointAccountTemplate, CreateStoreCredit
from shared.tools.demo.cast import ADMIN, SHOP, WAREHOUSE, store_credit_token_known
from shared.tools.demo.steps import order_as_shown
from shared.tools.platform_client import Answer, Platform
from shared.tools.workload.plan import CustomerPlan, OrderPlan
from shared.tools.workload.tally import Tally


@dataclass(frozen=True)
class Terms:
    """The workload's own templates and units (tagged, so runs never mix)."""

    loyalty_template: str
    wallet_template: str
    loyalty_unit: str


async def set_up(platform: Platform, tally: Tally, tag: str) -> Terms:
    terms = Terms(f"tpl-{tag}-loyalty", f"tpl-{tag}-wallet", f"points:wl-loyalty-{tag}")
    for template_id, kind, unit in (
        (terms.loyalty_template, "loyalty", terms.loyalty_unit),
        (terms.wallet_template, "store_credit", f"points:wl-wallet-{tag}"),
    ):
        template = CreatePointAccountTemplate(
            template_id=template_id,
            name=f"Workload {kind}",
            kind=kind,
            unit=unit,
            exchange_rates={"USD": Decimal("0.01")},
        )
        answer = await tally.do(platform, template_id, template, ADMIN)
        if answer["status"] != "accepted":
            raise RuntimeError(f"the workload's template was refused: {answer}")
    return terms


async def play(
    platform: Platform, tally: Tally, terms: Terms, plans: list[CustomerPlan], concurrency: int
) -> None:
    """Every customer's journey, at most ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(plan: CustomerPlan) -> None:
        async with gate:
            try:
                await journey(platform, tally, terms, plan)
                tally.journeys_done += 1
            except Exception as error:  # a journey that cannot go on; the others do
                tally.failed.append(f"{plan.customer_id}: {error!r}"[:500])

    await asyncio.gather(*(one(plan) for plan in plans))


async def journey(platform: Platform, tally: Tally, terms: Terms, plan: CustomerPlan) -> None:
    customer = Actor(kind=ActorKind.CUSTOMER, id=plan.customer_id)
    await platform.publish(plan.customer_id, CustomerCreated(customer_id=plan.customer_id), SHOP)
    loyalty = await _account_from(platform, plan.customer_id, terms.loyalty_template)
    wallet = await _account_from(platform, plan.customer_id, terms.wallet_template)
    for n, points in enumerate(plan.deposits):
        deposit = CreatePointTransaction(
            account_id=wallet,
            transaction_id=f"tx-{plan.customer_id}-dep-{n}",
            amount=points,
            kind=PointTransactionKind.DEPOSIT,
        )
        await tally.do(platform, wallet, deposit, ADMIN)
    credits: list[str] = []
    for n, cents in enumerate(plan.credits):
        issued = CreateStoreCredit(
            store_credit_id=f"sc-{plan.customer_id}-{n}",
            name=f"Credit {n}",
            amount=cents,
            currency="USD",
            customer_id=plan.customer_id,
            reply_public_key=platform.codes.reply_public_key,
        )
        answer = await tally.do(platform, plan.customer_id, issued, ADMIN)
        if answer["status"] == "accepted":
            token = platform.codes.opened(answer["produced"])["token"]
            await store_credit_token_known(platform, plan.customer_id, token)
            credits.append(issued.store_credit_id)
    for order in plan.orders:
        await _order(platform, tally, terms, customer, (loyalty, wallet), credits, order)


async def _account_from(platform: Platform, customer_id: str, template_id: str) -> str:
    """The account a template gave the customer, once the ledger has opened it."""
    made = await platform.event(
        "PointAccount", lambda a: a["template_id"] == template_id, key=customer_id
    )
    account_id: str = made["account_id"]
    await platform.event("BalanceChanged", lambda _: True, key=account_id)
    return account_id


async def _order(
    platform: Platform,
    tally: Tally,
    terms: Terms,
    customer: Actor,
    accounts: tuple[str, str],
    credits: list[str],
    plan: OrderPlan,
) -> None:
    loyalty, wallet = accounts
    order_id = plan.order_id

    async def do(command: Message, actor: Actor = SHOP) -> Answer:
        return await tally.do(platform, order_id, command, actor)

    cart = CreateOrder(order_id=order_id, customer_id=customer.id, currency="USD")
    if (await do(cart, customer))["status"] != "accepted":
        return
    earn = EarnPoints(unit=terms.loyalty_unit, points_per_unit=150)
    mugs = AddProductLineItem(
        order_id=order_id,
        line_item_id="mugs",
        sku="MUG",
        name="Mug",
        unit_price=1_500,
        quantity=plan.mugs,
        earn=earn,
    )
    await do(mugs)
    if plan.gift_points:
        gift = AddDepositLineItem(
            order_id=order_id,
            line_item_id="gift",
            sku="GIFT",
            name="Gift points",
            unit_price=plan.gift_points,
            account_id=loyalty,
            points_per_unit=plan.gift_points,
        )
        await do(gift)
    has_points = plan.spend_points > 0 and await _points_line(
        platform, tally, customer, wallet, plan
    )
    if plan.use_credit and credits:
        apply = ApplyStoreCredit(
            order_id=order_id, application_id="credit", store_credit_id=credits[0]
        )
        if (await do(apply, customer))["status"] == "accepted":
            await platform.event(
                "Order",
                lambda o: any(
                    c["status"] not in ("requested", "holding") for c in o["applied_credits"]
                ),
                key=order_id,
            )
    if not plan.checkout:
        await do(CancelOrder(order_id=order_id, reason="workload"))
        tally.cancelled += 1
        return
    due = (await order_as_shown(platform, order_id, customer))["totals"]["amount_due"]
    card = (
        ExternalPayment(provider_reference_name="Stripe-USD", token="tok_visa", amount=due)
        if due > 0
        else None
    )
    if (await do(CheckoutOrder(order_id=order_id, payment=card)))["status"] != "accepted":
        return
    tally.checked_out += 1
    await _fulfil_and_return(platform, tally, plan, has_points)


async def _points_line(
    platform: Platform, tally: Tally, customer: Actor, wallet: str, plan: OrderPlan
) -> bool:
    """A pending spend of the customer's own points, put in the cart; False if refused."""
    spend = CreatePointTransaction(
        account_id=wallet,
        transaction_id=f"tx-{plan.order_id}-spend",
        amount=-plan.spend_points,
        kind=PointTransactionKind.SPEND,
        status=PointTransactionStatus.PENDING,
    )
    if (await tally.do(platform, wallet, spend, customer))["status"] != "accepted":
        return False
    line = AddPointTransactionLineItem(
        order_id=plan.order_id, line_item_id="points", transaction_id=spend.transaction_id
    )
    answer = await platform.settled(plan.order_id, line, customer)
    tally.count(line.message_type, answer)
    return bool(answer["status"] == "accepted")


async def _fulfil_and_return(
    platform: Platform, tally: Tally, plan: OrderPlan, has_points: bool
) -> None:
    order_id = plan.order_id
    fulfillment = await platform.event(
        "Fulfillment",
        lambda f: all(i["status"] != "committing" for i in f["items"]),
        key=order_id,
    )
    for item in fulfillment["items"]:
        if item["kind"] == "manual":
            ship = FulfillItem(order_id=order_id, fulfillment_item_id=item["fulfillment_item_id"])
            await tally.do(platform, order_id, ship, WAREHOUSE)
    if all(i["status"] == "fulfilled" for i in fulfillment["items"] if i["kind"] != "manual"):
        tally.fulfilled += 1
    returns = []
    if plan.returned_mugs:
        returns.append(
            ReturnItem(
                order_id=order_id,
                return_id="r-mugs",
                line_item_id="mugs",
                quantity=plan.returned_mugs,
            )
        )
    if plan.return_points and has_points:
        returns.append(ReturnItem(order_id=order_id, return_id="r-points", line_item_id="points"))
    for give_back in returns:
        if (await tally.do(platform, order_id, give_back, ADMIN))["status"] != "accepted":
            continue
        done = await platform.event(
            "Fulfillment",
            lambda f, r=give_back.return_id: any(  # type: ignore[misc]
                x["return_id"] == r and x["status"] != "in_progress" for x in f["returns"]
            ),
            key=order_id,
        )
        [found] = [x for x in done["returns"] if x["return_id"] == give_back.return_id]
        tally.returns[found["status"]] += 1
