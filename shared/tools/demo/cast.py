"""Who plays the stories, and the questions every story asks of the platform.

Every id carries the run's tag, so the stories can be played again and again
against the same running system (``make demo`` twice) without meeting the
previous run's customers, orders or units.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from contracts.envelope import Actor, ActorKind
from contracts.ledger import GetAccountBalances
from contracts.store_credit import FindStoreCredit
from shared.tools.platform_client import Answer, Platform, until

ADMIN = Actor(kind=ActorKind.ADMIN, id="demo-admin")
SHOP = Actor(kind=ActorKind.SERVICE, id="shop")
WAREHOUSE = Actor(kind=ActorKind.ADMIN, id="warehouse-1")


@dataclass(frozen=True)
class Cast:
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    def id(self, name: str) -> str:
        return f"{name}-{self.run}"

    def unit(self, name: str) -> str:
        """A ledger unit of this run's own (its system accounts are then its own too)."""
        return f"points:{name}-{self.run}"

    @property
    def customer_id(self) -> str:
        return self.id("cust-ada")

    @property
    def customer(self) -> Actor:
        return Actor(kind=ActorKind.CUSTOMER, id=self.customer_id)


async def ledger_balance(platform: Platform, account_id: str) -> Answer:
    """The ledger's answer for one account: balance, holds, available."""
    return await platform.ask(account_id, GetAccountBalances(account_id=account_id), ADMIN)


async def store_credit_by_token(platform: Platform, cast: Cast, token: str) -> Answer:
    """The customer's view of a credit, once its balance is known (the ledger has its credit)."""
    return await store_credit_token_known(platform, cast.customer_id, token)


async def store_credit_token_known(platform: Platform, customer_id: str, token: str) -> Answer:
    """``customer_id``'s view of a credit, once its balance is known."""
    customer = Actor(kind=ActorKind.CUSTOMER, id=customer_id)
    found = await until(
        lambda: platform.ask(customer_id, FindStoreCredit(token=token), customer),
        lambda reply: (
            reply["type"] != "StoreCreditFound" or reply["store_credit"]["balance"] is not None
        ),
    )
    if found["type"] != "StoreCreditFound":
        raise AssertionError(f"the store credit could not be found: {found}")
    view: Answer = found["store_credit"]
    return view
