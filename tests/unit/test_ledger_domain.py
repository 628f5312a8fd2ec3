from __future__ import annotations

import pytest

from contracts.envelope import Actor, ActorKind
from contracts.ledger import INT64_MAX, PointTransactionKind
from services.ledger import domain


def account(balance: int = 0, holds: int = 0, **terms: object) -> domain.Account:
    values: dict[str, object] = {
        "account_id": "acct-1",
        "unit": "points:loyalty",
        "customer_id": "cust-1",
        "allow_negative": False,
        "negative_limit": None,
        "status": "open",
        "balance": balance,
        "holds": holds,
        "version": 0,
    }
    values.update(terms)
    return domain.Account(**values)  # type: ignore[arg-type]


def test_available_is_balance_minus_holds() -> None:
    assert account(balance=100, holds=30).available == 70


def test_a_spend_may_use_exactly_what_is_available() -> None:
    assert domain.balance_after(account(balance=100, holds=30), -70) == 30


def test_a_spend_beyond_available_is_refused() -> None:
    with pytest.raises(domain.InsufficientFunds, match="70 available"):
        domain.balance_after(account(balance=100, holds=30), -71)


def test_an_account_that_allows_negative_stops_at_its_limit() -> None:
    overdraft = account(allow_negative=True, negative_limit=50)
    assert domain.balance_after(overdraft, -50) == -50
    with pytest.raises(domain.InsufficientFunds):
        domain.balance_after(overdraft, -51)


def test_an_account_that_allows_negative_without_limit_goes_down_freely() -> None:
    assert domain.balance_after(account(allow_negative=True), -(10**12)) == -(10**12)


def test_credits_are_never_refused_for_funds_but_overflow_is() -> None:
    assert domain.balance_after(account(balance=-5, allow_negative=True), 10) == 5
    with pytest.raises(domain.InvalidAmount):
        domain.balance_after(account(balance=INT64_MAX), 1)


@pytest.mark.parametrize(
    ("kind", "amount"),
    [("deposit", -1), ("earn", -1), ("refund", -1), ("spend", 1), ("expiry", 1), ("adjustment", 0)],
)
def test_kind_and_sign_must_agree(kind: str, amount: int) -> None:
    with pytest.raises(domain.InvalidAmount):
        domain.check_amount(PointTransactionKind(kind), amount)


def test_reversals_have_their_own_command() -> None:
    with pytest.raises(domain.UseReverseCommand):
        domain.check_amount(PointTransactionKind.REVERSAL, -1)


@pytest.mark.parametrize("kind", [ActorKind.ADMIN, ActorKind.SERVICE, ActorKind.SYSTEM])
def test_operators_may_open_accounts_and_post(kind: ActorKind) -> None:
    actor = Actor(kind=kind, id="x")
    domain.check_may_open_account(actor)
    domain.check_may_post_committed(actor)


def test_customers_may_neither_open_accounts_nor_post_committed_transactions() -> None:
    customer = Actor(kind=ActorKind.CUSTOMER, id="cust-1")
    with pytest.raises(domain.Forbidden):
        domain.check_may_open_account(customer)
    with pytest.raises(domain.Forbidden):
        domain.check_may_post_committed(customer)


def test_each_kind_has_a_system_counterparty_of_the_same_unit() -> None:
    for kind in PointTransactionKind:
        if kind is PointTransactionKind.REVERSAL:
            continue
        role = domain.counterparty_role(kind)
        assert domain.system_account_id("USD", role) == f"system:{role}:USD"
