"""The store-credit service: templates, point accounts and store-credit instruments."""

from __future__ import annotations

from faststream import FastStream

from contracts.customers import CustomerCreated
from contracts.ledger import BalanceChanged
from contracts.store_credit import (
    AuthorizeStoreCredit,
    CreatePointAccount,
    CreatePointAccountTemplate,
    CreateStoreCredit,
    FindStoreCredit,
    ListCustomerAccounts,
    ListCustomerStoreCredits,
    ListPointAccountTemplates,
    UpdatePointAccount,
    UpdatePointAccountTemplate,
    UpdateStoreCredit,
)
from contracts.topics import (
    CUSTOMERS_EVENTS,
    LEDGER_BALANCES,
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_DEAD_LETTERS,
    STORE_CREDIT_QUERIES,
)
from services.store_credit import accounts, authorization, credits
from shared.runtime.commands import CommandRoute
from shared.runtime.queries import QueryRoute
from shared.runtime.routing import by_type
from shared.runtime.service import ServiceDefinition, create_app
from shared.runtime.settings import Settings
from shared.runtime.subscriptions import EventRoute, Subscription

routes = by_type(
    CommandRoute(CreatePointAccountTemplate, accounts.create_template),
    CommandRoute(UpdatePointAccountTemplate, accounts.update_template),
    CommandRoute(CreatePointAccount, accounts.create_account),
    CommandRoute(UpdatePointAccount, accounts.update_account),
    CommandRoute(CreateStoreCredit, credits.create_store_credit),
    CommandRoute(UpdateStoreCredit, credits.update_store_credit),
    CommandRoute(AuthorizeStoreCredit, authorization.authorize_store_credit),
)

subscriptions = (
    Subscription(
        "customers",
        CUSTOMERS_EVENTS,
        by_type(EventRoute(CustomerCreated, accounts.on_customer_created)),
    ),
    Subscription(
        "ledger-balances",
        LEDGER_BALANCES,
        by_type(
            EventRoute(
                BalanceChanged,
                accounts.on_balance_changed,
                deduplicate=False,
                in_transaction=False,
            )
        ),
    ),
)

definition = ServiceDefinition(
    name="store_credit",
    commands=STORE_CREDIT_COMMANDS,
    results=STORE_CREDIT_COMMAND_RESULTS,
    dead_letters=STORE_CREDIT_DEAD_LETTERS,
    routes=routes,
    queries=STORE_CREDIT_QUERIES,
    query_routes=by_type(
        QueryRoute(ListCustomerAccounts, accounts.list_customer_accounts),
        QueryRoute(ListPointAccountTemplates, accounts.list_templates),
        QueryRoute(ListCustomerStoreCredits, credits.list_customer_store_credits),
        # not read-only: wrong codes are counted for the lock-out
        QueryRoute(FindStoreCredit, credits.find_store_credit, read_only=False),
    ),
    subscriptions=subscriptions,
)


def create(settings: Settings | None = None) -> FastStream:
    return create_app(definition, settings)
