"""Which message types exist, and which topic carries each."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import customers, fulfillment, ledger, order, store_credit, topics
from contracts.envelope import Message
from contracts.results import CommandResult
from contracts.state import COMPANIONS


@dataclass(frozen=True)
class MessageSpec:
    model: type[Message]
    topics: tuple[topics.TopicSpec, ...]
    role: str  # "command", "event", "result", "query", "reply" or "upstream" (an event we read)


def _state(model: type[Message]) -> tuple[topics.TopicSpec, ...]:
    """A snapshot event's state topic too (``contracts.state``), if it has one."""
    companion = COMPANIONS.get(model.message_type)
    return () if companion is None else (companion.topic,)


_LEDGER_COMMANDS = (
    ledger.OpenLedgerAccount,
    ledger.CloseLedgerAccount,
    ledger.CreatePointTransaction,
    ledger.CommitPointTransaction,
    ledger.VoidPointTransaction,
    ledger.BindPointTransaction,
    ledger.ReplacePointTransaction,
    ledger.ReversePointTransaction,
)
_LEDGER_EVENTS = (
    ledger.LedgerAccountOpened,
    ledger.LedgerAccountClosed,
    ledger.PointTransactionCreated,
    ledger.PointTransactionCommitted,
    ledger.PointTransactionBound,
    ledger.PointTransactionVoided,
    ledger.PointTransactionReversed,
)

_STORE_CREDIT_COMMANDS = (
    store_credit.CreatePointAccountTemplate,
    store_credit.UpdatePointAccountTemplate,
    store_credit.CreatePointAccount,
    store_credit.UpdatePointAccount,
    store_credit.CreateStoreCredit,
    store_credit.UpdateStoreCredit,
    store_credit.AuthorizeStoreCredit,
)
_STORE_CREDIT_EVENTS = (
    store_credit.PointAccountTemplate,
    store_credit.PointAccount,
    store_credit.PointAccountRefused,
    store_credit.StoreCredit,
)

_ORDER_COMMANDS = (
    order.CreateOrder,
    order.AddProductLineItem,
    order.AddDepositLineItem,
    order.AddPointTransactionLineItem,
    order.RemoveLineItem,
    order.SetOrderCharges,
    order.ApplyStoreCredit,
    order.RemoveStoreCredit,
    order.CheckoutOrder,
    order.CancelOrder,
    order.SetOrderPaymentStatus,
)
_ORDER_EVENTS = (order.Order, order.OrderCheckedOut, order.CheckoutFailed)

_FULFILLMENT_COMMANDS = (
    fulfillment.FulfillItem,
    fulfillment.RetryFulfillmentItem,
    fulfillment.CancelFulfillment,
    fulfillment.ReturnItem,
)
_FULFILLMENT_EVENTS = (
    fulfillment.Fulfillment,
    fulfillment.FulfillmentItemFailed,
    fulfillment.ReturnPartFailed,
)

MESSAGES: tuple[MessageSpec, ...] = (
    *(MessageSpec(model, (topics.LEDGER_COMMANDS,), "command") for model in _LEDGER_COMMANDS),
    *(MessageSpec(model, (topics.LEDGER_EVENTS,), "event") for model in _LEDGER_EVENTS),
    MessageSpec(ledger.BalanceChanged, (topics.LEDGER_BALANCES,), "event"),
    MessageSpec(ledger.GetAccountBalances, (topics.LEDGER_QUERIES,), "query"),
    MessageSpec(ledger.GetTransactionHistory, (topics.LEDGER_QUERIES,), "query"),
    MessageSpec(ledger.AccountBalances, (topics.LEDGER_QUERY_REPLIES,), "reply"),
    MessageSpec(ledger.TransactionHistory, (topics.LEDGER_QUERY_REPLIES,), "reply"),
    MessageSpec(
        ledger.QueryFailed,
        (
            topics.LEDGER_QUERY_REPLIES,
            topics.STORE_CREDIT_QUERY_REPLIES,
            topics.ORDER_QUERY_REPLIES,
            topics.FULFILLMENT_QUERY_REPLIES,
        ),
        "reply",
    ),
    *(
        MessageSpec(model, (topics.STORE_CREDIT_COMMANDS,), "command")
        for model in _STORE_CREDIT_COMMANDS
    ),
    *(
        MessageSpec(model, (topics.STORE_CREDIT_EVENTS, *_state(model)), "event")
        for model in _STORE_CREDIT_EVENTS
    ),
    MessageSpec(store_credit.ListCustomerAccounts, (topics.STORE_CREDIT_QUERIES,), "query"),
    MessageSpec(store_credit.ListPointAccountTemplates, (topics.STORE_CREDIT_QUERIES,), "query"),
    MessageSpec(store_credit.PointAccountTemplates, (topics.STORE_CREDIT_QUERY_REPLIES,), "reply"),
    MessageSpec(store_credit.CustomerAccounts, (topics.STORE_CREDIT_QUERY_REPLIES,), "reply"),
    MessageSpec(store_credit.FindStoreCredit, (topics.STORE_CREDIT_QUERIES,), "query"),
    MessageSpec(store_credit.ListCustomerStoreCredits, (topics.STORE_CREDIT_QUERIES,), "query"),
    MessageSpec(store_credit.StoreCreditFound, (topics.STORE_CREDIT_QUERY_REPLIES,), "reply"),
    MessageSpec(store_credit.CustomerStoreCredits, (topics.STORE_CREDIT_QUERY_REPLIES,), "reply"),
    MessageSpec(customers.CustomerCreated, (topics.CUSTOMERS_EVENTS,), "upstream"),
    *(MessageSpec(model, (topics.ORDER_COMMANDS,), "command") for model in _ORDER_COMMANDS),
    *(
        MessageSpec(model, (topics.ORDER_EVENTS, *_state(model)), "event")
        for model in _ORDER_EVENTS
    ),
    MessageSpec(order.GetOrder, (topics.ORDER_QUERIES,), "query"),
    MessageSpec(order.OrderFound, (topics.ORDER_QUERY_REPLIES,), "reply"),
    *(
        MessageSpec(model, (topics.FULFILLMENT_COMMANDS,), "command")
        for model in _FULFILLMENT_COMMANDS
    ),
    *(
        MessageSpec(model, (topics.FULFILLMENT_EVENTS, *_state(model)), "event")
        for model in _FULFILLMENT_EVENTS
    ),
    MessageSpec(fulfillment.GetFulfillment, (topics.FULFILLMENT_QUERIES,), "query"),
    MessageSpec(fulfillment.FulfillmentFound, (topics.FULFILLMENT_QUERY_REPLIES,), "reply"),
    MessageSpec(fulfillment.ListFulfillmentProblems, (topics.FULFILLMENT_QUERIES,), "query"),
    MessageSpec(fulfillment.FulfillmentProblems, (topics.FULFILLMENT_QUERY_REPLIES,), "reply"),
    MessageSpec(
        CommandResult,
        (
            topics.LEDGER_COMMAND_RESULTS,
            topics.STORE_CREDIT_COMMAND_RESULTS,
            topics.ORDER_COMMAND_RESULTS,
            topics.FULFILLMENT_COMMAND_RESULTS,
        ),
        "result",
    ),
)


def model_for(message_type: str) -> type[Message] | None:
    for spec in MESSAGES:
        if spec.model.message_type == message_type:
            return spec.model
    return None
