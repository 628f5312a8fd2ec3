"""Order rules: points to money rounded toward zero, totals, what settles a checkout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.order import AppliedCreditStatus as S
from contracts.order import LineItemKind as K
from services.order import domain
from services.order.domain import CreditHold, LineAmount


@pytest.mark.parametrize(
    ("points", "rate", "currency", "money"),
    [
        (-3000, "0.01", "USD", -3000),
        (-3001, "0.0033", "USD", -990),  # 9.9033 USD: toward zero
        (-1, "0.009", "USD", 0),  # less than a cent is worth nothing
        (-150, "1", "JPY", -150),  # no minor units
        (-7, "0.0015", "KWD", -10),  # three decimals: 0.0105 KWD
        (2**62, "0.000000000001", "USD", 461168601),  # no intermediate rounding
    ],
)
def test_money_for_points(points: int, rate: str, currency: str, money: int) -> None:
    assert domain.money_for_points(points, Decimal(rate), currency) == money


def hold(app: str, held: int, status: S = S.HELD, owing: bool = False) -> CreditHold:
    return CreditHold(application_id=app, status=status, held=held, allow_balance_owing=owing)


def test_credits_pay_in_the_order_applied_and_only_what_is_due() -> None:
    lines = [LineAmount(K.PRODUCT, 3000), LineAmount(K.POINT_TRANSACTION, -500)]
    totals = domain.compute_totals(
        lines, 2495, 0, [hold("a", 3000), hold("b", 9000), hold("c", 100), hold("d", 7, S.REFUSED)]
    )
    assert (totals.subtotal, totals.points_value, totals.total) == (3000, -500, 4995)
    assert totals.applied == {"a": 3000, "b": 1995, "c": 0}
    assert (totals.store_credit_applied, totals.amount_due) == (4995, 0)


def test_what_a_new_credit_should_hold_leaves_room_for_credits_in_flight() -> None:
    credits = [hold("a", 1000), hold("b", 2000, S.REQUESTED), hold("c", 500, S.HOLDING)]
    totals = domain.compute_totals([LineAmount(K.PRODUCT, 5000)], 0, 0, credits)
    assert domain.still_to_cover(totals, credits) == 1500


def test_settling_a_checkout() -> None:
    totals = domain.compute_totals([LineAmount(K.PRODUCT, 5000)], 0, 0, [hold("a", 2000)])
    assert domain.settle(totals, [hold("a", 2000)], 3000) == domain.Settlement(3000, 0)
    with pytest.raises(domain.PaymentExceedsAmountDue):
        domain.settle(totals, [hold("a", 2000)], 3001)
    with pytest.raises(domain.AmountNotCovered):
        domain.settle(totals, [hold("a", 2000)], 1000)
    owing = [hold("a", 2000, owing=True)]
    assert domain.settle(totals, owing, 1000) == domain.Settlement(1000, 2000)
    mixed = [hold("a", 1000, owing=True), hold("b", 1000)]
    mixed_totals = domain.compute_totals([LineAmount(K.PRODUCT, 5000)], 0, 0, mixed)
    with pytest.raises(domain.AmountNotCovered):  # every paying credit must allow it
        domain.settle(mixed_totals, mixed, None)
    with pytest.raises(domain.AmountNotCovered):  # no credit, nothing may stay owing
        domain.settle(domain.compute_totals([LineAmount(K.PRODUCT, 1)], 0, 0, []), [], None)
    pending = [hold("a", 2000, S.HOLDING)]
    with pytest.raises(domain.StoreCreditPending):
        domain.settle(totals, pending, 3000)
    negative = domain.compute_totals([LineAmount(K.POINT_TRANSACTION, -10)], 0, 0, [])
    with pytest.raises(domain.NegativeTotal):
        domain.settle(negative, [], None)


def room(app: str, held: int, room_left: int, status: S = S.HELD) -> domain.CreditRoom:
    return domain.CreditRoom(application_id=app, status=status, held=held, room=room_left)


def test_held_credits_grow_in_the_order_applied_to_cover_what_is_due() -> None:
    lines = [LineAmount(K.PRODUCT, 5495)]
    credits = [hold("a", 2495), hold("b", 1000)]
    totals = domain.compute_totals(lines, 0, 0, credits)
    assert totals.amount_due == 2000
    rooms = [room("a", 2495, 2505), room("b", 1000, 0)]
    assert domain.resized_holds(totals, rooms) == {"a": 4495}
    assert domain.resized_holds(totals, [room("a", 2495, 500), room("b", 1000, 5000)]) == {
        "a": 2995,
        "b": 2500,
    }
    in_flight = [room("a", 2495, 9999), room("c", 0, 0, S.REQUESTED)]
    assert domain.resized_holds(totals, in_flight) == {}  # one step at a time
    paid = domain.compute_totals(lines, 0, 0, [hold("a", 5495)])
    assert domain.resized_holds(paid, [room("a", 5495, 100)]) == {}


def test_amounts_and_counts_are_bounded() -> None:
    assert domain.bounded(domain.MAX_AMOUNT, "x") == domain.MAX_AMOUNT
    with pytest.raises(domain.AmountTooLarge):
        domain.bounded(-domain.MAX_AMOUNT - 1, "x")
    domain.check_room_for_line(domain.MAX_LINE_ITEMS - 1)
    with pytest.raises(domain.TooManyLineItems):
        domain.check_room_for_line(domain.MAX_LINE_ITEMS)
    with pytest.raises(domain.TooManyStoreCredits):
        domain.check_room_for_credit(domain.MAX_APPLIED_CREDITS)


def test_a_checkout_waiting_for_a_credit_may_be_retried_with_its_key() -> None:
    totals = domain.compute_totals([LineAmount(K.PRODUCT, 100)], 0, 0, [hold("a", 100, S.HOLDING)])
    with pytest.raises(domain.StoreCreditPending) as refused:
        domain.settle(totals, [hold("a", 100, S.HOLDING)], None)
    assert refused.value.retryable
