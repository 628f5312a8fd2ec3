"""What each customer of a workload does, decided up front from a seed (no I/O here):
the same seed and size give the same plan, whatever happens when it is played."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class OrderPlan:
    order_id: str
    mugs: int
    """Mugs at 15.00, each earning 150 loyalty points."""
    gift_points: int
    """A depositable product: this many loyalty points for as many cents (0: none)."""
    spend_points: int
    """Wallet points spent through a pending spend and its line item (0: none)."""
    use_credit: bool
    """Apply the customer's first store credit."""
    checkout: bool
    """Check out (paying the rest by card), or cancel the cart."""
    returned_mugs: int
    """Mugs returned after shipping (0: none)."""
    return_points: bool
    """Return the point line item too (points come back)."""


@dataclass(frozen=True)
class CustomerPlan:
    customer_id: str
    deposits: tuple[int, ...]
    """Admin deposits into the wallet account, in points."""
    credits: tuple[int, ...]
    """Store credits issued to the customer, in cents."""
    orders: tuple[OrderPlan, ...]


def plan(seed: int, customers: int, tag: str) -> list[CustomerPlan]:
    """``customers`` journeys drawn from ``seed``; ids carry ``tag``."""
    draw = random.Random(seed)
    return [_customer(draw, f"cust-{tag}-{n}", tag) for n in range(customers)]


def _customer(draw: random.Random, customer_id: str, tag: str) -> CustomerPlan:
    deposits = tuple(draw.choice((1_000, 2_500, 5_000)) for _ in range(draw.randint(1, 3)))
    credits = tuple(draw.choice((1_000, 3_000, 10_000)) for _ in range(draw.randint(0, 2)))
    orders = tuple(
        _order(draw, f"ord-{customer_id}-{n}", bool(credits)) for n in range(draw.randint(1, 3))
    )
    return CustomerPlan(customer_id, deposits, credits, orders)


def _order(draw: random.Random, order_id: str, has_credit: bool) -> OrderPlan:
    mugs = draw.randint(1, 3)
    checkout = draw.random() < 0.85
    spend = draw.choice((0, 0, 500, 1_000))  # below one mug's 15.00: a total stays above zero
    return OrderPlan(
        order_id=order_id,
        mugs=mugs,
        gift_points=draw.choice((0, 0, 500)),
        spend_points=spend,
        use_credit=has_credit and draw.random() < 0.6,
        checkout=checkout,
        returned_mugs=draw.randint(1, mugs) if checkout and draw.random() < 0.3 else 0,
        return_points=checkout and spend > 0 and draw.random() < 0.3,
    )
