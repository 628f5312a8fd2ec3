"""The Kafka key a command or query travels with, from its payload: one rule per
contract area, as the services and their clients key them (contracts/topics.py
says which id each topic is keyed by).

A rule answers None when the payload does not say the key: ``UpdateStoreCredit``
is keyed by the credit's customer, which the payload does not carry (its
``customer_id`` is the new owner), and ``FindStoreCredit`` by whoever looks.
The operator then gives ``--key``.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts import store_credit
from contracts.envelope import Message
from contracts.topics import (
    FULFILLMENT_COMMANDS,
    LEDGER_COMMANDS,
    LEDGER_QUERIES,
    ORDER_COMMANDS,
    ORDER_QUERIES,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_QUERIES,
)

KeyRule = Callable[[Message], str | None]
TEMPLATES_KEY = "templates"
"""ListPointAccountTemplates is about no one entity: any key does, this one by custom."""


def _field(payload: Message, name: str) -> str | None:
    value = getattr(payload, name, None)
    return value if isinstance(value, str) and value else None


def ledger_key(payload: Message) -> str | None:
    """Every ledger command and question is about one account."""
    return _field(payload, "account_id")


def store_credit_key(payload: Message) -> str | None:
    """Templates by their id; accounts, authorizations and lists by the customer;
    a new store credit by its customer, or by its own id when it has none."""
    if isinstance(
        payload, store_credit.CreatePointAccountTemplate | store_credit.UpdatePointAccountTemplate
    ):
        return payload.template_id
    if isinstance(payload, store_credit.CreateStoreCredit):
        return payload.customer_id or payload.store_credit_id
    if isinstance(payload, store_credit.ListPointAccountTemplates):
        return TEMPLATES_KEY
    if isinstance(
        payload,
        store_credit.CreatePointAccount
        | store_credit.UpdatePointAccount
        | store_credit.AuthorizeStoreCredit
        | store_credit.ListCustomerAccounts
        | store_credit.ListCustomerStoreCredits,
    ):
        return payload.customer_id
    return None


def order_key(payload: Message) -> str | None:
    """Order and fulfillment commands and questions are each about one order."""
    return _field(payload, "order_id")


RULES: dict[str, KeyRule] = {
    LEDGER_COMMANDS.name: ledger_key,
    LEDGER_QUERIES.name: ledger_key,
    STORE_CREDIT_COMMANDS.name: store_credit_key,
    STORE_CREDIT_QUERIES.name: store_credit_key,
    ORDER_COMMANDS.name: order_key,
    ORDER_QUERIES.name: order_key,
    FULFILLMENT_COMMANDS.name: order_key,
}


def natural_key(topic_name: str, payload: Message) -> str | None:
    """The key for ``payload`` on the registry topic ``topic_name``, or None if unknown."""
    rule = RULES.get(topic_name)
    return rule(payload) if rule is not None else None
