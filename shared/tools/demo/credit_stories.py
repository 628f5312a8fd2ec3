"""The store-credit seed's stories: credits issued, two applied to one order, checkout
with store credit only and with a card for the rest, the amount-raise rule, and the
credits a checkout must refuse (expired, disabled, not yet active)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.order import (
    AddProductLineItem,
    ApplyStoreCredit,
    CancelOrder,
    CheckoutOrder,
    ExternalPayment,
    SetOrderCharges,
)
from contracts.store_credit import CreateStoreCredit, StoreCreditReason, UpdateStoreCredit
from shared.tools.demo.cast import ADMIN, SHOP, Cast, ledger_balance, store_credit_by_token
from shared.tools.demo.narration import Narrator, money
from shared.tools.demo.steps import (
    accepted,
    checked_out,
    fulfilled,
    open_cart,
    order_as_shown,
    totals_rows,
)
from shared.tools.platform_client import Answer, Platform, until


@dataclass(frozen=True)
class Credit:
    """A credit as its creation answered: the code and token (sealed to the demo, once,
    opened), the id."""

    store_credit_id: str
    code: str
    token: str


@dataclass(frozen=True)
class CreditOrders:
    first: Credit
    second: Credit
    gift: Credit
    paid_by_credits: Answer
    """GetOrder's order paid with the two credits, after checkout."""
    credits_checkout: Answer
    """Its OrderCheckedOut."""
    credit_balances: list[Answer]
    """The ledger's balances of the two credits once fulfillment captured the holds."""
    card_checkout: Answer
    """OrderCheckedOut of the order paid with the gift credit and a card."""


@dataclass(frozen=True)
class Raise:
    before: Answer
    lower: Answer
    higher: Answer
    after: Answer


@dataclass(frozen=True)
class Refusals:
    found: dict[str, Answer]
    """FindStoreCredit's view of each unusable credit, by its name."""
    applied: dict[str, Answer]
    """The order's applied credit for each, by its name."""
    totals: Answer


async def issue(platform: Platform, cast: Cast, name: str, amount: int, **terms: Any) -> Credit:
    created = CreateStoreCredit(
        store_credit_id=cast.id(name.lower().replace(" ", "-").replace("'", "")),
        name=name,
        amount=amount,
        currency="USD",
        customer_id=cast.customer_id,
        reply_public_key=platform.codes.reply_public_key,
        **terms,
    )
    answer = accepted(await platform.do(cast.customer_id, created, ADMIN))
    produced = platform.codes.opened(answer["produced"])
    return Credit(created.store_credit_id, produced["code"], produced["token"])


async def seed_cart(platform: Platform, cast: Cast, name: str) -> str:
    """The seed's Order.Get cart: two tickets at 15.00, 24.95 FedEx shipping, no tax."""
    order_id = cast.id(name)
    tickets = AddProductLineItem(
        order_id=order_id,
        line_item_id="tickets",
        sku="T6060",
        name="Disney Base Tickets | 4 Day Base Ticket | Adult",
        unit_price=1_500,
        quantity=2,
    )
    shipping = SetOrderCharges(
        order_id=order_id, shipping=2_495, shipping_description="FedEx International (Canada Only)"
    )
    await open_cart(platform, cast, order_id, tickets, shipping)
    return order_id


async def credits_settled(platform: Platform, order_id: str, count: int) -> Answer:
    """The order once ``count`` applied credits are held or refused (no longer in flight)."""
    return await platform.event(
        "Order",
        lambda o: (
            o["order_id"] == order_id
            and len(o["applied_credits"]) >= count
            and all(c["status"] not in ("requested", "holding") for c in o["applied_credits"])
        ),
    )


def show_credits(say: Narrator, order: Answer) -> None:
    say.table(
        ["applied credit", "code", "status", "held", "applied", "refused because"],
        [_credit_row(c) for c in order["applied_credits"]],
    )
    say.table(["total", "USD"], totals_rows(order["totals"]))


def _credit_row(credit: Answer) -> tuple[object, ...]:
    held, applied = money(credit["held"]), money(credit["applied"])
    return (credit["name"], credit["code"], credit["status"], held, applied, credit["refusal_code"])


async def credits_pay_orders(platform: Platform, say: Narrator, cast: Cast) -> CreditOrders:
    say.story(
        "Two store credits pay an order; a credit and a card pay the next",
        "The seed's Order.Get: an order of 54.95 (two tickets, 24.95 shipping) paid with a\n"
        "30.00 credit applied by its code and a 1,590.00 one applied by its token; then an\n"
        "order paid with a 20.00 gift credit and a card for the remaining 34.95.",
    )
    first = await issue(platform, cast, "Ada's store credit", 3_000)
    second = await issue(platform, cast, "Ada's store credit 2", 159_000)
    for credit in (first, second):
        view = await store_credit_by_token(platform, cast, credit.token)
        say.step(
            f'admin issues "{view["name"]}" of {money(view["amount"])} USD: code '
            f"{credit.code} (given once, sealed to the admin in the creation's result; "
            "stored only hashed)"
        )
    order_id = await seed_cart(platform, cast, "ord-credits")
    say.step(f"{cast.customer_id}'s cart {order_id}: two tickets at 15.00 and 24.95 shipping")
    apply_code = ApplyStoreCredit(
        order_id=order_id,
        application_id="by-code",
        sealed_code=platform.codes.seal(first.code, cast.customer),  # as the storefront does
    )
    accepted(await platform.do(order_id, apply_code, cast.customer))
    await credits_settled(platform, order_id, 1)
    apply_token = ApplyStoreCredit(order_id=order_id, application_id="by-token", token=second.token)
    accepted(await platform.do(order_id, apply_token, cast.customer))
    await credits_settled(platform, order_id, 2)
    say.step("the customer applies the first by its code, the second by its token:")
    show_credits(say, await order_as_shown(platform, order_id, cast.customer))
    accepted(await platform.do(order_id, CheckoutOrder(order_id=order_id), cast.customer))
    say.step("nothing is due: checkout with store credit only")
    credits_checkout = await checked_out(platform, order_id)
    await fulfilled(platform, say, order_id)
    paid = await order_as_shown(platform, order_id, cast.customer)
    balances = [
        await ledger_balance(platform, c["ledger_account_id"]) for c in paid["applied_credits"]
    ]
    say.step("the credits in the ledger once their holds are captured:")
    say.table(
        ["credit", "balance", "holds", "available"],
        [
            (c["name"], money(b["balance"]), money(b["holds"]), money(b["available"]))
            for c, b in zip(paid["applied_credits"], balances, strict=True)
        ],
    )

    gift = await issue(platform, cast, "Gift credit", 2_000, reason=StoreCreditReason.GIFT)
    await store_credit_by_token(platform, cast, gift.token)
    say.step("admin issues a 20.00 gift credit; the customer picks it from their own credits")
    next_order = await seed_cart(platform, cast, "ord-card")
    own = ApplyStoreCredit(
        order_id=next_order, application_id="own", store_credit_id=gift.store_credit_id
    )
    accepted(await platform.do(next_order, own, cast.customer))
    show_credits(say, await credits_settled(platform, next_order, 1))
    card = ExternalPayment(
        provider_reference_name="Stripe-USD", token="tok_1DFSimLjwcuEFMMJEh7zFLrq", amount=3_495
    )
    accepted(await platform.do(next_order, CheckoutOrder(order_id=next_order, payment=card), SHOP))
    card_checkout = await checked_out(platform, next_order)
    say.step("the shop checks out with the card token for the 34.95 left:")
    say.table(["total", "USD"], totals_rows(card_checkout["totals"]))
    return CreditOrders(first, second, gift, paid, credits_checkout, balances, card_checkout)


async def amount_raise_rule(
    platform: Platform, say: Narrator, cast: Cast, credit: Credit, ledger_account_id: str
) -> Raise:
    say.story(
        "A credit's amount may only be raised above its balance",
        "The seed: 'you may only set this value to an amount that is higher than the current\n"
        "Balance'. The balance then becomes the new amount: the ledger is credited the\n"
        "difference between the two.",
    )
    ledger = await ledger_balance(platform, ledger_account_id)
    before = await until(  # the credit's copy of its balance, once it agrees with the ledger
        lambda: store_credit_by_token(platform, cast, credit.token),
        lambda view: view["balance"] == ledger["balance"],
    )
    say.step(f"the credit: amount {money(before['amount'])}, balance {money(before['balance'])}")
    lower = await platform.settled(
        cast.customer_id,
        UpdateStoreCredit(store_credit_id=credit.store_credit_id, amount=150_000),
        ADMIN,
    )
    say.step(f"admin sets the amount to 1,500.00: {lower['status']} ({lower['code']})")
    higher = await platform.settled(
        cast.customer_id,
        UpdateStoreCredit(store_credit_id=credit.store_credit_id, amount=200_000),
        ADMIN,
    )
    say.step(f"admin sets the amount to 2,000.00: {higher['status']}")
    after = await until(
        lambda: store_credit_by_token(platform, cast, credit.token),
        lambda view: view["balance"] != before["balance"],
    )
    say.table(
        ["", "amount", "balance"],
        [
            ("before", money(before["amount"]), money(before["balance"])),
            ("after", money(after["amount"]), money(after["balance"])),
        ],
    )
    return Raise(before, lower, higher, after)


async def unusable_credits_refused(platform: Platform, say: Narrator, cast: Cast) -> Refusals:
    say.story(
        "Expired, disabled and not-yet-active credits are refused",
        "Each is applied to a cart by its code; each is refused with its reason, and the\n"
        "amount due does not move.",
    )
    now = datetime.now(UTC)
    credits = {
        "expired": await issue(
            platform, cast, "Expired credit", 1_000, expiry_date=now - timedelta(days=1)
        ),
        "disabled": await issue(platform, cast, "Disabled credit", 1_000, disabled=True),
        "not yet active": await issue(
            platform, cast, "Future credit", 1_000, active_date=now + timedelta(days=1)
        ),
    }
    found = {
        name: await store_credit_by_token(platform, cast, credit.token)
        for name, credit in credits.items()
    }
    order_id = cast.id("ord-refused")
    shirt = AddProductLineItem(
        order_id=order_id, line_item_id="shirt", sku="TEE", name="T-shirt", unit_price=1_000
    )
    await open_cart(platform, cast, order_id, shirt)
    for count, (name, credit) in enumerate(credits.items(), start=1):
        apply = ApplyStoreCredit(
            order_id=order_id,
            application_id=name.replace(" ", "-"),
            sealed_code=platform.codes.seal(credit.code, cast.customer),
        )
        accepted(await platform.do(order_id, apply, cast.customer))
        order = await credits_settled(platform, order_id, count)  # one in flight at a time
    say.step("the customer applies each to a 10.00 cart:")
    applied = dict(zip(credits, order["applied_credits"], strict=True))
    say.table(
        ["credit", "FindStoreCredit says", "the order says"],
        [
            (name, found[name]["unusable_code"], f"{c['status']}: {c['refusal_code']}")
            for name, c in applied.items()
        ],
    )
    say.table(["total", "USD"], totals_rows(order["totals"]))
    accepted(await platform.do(order_id, CancelOrder(order_id=order_id, reason="demo"), SHOP))
    say.step("the shop cancels the cart")
    return Refusals(found, applied, order["totals"])
