"""Fulfillment rules without Kafka or SQL: the items an order needs, and the
allocation rule of a return (pro rata, toward zero, cumulative over units)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.fulfillment import FulfillmentItemKind, ReturnPartKind
from contracts.order import (
    HoldToCapture,
    LineItemKind,
    LineItemView,
    OrderCheckedOut,
    PendingSpendToCommit,
    PointsToCredit,
    Totals,
)
from services.fulfillment.domain import (
    LineToReturn,
    MoneySource,
    plan_items,
    plan_return,
    share,
)


def line(
    line_id: str, kind: LineItemKind, amount: int, quantity: int = 1, **extra: object
) -> LineItemView:
    values: dict[str, object] = {
        "line_item_id": line_id,
        "kind": kind,
        "sku": None,
        "name": line_id,
        "unit_price": None,
        "quantity": quantity,
        "amount": amount,
        "account_id": None,
        "unit": None,
        "points": None,
        "transaction_id": None,
        "exchange_rate": None,
    }
    values.update(extra)
    return LineItemView.model_validate(values)


def test_every_line_and_hold_becomes_an_item() -> None:
    order = OrderCheckedOut(
        order_id="o",
        number="1",
        customer_id="c",
        currency="USD",
        line_items=[
            line("mugs", LineItemKind.PRODUCT, 3_000, 2),
            line("gift", LineItemKind.DEPOSIT, 500, account_id="pa", points=500),
            line("points", LineItemKind.POINT_TRANSACTION, -1_000, points=-1_000),
        ],
        pending_spends=[
            PendingSpendToCommit(
                line_item_id="points", account_id="pa", transaction_id="t", amount=-1_000
            )
        ],
        holds=[
            HoldToCapture(
                application_id="a",
                store_credit_id="sc",
                ledger_account_id="sc-acct",
                transaction_id="hold",
                held=-2_000,
                capture=-1_500,
            )
        ],
        deposits=[PointsToCredit(line_item_id="gift", account_id="pa", unit="points", points=500)],
        points_earned=[
            PointsToCredit(line_item_id="mugs", account_id="pa", unit="points", points=300)
        ],
        payment=None,
        totals=Totals(
            subtotal=3_500,
            points_value=-1_000,
            shipping=0,
            tax=0,
            total=2_500,
            store_credit_applied=1_500,
            amount_due=1_000,
            paid_externally=1_000,
            balance_owing=0,
        ),
        checked_out_at=datetime.now(UTC),
    )
    planned = [(i.ref, i.kind, i.amount, i.transaction_id) for i in plan_items(order)]
    assert planned == [
        ("line:mugs", FulfillmentItemKind.MANUAL, None, None),
        ("earn:mugs", FulfillmentItemKind.POINTS_EARNED, 300, None),
        ("line:gift", FulfillmentItemKind.DEPOSIT, 500, None),
        ("line:points", FulfillmentItemKind.POINTS_SPENT, -1_000, "t"),
        ("hold:a", FulfillmentItemKind.STORE_CREDIT, -1_500, "hold"),  # the capture, not the hold
    ]


def test_a_return_gives_back_each_sources_share_toward_zero() -> None:
    mugs = LineToReturn("mugs", LineItemKind.PRODUCT, amount=1_000, quantity=3, returned_before=0)
    sources = [MoneySource("credit:a", 1_001), MoneySource("external", 999)]
    parts = plan_return(
        mugs, 1, chargeable=2_000, sources=sources, earned_points=90, no_refund_policy=False
    )
    # 1,001 x 1,000 x 1 / (3 x 2,000) = 166.83 -> 166; 999 x ... = 166.5 -> 166
    assert [(p.kind, p.amount) for p in parts] == [
        (ReturnPartKind.RESTORE_STORE_CREDIT, 166),
        (ReturnPartKind.REFUND_DUE, 166),
        (ReturnPartKind.REVERSE_POINTS_EARNED, 30),
    ]
    policy = plan_return(
        mugs, 1, chargeable=2_000, sources=sources, earned_points=None, no_refund_policy=True
    )
    assert [p.kind for p in policy] == [
        ReturnPartKind.RESTORE_STORE_CREDIT,
        ReturnPartKind.ISSUE_STORE_CREDIT,
    ]


def test_a_point_line_comes_back_in_points_only() -> None:
    points = LineToReturn(
        "points",
        LineItemKind.POINT_TRANSACTION,
        amount=-990,
        quantity=1,
        returned_before=0,
        points=-3_001,
    )
    parts = plan_return(
        points,
        1,
        chargeable=5_000,
        sources=[MoneySource("external", 4_010)],
        earned_points=None,
        no_refund_policy=True,
    )
    assert [(p.kind, p.amount) for p in parts] == [(ReturnPartKind.REVERSE_POINTS_SPENT, 3_001)]


@given(
    source=st.integers(0, 10**12),
    amount=st.integers(0, 10**9),
    quantity=st.integers(1, 50),
    rest=st.integers(0, 10**9),
    steps=st.lists(st.integers(1, 50), max_size=10),
)
def test_returning_unit_by_unit_gives_back_what_all_at_once_does_and_never_more(
    source: int, amount: int, quantity: int, rest: int, steps: list[int]
) -> None:
    chargeable = amount + rest
    if chargeable == 0:
        return
    returned, total = 0, 0
    for step in steps:
        step = min(step, quantity - returned)
        if step == 0:
            break
        total += share(source, amount, returned + step, quantity, chargeable) - share(
            source, amount, returned, quantity, chargeable
        )
        returned += step
    assert total == share(source, amount, returned, quantity, chargeable)
    assert 0 <= total <= source * amount // chargeable  # never more than the line's share


@pytest.mark.parametrize("chargeable", [0, -5])
def test_nothing_is_given_back_of_a_free_order(chargeable: int) -> None:
    assert share(100, 100, 1, 1, chargeable) == 0


@dataclass(frozen=True)
class _Item:
    kind: str
    status: str


def test_the_payment_is_captured_once_every_spend_and_hold_is() -> None:
    from contracts.fulfillment import FulfillmentItemStatus as I
    from contracts.fulfillment import PaymentStatus as P
    from services.fulfillment.domain import PaymentFailed, PaymentNotCaptured, check_captured
    from services.fulfillment.domain import payment_status as status

    goods = _Item("manual", I.PENDING)
    assert status([goods], False) is P.CAPTURED  # a card paid it all
    assert status([goods, _Item("points_spent", I.COMMITTING)], False) is P.CAPTURING
    assert status([_Item("store_credit", I.FULFILLED), _Item("points_spent", I.FAILED)], False) is (
        P.FAILED
    )
    assert status([_Item("store_credit", I.FULFILLED), _Item("deposit", I.PENDING)], False) is (
        P.CAPTURED
    )
    assert status([goods], True) is P.CANCELLED
    check_captured(P.CAPTURED)
    with pytest.raises(PaymentNotCaptured) as waiting:
        check_captured(P.CAPTURING)
    assert waiting.value.retryable
    with pytest.raises(PaymentFailed) as failed:
        check_captured(P.FAILED)
    assert not failed.value.retryable


def test_a_kept_reason_is_brief() -> None:
    from services.fulfillment.domain import MAX_REASON, brief

    assert brief(None) is None
    assert brief("short") == "short"
    assert len(brief("x" * 1000) or "") == MAX_REASON
