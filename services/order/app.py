"""The order service: carts, line items, applied store credit, checkout.

Commands on ``order.commands`` (keyed by order), ``GetOrder`` on
``order.queries``. It keeps copies of point accounts (``store-credit.events``)
and pending transactions (``ledger.events``), follows the answers to the
commands it sends (``store-credit.command-results``,
``ledger.command-results``) and abandons expired carts.
"""

from __future__ import annotations

from faststream import FastStream

from contracts.envelope import Message
from contracts.ledger import (
    PointTransactionCommitted,
    PointTransactionCreated,
    PointTransactionVoided,
)
from contracts.order import (
    AddDepositLineItem,
    AddPointTransactionLineItem,
    AddProductLineItem,
    ApplyStoreCredit,
    CancelOrder,
    CheckoutOrder,
    CreateOrder,
    GetOrder,
    RemoveLineItem,
    RemoveStoreCredit,
    SetOrderCharges,
    SetOrderPaymentStatus,
)
from contracts.results import CommandResult
from contracts.store_credit import PointAccount
from contracts.topics import (
    LEDGER_COMMAND_RESULTS,
    LEDGER_EVENTS,
    ORDER_COMMAND_RESULTS,
    ORDER_COMMANDS,
    ORDER_DEAD_LETTERS,
    ORDER_QUERIES,
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_EVENTS,
)
from services.order import abandon, carts, checkout, copies, credits, queries
from shared.runtime.commands import CommandRoute
from shared.runtime.queries import QueryRoute
from shared.runtime.routing import by_type
from shared.runtime.service import ServiceDefinition, create_app
from shared.runtime.settings import Settings
from shared.runtime.subscriptions import EventHandler, EventRoute, Subscription

routes = by_type(
    CommandRoute(CreateOrder, carts.create_order),
    CommandRoute(AddProductLineItem, carts.add_product_line_item),
    CommandRoute(AddDepositLineItem, carts.add_deposit_line_item),
    CommandRoute(AddPointTransactionLineItem, carts.add_point_transaction_line_item),
    CommandRoute(RemoveLineItem, carts.remove_line_item),
    CommandRoute(SetOrderCharges, carts.set_order_charges),
    CommandRoute(CancelOrder, carts.cancel_order),
    CommandRoute(ApplyStoreCredit, credits.apply_store_credit),
    CommandRoute(RemoveStoreCredit, credits.remove_store_credit),
    CommandRoute(CheckoutOrder, checkout.checkout_order),
    CommandRoute(SetOrderPaymentStatus, checkout.set_payment_status),
)


def _copy(model: type[Message], handle: EventHandler) -> EventRoute:
    """Handlers idempotent by themselves (state checks, versions) skip the inbox."""
    return EventRoute(model, handle, deduplicate=False)


def _single_write(model: type[Message], handle: EventHandler) -> EventRoute:
    """A copy that is one idempotent statement and publishes nothing: an event alone is
    handled outside a transaction (the statement commits by itself)."""
    return EventRoute(model, handle, deduplicate=False, in_transaction=False)


subscriptions = (
    Subscription(
        "point-accounts",
        STORE_CREDIT_EVENTS,
        by_type(_single_write(PointAccount, copies.on_point_account)),
    ),
    Subscription(
        "ledger-events",
        LEDGER_EVENTS,
        by_type(
            _single_write(PointTransactionCreated, copies.on_transaction_created),
            _single_write(PointTransactionCommitted, copies.on_transaction_committed),
            _copy(PointTransactionVoided, copies.on_transaction_voided),
        ),
    ),
    Subscription(
        "store-credit-results",
        STORE_CREDIT_COMMAND_RESULTS,
        by_type(_copy(CommandResult, credits.on_store_credit_result)),
    ),
    Subscription(
        "ledger-results",
        LEDGER_COMMAND_RESULTS,
        by_type(_copy(CommandResult, credits.on_ledger_result)),
    ),
)

definition = ServiceDefinition(
    name="order",
    commands=ORDER_COMMANDS,
    results=ORDER_COMMAND_RESULTS,
    dead_letters=ORDER_DEAD_LETTERS,
    routes=routes,
    queries=ORDER_QUERIES,
    query_routes=by_type(QueryRoute(GetOrder, queries.get_order)),
    jobs=(abandon.abandoned_carts, checkout.checkout_deadlines),
    subscriptions=subscriptions,
)


def create(settings: Settings | None = None) -> FastStream:
    return create_app(definition, settings)
