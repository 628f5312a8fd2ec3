"""Every event about an order stays under Kafka's record limit by construction: the
largest ``Order``, ``OrderCheckedOut`` and ``Fulfillment`` the caps allow, every text at
its longest, every id at 128 characters, are encoded and measured."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.envelope import Actor, ActorKind, new_envelope
from contracts.fulfillment import (
    Fulfillment,
    FulfillmentItemKind,
    FulfillmentItemStatus,
    FulfillmentItemView,
    PaymentStatus,
    ReturnPartKind,
    ReturnPartStatus,
    ReturnPartView,
    ReturnStatus,
    ReturnView,
)
from contracts.order import (
    AppliedCreditStatus,
    AppliedCreditView,
    CheckoutFailure,
    HoldToCapture,
    LineItemKind,
    LineItemView,
    Order,
    OrderCheckedOut,
    OrderStatus,
    PaymentView,
    PendingSpendToCommit,
    PointsToCredit,
    Totals,
)
from services.fulfillment.domain import MAX_REASON, MAX_RETURNS
from services.order.domain import MAX_AMOUNT, MAX_APPLIED_CREDITS, MAX_LINE_ITEMS
from shared.runtime.codec import encode
from shared.runtime.outbox import MAX_RECORD_BYTES

ID = "i" * 128
TEXT = "t" * 200
REASON = "r" * 500
KEPT_REASON = "r" * MAX_REASON  # what fulfillment keeps of a refusal's reason
BIG = -MAX_AMOUNT
NOW = datetime(2026, 12, 2, tzinfo=UTC)
HEADROOM = 0.75
"""The largest event may fill at most this share of a record: room for what a bigger
envelope, longer ledger reasons or a new field may add."""


def _line(n: int) -> LineItemView:
    return LineItemView(
        line_item_id=f"{n}{ID}"[:128],
        kind=LineItemKind.POINT_TRANSACTION,
        sku=TEXT,
        name=TEXT,
        unit_price=MAX_AMOUNT,
        quantity=100_000,
        amount=BIG,
        account_id=ID,
        unit="u" * 64,
        points=BIG,
        transaction_id=ID,
        exchange_rate="9" * 18 + "." + "9" * 12,
    )


def _credit(n: int) -> AppliedCreditView:
    return AppliedCreditView(
        application_id=f"{n}{ID}"[:128],
        status=AppliedCreditStatus.REFUSED,
        store_credit_id=ID,
        name=TEXT,
        code="******1234",
        hold_transaction_id=ID,
        ledger_account_id=ID,
        held=MAX_AMOUNT,
        applied=MAX_AMOUNT,
        allow_balance_owing=True,
        refusal_code="c" * 40,
        refusal_reason=REASON,
    )


TOTALS = Totals(
    subtotal=BIG,
    points_value=BIG,
    shipping=BIG,
    tax=BIG,
    total=BIG,
    store_credit_applied=BIG,
    amount_due=BIG,
    paid_externally=BIG,
    balance_owing=BIG,
)
PAYMENT = PaymentView(provider_reference_name=TEXT, reference=TEXT, amount=MAX_AMOUNT)


def _size(payload: Order | OrderCheckedOut | Fulfillment) -> int:
    envelope = new_envelope(
        payload,
        actor=Actor(kind=ActorKind.SERVICE, id=ID),
        idempotency_key="k" * 200,
        correlation_id="c" * 200,
        causation_id="c" * 200,
    )
    return len(encode(envelope)) + 128  # and its key


def _assert_fits(size: int) -> None:
    assert size <= HEADROOM * MAX_RECORD_BYTES, f"{size} bytes"


def test_the_largest_order_event_fits() -> None:
    order = Order(
        order_id=ID,
        number="n" * 40,
        customer_id=ID,
        currency="USD",
        status=OrderStatus.CHECKED_OUT,
        line_items=[_line(n) for n in range(MAX_LINE_ITEMS)],
        applied_credits=[_credit(n) for n in range(MAX_APPLIED_CREDITS)],
        totals=TOTALS,
        shipping_description=TEXT,
        tax_description=TEXT,
        payment=PAYMENT,
        expires_at=NOW,
        checked_out_at=NOW,
        checkout_failure=CheckoutFailure(attempt=10**6, code="c" * 40, reason=REASON),
        version=2**62,
    )
    _assert_fits(_size(order))


def test_the_largest_order_checked_out_fits() -> None:
    lines = [_line(n) for n in range(MAX_LINE_ITEMS)]
    credit = PointsToCredit(line_item_id=ID, account_id=ID, unit="u" * 64, points=BIG)
    checked_out = OrderCheckedOut(
        order_id=ID,
        number="n" * 40,
        customer_id=ID,
        currency="USD",
        line_items=lines,
        pending_spends=[
            PendingSpendToCommit(line_item_id=ID, account_id=ID, transaction_id=ID, amount=BIG)
            for _ in lines
        ],
        holds=[
            HoldToCapture(
                application_id=ID,
                store_credit_id=ID,
                ledger_account_id=ID,
                transaction_id=ID,
                held=BIG,
                capture=BIG,
            )
            for _ in range(MAX_APPLIED_CREDITS)
        ],
        deposits=[credit for _ in lines],
        points_earned=[credit for _ in lines],
        payment=PAYMENT,
        totals=TOTALS,
        checked_out_at=NOW,
    )
    _assert_fits(_size(checked_out))


def _item(kind: FulfillmentItemKind) -> FulfillmentItemView:
    return FulfillmentItemView(
        fulfillment_item_id="fi-" + "f" * 32,
        kind=kind,
        status=FulfillmentItemStatus.FAILED,
        line_item_id=ID,
        application_id=ID,
        name=f"{BIG} {'u' * 64} earned on {TEXT}",
        quantity=100_000,
        returned_quantity=100_000,
        account_id=ID,
        transaction_id=ID,
        amount=BIG,
        attempts=10**6,
        code="c" * 40,
        reason=KEPT_REASON,
        fulfilled_at=NOW,
    )


def test_the_largest_fulfillment_fits() -> None:
    """Two items per line (the goods and their points), one per credit; every return
    with a part per money source (each credit, the card, what is owed) and one of points."""
    parts = [
        ReturnPartView(
            kind=ReturnPartKind.RESTORE_STORE_CREDIT,
            status=ReturnPartStatus.FAILED,
            amount=MAX_AMOUNT,
            account_id=ID,
            transaction_id="rt-" + "f" * 32,
            store_credit_id=ID,
            code="c" * 40,
            reason=KEPT_REASON,
        )
        for _ in range(MAX_APPLIED_CREDITS + 3)
    ]
    fulfillment = Fulfillment(
        order_id=ID,
        number="n" * 40,
        customer_id=ID,
        currency="USD",
        items=[
            *(_item(FulfillmentItemKind.MANUAL) for _ in range(2 * MAX_LINE_ITEMS)),
            *(_item(FulfillmentItemKind.STORE_CREDIT) for _ in range(MAX_APPLIED_CREDITS)),
        ],
        returns=[
            ReturnView(
                return_id=ID,
                line_item_id=ID,
                quantity=100_000,
                reason=REASON,
                status=ReturnStatus.FAILED,
                parts=parts,
                returned_at=NOW,
            )
            for _ in range(MAX_RETURNS)
        ],
        payment_status=PaymentStatus.CAPTURED,
        version=2**62,
    )
    _assert_fits(_size(fulfillment))
