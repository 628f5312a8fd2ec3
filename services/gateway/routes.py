"""Every resource of the HTTP API: which command or query each route sends.

Customers reach their own accounts, transactions, credits and orders; the services
decide, exactly as for any other client (a customer asking for another's gets what
the service answers: ``forbidden`` 403, or ``*_not_found`` 404 where the contract
does not even admit that the thing exists).
"""

from __future__ import annotations

from contracts import fulfillment, ledger, order, store_credit
from contracts.envelope import Command
from contracts.topics import (
    FULFILLMENT_COMMANDS,
    FULFILLMENT_QUERIES,
    FULFILLMENT_QUERY_REPLIES,
    LEDGER_COMMANDS,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
    ORDER_COMMANDS,
    ORDER_QUERIES,
    ORDER_QUERY_REPLIES,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_QUERIES,
    STORE_CREDIT_QUERY_REPLIES,
)
from services.gateway.endpoints import Route

ACCOUNTS = "Point accounts and transactions"
TEMPLATES = "Templates"
CREDITS = "Store credits"
ORDERS = "Orders and carts"
FULFILLMENT = "Fulfillment and returns"


def _ledger(method: str, path: str, model: type[Command], summary: str) -> Route:
    return Route(method, path, model, LEDGER_COMMANDS, summary, ACCOUNTS)


def _credit(method: str, path: str, model: type[Command], summary: str, tag: str) -> Route:
    return Route(method, path, model, STORE_CREDIT_COMMANDS, summary, tag)


def _order(method: str, path: str, model: type[Command], summary: str) -> Route:
    return Route(method, path, model, ORDER_COMMANDS, summary, ORDERS)


def _fulfillment(method: str, path: str, model: type[Command], summary: str) -> Route:
    return Route(method, path, model, FULFILLMENT_COMMANDS, summary, FULFILLMENT)


TX = "/v1/accounts/{account_id}/transactions/{transaction_id}"

ROUTES: tuple[Route, ...] = (
    # --- the ledger: balances and point transactions ---------------------------------------
    Route(
        "GET",
        "/v1/accounts/{account_id}/balance",
        ledger.GetAccountBalances,
        LEDGER_QUERIES,
        "An account's balance, holds and what is available",
        ACCOUNTS,
        replies=LEDGER_QUERY_REPLIES,
    ),
    Route(
        "GET",
        "/v1/accounts/{account_id}/transactions",
        ledger.GetTransactionHistory,
        LEDGER_QUERIES,
        "An account's point transactions, newest first, a page at a time",
        ACCOUNTS,
        replies=LEDGER_QUERY_REPLIES,
    ),
    _ledger("POST", "/v1/ledger-accounts", ledger.OpenLedgerAccount, "Open a ledger account"),
    _ledger(
        "POST", "/v1/accounts/{account_id}/close", ledger.CloseLedgerAccount, "Close an account"
    ),
    _ledger(
        "POST",
        "/v1/accounts/{account_id}/transactions",
        ledger.CreatePointTransaction,
        "A deposit, or a pending or committed spend",
    ),
    _ledger("POST", f"{TX}/commit", ledger.CommitPointTransaction, "Commit a pending one"),
    _ledger("POST", f"{TX}/void", ledger.VoidPointTransaction, "Void a pending one"),
    _ledger("POST", f"{TX}/reverse", ledger.ReversePointTransaction, "Reverse a committed one"),
    _ledger("POST", f"{TX}/replace", ledger.ReplacePointTransaction, "Resize a pending spend"),
    # --- templates and point accounts --------------------------------------------------------
    Route(
        "GET",
        "/v1/templates",
        store_credit.ListPointAccountTemplates,
        STORE_CREDIT_QUERIES,
        "The point-account templates, a page at a time",
        TEMPLATES,
        replies=STORE_CREDIT_QUERY_REPLIES,
    ),
    _credit(
        "POST",
        "/v1/templates",
        store_credit.CreatePointAccountTemplate,
        "Create a template",
        TEMPLATES,
    ),
    _credit(
        "PATCH",
        "/v1/templates/{template_id}",
        store_credit.UpdatePointAccountTemplate,
        "Rename a template, change its rates or status (its accounts follow)",
        TEMPLATES,
    ),
    Route(
        "GET",
        "/v1/customers/{customer_id}/accounts",
        store_credit.ListCustomerAccounts,
        STORE_CREDIT_QUERIES,
        "A customer's point accounts with their balances",
        ACCOUNTS,
        replies=STORE_CREDIT_QUERY_REPLIES,
    ),
    _credit(
        "POST",
        "/v1/customers/{customer_id}/accounts",
        store_credit.CreatePointAccount,
        "Create a point account directly, without a template",
        ACCOUNTS,
    ),
    _credit(
        "PATCH",
        "/v1/customers/{customer_id}/accounts/{account_id}",
        store_credit.UpdatePointAccount,
        "Change a point account",
        ACCOUNTS,
    ),
    # --- store credits -----------------------------------------------------------------------
    Route(
        "GET",
        "/v1/customers/{customer_id}/store-credits",
        store_credit.ListCustomerStoreCredits,
        STORE_CREDIT_QUERIES,
        "A customer's store credits, usable first (codes masked)",
        CREDITS,
        replies=STORE_CREDIT_QUERY_REPLIES,
    ),
    _credit(
        "POST",
        "/v1/store-credits",
        store_credit.CreateStoreCredit,
        "Issue a store credit (its new code is in this response, once)",
        CREDITS,
    ),
    _credit(
        "PATCH",
        "/v1/store-credits/{store_credit_id}",
        store_credit.UpdateStoreCredit,
        "Change a store credit (the amount only above its balance); disable it",
        CREDITS,
    ),
    Route(
        "POST",
        "/v1/store-credits/lookup",
        store_credit.FindStoreCredit,
        STORE_CREDIT_QUERIES,
        "Find a store credit by code, token or external id (the code in the body, never a URL)",
        CREDITS,
        replies=STORE_CREDIT_QUERY_REPLIES,
    ),
    # --- orders and carts --------------------------------------------------------------------
    _order("POST", "/v1/orders", order.CreateOrder, "Open a cart"),
    Route(
        "GET",
        "/v1/orders/{order_id}",
        order.GetOrder,
        ORDER_QUERIES,
        "The order: items, applied credits (codes masked), totals, amount due, payments",
        ORDERS,
        replies=ORDER_QUERY_REPLIES,
    ),
    _order(
        "POST",
        "/v1/orders/{order_id}/line-items/products",
        order.AddProductLineItem,
        "Add a product",
    ),
    _order(
        "POST",
        "/v1/orders/{order_id}/line-items/deposits",
        order.AddDepositLineItem,
        "Add points to be deposited when the item is fulfilled",
    ),
    _order(
        "POST",
        "/v1/orders/{order_id}/line-items/point-spends",
        order.AddPointTransactionLineItem,
        "Pay with a pending point transaction (a spend of the customer's points)",
    ),
    _order(
        "DELETE",
        "/v1/orders/{order_id}/line-items/{line_item_id}",
        order.RemoveLineItem,
        "Remove a line item",
    ),
    _order("PUT", "/v1/orders/{order_id}/charges", order.SetOrderCharges, "Set taxes and shipping"),
    _order(
        "POST",
        "/v1/orders/{order_id}/store-credits",
        order.ApplyStoreCredit,
        "Apply a store credit by code (sealed here), token or id",
    ),
    _order(
        "DELETE",
        "/v1/orders/{order_id}/store-credits/{application_id}",
        order.RemoveStoreCredit,
        "Take an applied store credit off",
    ),
    _order("POST", "/v1/orders/{order_id}/checkout", order.CheckoutOrder, "Check out"),
    _order("POST", "/v1/orders/{order_id}/cancel", order.CancelOrder, "Cancel an order"),
    _order(
        "POST",
        "/v1/orders/{order_id}/payment-status",
        order.SetOrderPaymentStatus,
        "Report the card payment's outcome (the shop's back end)",
    ),
    # --- fulfillment -------------------------------------------------------------------------
    Route(
        "GET",
        "/v1/orders/{order_id}/fulfillment",
        fulfillment.GetFulfillment,
        FULFILLMENT_QUERIES,
        "An order's fulfillment: its items with their status, returns, payment status",
        FULFILLMENT,
        replies=FULFILLMENT_QUERY_REPLIES,
    ),
    Route(
        "GET",
        "/v1/fulfillment-problems",
        fulfillment.ListFulfillmentProblems,
        FULFILLMENT_QUERIES,
        "The fulfillments that need a person (a failed item or return part), a page at a time",
        FULFILLMENT,
        replies=FULFILLMENT_QUERY_REPLIES,
    ),
    _fulfillment(
        "POST",
        "/v1/orders/{order_id}/fulfillment/items/{fulfillment_item_id}/fulfill",
        fulfillment.FulfillItem,
        "Mark a manual item fulfilled",
    ),
    _fulfillment(
        "POST",
        "/v1/orders/{order_id}/fulfillment/items/{fulfillment_item_id}/retry",
        fulfillment.RetryFulfillmentItem,
        "Retry a failed item",
    ),
    _fulfillment(
        "POST",
        "/v1/orders/{order_id}/fulfillment/cancel",
        fulfillment.CancelFulfillment,
        "Cancel what is not fulfilled yet",
    ),
    _fulfillment(
        "POST",
        "/v1/orders/{order_id}/returns",
        fulfillment.ReturnItem,
        "Return an item (its points reversed, or new store credit)",
    ),
)
