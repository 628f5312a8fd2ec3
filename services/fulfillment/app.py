"""The fulfillment service: auto-fulfillment commits, manual items, returns.

It takes ``OrderCheckedOut`` from ``order.events`` and makes the order's
fulfillment items; auto items are committed through the ledger, manual ones by
``FulfillItem``. ``GetFulfillment`` on ``fulfillment.queries`` answers an order's
fulfillment as it is now, ``ListFulfillmentProblems`` the ones that need a person.
``ReturnItem`` gives back what a returned line item was paid with. It follows the
answers to the commands it sends on ``ledger.command-results`` and
``store-credit.command-results``, and publishes ``Fulfillment``,
``FulfillmentItemFailed`` and ``ReturnPartFailed`` on ``fulfillment.events``.
"""

from __future__ import annotations

from faststream import FastStream

from contracts.fulfillment import (
    CancelFulfillment,
    FulfillItem,
    GetFulfillment,
    ListFulfillmentProblems,
    RetryFulfillmentItem,
    ReturnItem,
)
from contracts.order import OrderCheckedOut
from contracts.results import CommandResult
from contracts.topics import (
    FULFILLMENT_COMMAND_RESULTS,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_DEAD_LETTERS,
    FULFILLMENT_QUERIES,
    LEDGER_COMMAND_RESULTS,
    ORDER_EVENTS,
    STORE_CREDIT_COMMAND_RESULTS,
)
from services.fulfillment import answers, items, queries, returns
from shared.runtime.commands import CommandRoute
from shared.runtime.queries import QueryRoute
from shared.runtime.routing import by_type
from shared.runtime.service import ServiceDefinition, create_app
from shared.runtime.settings import Settings
from shared.runtime.subscriptions import EventRoute, Subscription

routes = by_type(
    CommandRoute(FulfillItem, items.fulfill_item),
    CommandRoute(RetryFulfillmentItem, items.retry_fulfillment_item),
    CommandRoute(CancelFulfillment, items.cancel_fulfillment),
    CommandRoute(ReturnItem, returns.return_item),
)

subscriptions = (
    Subscription(
        "checked-out-orders",
        ORDER_EVENTS,
        by_type(EventRoute(OrderCheckedOut, items.on_order_checked_out)),
    ),
    Subscription(
        "ledger-results",
        LEDGER_COMMAND_RESULTS,
        by_type(EventRoute(CommandResult, answers.on_ledger_result, deduplicate=False)),
    ),
    Subscription(
        "store-credit-results",
        STORE_CREDIT_COMMAND_RESULTS,
        by_type(EventRoute(CommandResult, answers.on_store_credit_result, deduplicate=False)),
    ),
)

definition = ServiceDefinition(
    name="fulfillment",
    commands=FULFILLMENT_COMMANDS,
    results=FULFILLMENT_COMMAND_RESULTS,
    dead_letters=FULFILLMENT_DEAD_LETTERS,
    routes=routes,
    queries=FULFILLMENT_QUERIES,
    query_routes=by_type(
        QueryRoute(GetFulfillment, queries.get_fulfillment),
        QueryRoute(ListFulfillmentProblems, queries.list_problems),
    ),
    subscriptions=subscriptions,
)


def create(settings: Settings | None = None) -> FastStream:
    return create_app(definition, settings)
