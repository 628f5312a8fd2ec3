"""Steps several stories share: accepted answers, carts opened, orders checked out,
fulfilled, returned."""

from __future__ import annotations

from contracts.envelope import Actor, Message
from contracts.order import CreateOrder, GetOrder
from shared.tools.demo.cast import SHOP, Cast
from shared.tools.demo.narration import Narrator, money
from shared.tools.platform_client import Answer, Platform


def accepted(answer: Answer) -> Answer:
    """The answer, if accepted; a story cannot go on past a refusal it did not expect."""
    if answer["status"] != "accepted":
        raise AssertionError(f"{answer['command_type']} was rejected: {answer}")
    return answer


async def open_cart(platform: Platform, cast: Cast, order_id: str, *lines: Message) -> None:
    """The customer creates order ``order_id`` in USD; the shop then adds ``lines`` (line
    items, charges) to it one at a time, each accepted."""
    cart = CreateOrder(order_id=order_id, customer_id=cast.customer_id, currency="USD")
    accepted(await platform.do(order_id, cart, cast.customer))
    for line in lines:
        accepted(await platform.do(order_id, line, SHOP))


async def checked_out(platform: Platform, order_id: str) -> Answer:
    return await platform.event("OrderCheckedOut", lambda o: o["order_id"] == order_id)


async def fulfilled(platform: Platform, say: Narrator, order_id: str) -> Answer:
    """The order's fulfillment once the ledger has answered for every auto item."""
    fulfillment = await platform.event(
        "Fulfillment",
        lambda f: (
            f["order_id"] == order_id and all(i["status"] != "committing" for i in f["items"])
        ),
    )
    say.step("fulfillment makes an item per thing to fulfil; the ledger answers the auto ones:")
    say.table(
        ["fulfillment item", "kind", "amount", "status"],
        [(i["name"], i["kind"], i["amount"], i["status"]) for i in fulfillment["items"]],
    )
    return fulfillment


async def returned(platform: Platform, order_id: str, return_id: str) -> Answer:
    """The return once every part of it is done or failed."""
    fulfillment = await platform.event(
        "Fulfillment",
        lambda f: (
            f["order_id"] == order_id
            and any(
                r["return_id"] == return_id and r["status"] != "in_progress" for r in f["returns"]
            )
        ),
    )
    found: list[Answer] = [r for r in fulfillment["returns"] if r["return_id"] == return_id]
    return found[0]


async def order_as_shown(platform: Platform, order_id: str, actor: Actor) -> Answer:
    """GetOrder's answer: the whole order, as the seed's Order.Get shows it."""
    reply = await platform.ask(order_id, GetOrder(order_id=order_id), actor)
    order: Answer = reply["order"]
    return order


def totals_rows(totals: Answer) -> list[tuple[str, str]]:
    names = [
        ("subtotal", "subtotal"),
        ("points", "points_value"),
        ("shipping", "shipping"),
        ("tax", "tax"),
        ("total", "total"),
        ("store credit applied", "store_credit_applied"),
        ("amount due", "amount_due"),
        ("paid by card", "paid_externally"),
        ("balance owing", "balance_owing"),
    ]
    return [(label, money(totals[field])) for label, field in names]


def balance_rows(named: list[tuple[str, Answer]]) -> tuple[list[str], list[tuple[object, ...]]]:
    """Headers and rows of ledger balances, one row per (label, AccountBalances)."""
    return (
        ["", "account", "balance", "holds", "available"],
        [(n, b["account_id"], b["balance"], b["holds"], b["available"]) for n, b in named],
    )
