from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.envelope import Actor, ActorKind
from contracts.ledger import INT64_MAX, PointTransactionKind, PointTransactionStatus
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
def test_operators_may_do_anything(kind: ActorKind) -> None:
    actor = Actor(kind=kind, id="x")
    domain.check_operator(actor, "open ledger accounts")
    for status in PointTransactionStatus:
        domain.check_may_create(actor, account(), status, 10, PointTransactionKind.DEPOSIT)


def test_a_customer_may_only_create_pending_spends_on_their_own_account() -> None:
    owner = Actor(kind=ActorKind.CUSTOMER, id="cust-1")
    stranger = Actor(kind=ActorKind.CUSTOMER, id="cust-2")
    pending, committed = PointTransactionStatus.PENDING, PointTransactionStatus.COMMITTED
    spend, deposit = PointTransactionKind.SPEND, PointTransactionKind.DEPOSIT
    domain.check_may_create(owner, account(), pending, -10, spend)
    with pytest.raises(domain.AccountNotFound) as stranger_told:  # as if there were none
        domain.check_may_create(stranger, account(), pending, -10, spend)
    assert stranger_told.value.reason == domain.no_account(account().account_id)
    for actor, status, amount, kind in [
        (owner, committed, -10, spend),
        (owner, pending, 10, deposit),
        (owner, pending, -10, PointTransactionKind.ADJUSTMENT),
    ]:
        with pytest.raises(domain.Forbidden):
            domain.check_may_create(actor, account(), status, amount, kind)
    with pytest.raises(domain.Forbidden):
        domain.check_operator(owner, "commit point transactions")


def test_each_kind_has_a_system_counterparty_of_the_same_unit() -> None:
    for kind in PointTransactionKind:
        if kind is PointTransactionKind.REVERSAL:
            continue
        role = domain.counterparty_role(kind)
        assert domain.system_account_id("USD", role) == f"system:{role}:USD"


NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def pending(amount: int, **fields: object) -> domain.Transaction:
    values: dict[str, object] = {
        "transaction_id": "tx-1",
        "account_id": "acct-1",
        "unit": "points:loyalty",
        "amount": amount,
        "kind": PointTransactionKind.SPEND if amount < 0 else PointTransactionKind.DEPOSIT,
        "status": PointTransactionStatus.PENDING,
        "committed_amount": None,
        "reversed_amount": 0,
        "reverses": None,
        "expires_at": None,
        "references": {},
    }
    values.update(fields)
    return domain.Transaction(**values)  # type: ignore[arg-type]


def committed(amount: int, reversed_amount: int = 0) -> domain.Transaction:
    return pending(
        amount,
        status=PointTransactionStatus.COMMITTED,
        committed_amount=amount,
        reversed_amount=reversed_amount,
    )


def test_a_pending_spend_holds_funds_without_moving_the_balance() -> None:
    after = domain.after_create(
        account(balance=100), -60, PointTransactionStatus.PENDING, None, NOW
    )
    assert (after.balance, after.holds) == (100, 60)
    with pytest.raises(domain.InsufficientFunds):
        domain.after_create(
            account(balance=100, holds=60), -41, PointTransactionStatus.PENDING, None, NOW
        )


def test_a_pending_credit_changes_nothing_until_committed() -> None:
    after = domain.after_create(account(balance=5), 50, PointTransactionStatus.PENDING, None, NOW)
    assert (after.balance, after.holds) == (5, 0)


def test_an_expiry_in_the_past_is_refused() -> None:
    with pytest.raises(domain.InvalidExpiry):
        domain.after_create(account(balance=9), -1, PointTransactionStatus.PENDING, NOW, NOW)


def test_a_partial_commit_releases_the_rest_of_the_hold() -> None:
    hold = pending(-60)
    amount = domain.amount_to_commit(hold, -25, NOW)
    after = domain.after_commit(account(balance=100, holds=60), hold, amount)
    assert (amount, after.balance, after.holds) == (-25, 75, 0)


@pytest.mark.parametrize("requested", [-61, 10, 0])
def test_a_commit_keeps_the_sign_and_never_exceeds_the_hold(requested: int) -> None:
    with pytest.raises(domain.InvalidAmount):
        domain.amount_to_commit(pending(-60), requested, NOW)


def test_only_pending_and_unexpired_transactions_commit() -> None:
    with pytest.raises(domain.NotPending):
        domain.amount_to_commit(committed(-60), None, NOW)
    with pytest.raises(domain.HoldExpired):
        domain.amount_to_commit(pending(-60, expires_at=NOW), None, NOW)


def test_a_void_releases_the_hold_and_only_pending_can_be_voided() -> None:
    after = domain.after_void(account(balance=100, holds=60), pending(-60))
    assert (after.balance, after.holds) == (100, 0)
    with pytest.raises(domain.NotPending):
        domain.after_void(account(balance=100), committed(-60))


def test_reversals_are_opposite_and_never_exceed_the_original() -> None:
    assert domain.reversal_amount(committed(-60), None) == 60
    assert domain.reversal_amount(committed(-60, reversed_amount=50), None) == 10
    assert domain.reversal_amount(committed(80), 30) == -30
    with pytest.raises(domain.ReversalExceedsOriginal):
        domain.reversal_amount(committed(-60, reversed_amount=50), 11)
    with pytest.raises(domain.ReversalExceedsOriginal):
        domain.reversal_amount(committed(-60, reversed_amount=60), None)
    with pytest.raises(domain.NotCommitted):
        domain.reversal_amount(pending(-60), None)
    with pytest.raises(domain.NotReversible):
        domain.reversal_amount(
            pending(
                60, status=PointTransactionStatus.COMMITTED, committed_amount=60, reverses="tx-0"
            ),
            None,
        )


def test_only_an_empty_account_closes() -> None:
    domain.check_closable(account())
    for balance, holds in [(1, 0), (5, 5), (-1, 0)]:
        with pytest.raises(domain.AccountNotEmpty):
            domain.check_closable(account(balance=balance, holds=holds, allow_negative=True))


def transaction(
    amount: int = -100,
    status: PointTransactionStatus = PointTransactionStatus.PENDING,
    expires_at: datetime | None = None,
    bound_order_id: str | None = None,
) -> domain.Transaction:
    return domain.Transaction(
        transaction_id="tx-1",
        account_id="acct-1",
        unit="points:loyalty",
        amount=amount,
        kind=PointTransactionKind.SPEND,
        status=status,
        committed_amount=None,
        reversed_amount=0,
        reverses=None,
        expires_at=expires_at,
        references={},
        bound_order_id=bound_order_id,
    )


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PAST = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
FUTURE = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def test_a_pending_spend_is_bound_once_to_one_order() -> None:
    assert domain.check_bindable(transaction(expires_at=FUTURE), "ord-1", NOW) is True
    assert domain.check_bindable(transaction(bound_order_id="ord-1"), "ord-1", NOW) is False
    with pytest.raises(domain.TransactionBound):
        domain.check_bindable(transaction(bound_order_id="ord-1"), "ord-2", NOW)
    with pytest.raises(domain.NotPending):
        domain.check_bindable(transaction(status=PointTransactionStatus.VOIDED), "ord-1", NOW)
    with pytest.raises(domain.NotAHold):
        domain.check_bindable(transaction(amount=100), "ord-1", NOW)
    with pytest.raises(domain.HoldExpired):
        domain.check_bindable(transaction(expires_at=PAST), "ord-1", NOW)


def test_a_bound_spend_no_longer_expires_and_only_its_order_uses_it() -> None:
    bound = transaction(expires_at=PAST, bound_order_id="ord-1")
    assert not domain.expired(bound, NOW)
    assert domain.expired(transaction(expires_at=PAST), NOW)
    assert domain.amount_to_commit(bound, None, NOW) == -100
    domain.check_binding(bound, "ord-1", "commit")
    domain.check_binding(transaction(), None, "void")  # an unbound one: anyone may
    for other in (None, "ord-2"):
        with pytest.raises(domain.TransactionBound):
            domain.check_binding(bound, other, "void")


def test_a_replacement_needs_the_funds_with_the_old_hold_released() -> None:
    full = account(balance=100, holds=60)
    assert domain.after_replace(full, transaction(-60), -100, None, NOW) == domain.Balances(
        100, 100
    )
    with pytest.raises(domain.InsufficientFunds):
        domain.after_replace(full, transaction(-60), -101, None, NOW)
    with pytest.raises(domain.HoldExpired):
        domain.after_replace(full, transaction(-60, expires_at=PAST), -10, None, NOW)
    with pytest.raises(domain.InvalidExpiry):
        domain.after_replace(full, transaction(-60), -10, PAST, NOW)


def test_system_account_ids_are_the_ledgers() -> None:
    with pytest.raises(domain.ReservedAccountId):
        domain.check_customer_account_id("system:issuance:USD")
    domain.check_customer_account_id("acct-system")
