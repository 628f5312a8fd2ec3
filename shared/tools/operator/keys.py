"""The Kafka key a command or query travels with, from its payload: the field its
contract names (``Message.key_field``, also in the AsyncAPI document), as the
services and their clients key them.

It is None when the payload does not say the key: ``FindStoreCredit`` is keyed by
whoever looks. The operator then gives ``--key``.
"""

from __future__ import annotations

from contracts import fulfillment, store_credit
from contracts.envelope import Message
from contracts.topics import (
    FULFILLMENT_COMMANDS,
    FULFILLMENT_QUERIES,
    LEDGER_COMMANDS,
    LEDGER_QUERIES,
    ORDER_COMMANDS,
    ORDER_QUERIES,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_QUERIES,
)

CUSTOM_KEYS: dict[type[Message], str] = {
    store_credit.ListPointAccountTemplates: "templates",
    fulfillment.ListFulfillmentProblems: "problems",
}
"""Queries about no one entity: any key does, these by custom (their ``key_hint``)."""


def natural_key(topic_name: str, payload: Message) -> str | None:
    """The key for ``payload`` on the registry topic ``topic_name``, or None if unknown:
    the field its contract keys it by (``Message.key_field``), or the custom of a
    message any key does for."""
    custom = CUSTOM_KEYS.get(type(payload))
    if custom is not None:
        return custom
    if topic_name not in KEYED_TOPICS:
        return None
    return payload.message_key()


KEYED_TOPICS = frozenset(
    topic.name
    for topic in (
        LEDGER_COMMANDS,
        LEDGER_QUERIES,
        STORE_CREDIT_COMMANDS,
        STORE_CREDIT_QUERIES,
        ORDER_COMMANDS,
        ORDER_QUERIES,
        FULFILLMENT_COMMANDS,
        FULFILLMENT_QUERIES,
    )
)
