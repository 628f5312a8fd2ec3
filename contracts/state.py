"""The state topics: compacted companions of the entity events, keyed by entity.

``store-credit.events``, ``order.events`` and ``fulfillment.events`` are histories (some
of their events are not snapshots, and several entities share a key), so the broker may
delete them. Each snapshot event (an entity as it is now, after every change) is also
published, with the same envelope but a message id of its own, on its service's state
topic, keyed by the entity alone: compaction keeps the latest of each, so a new
subscriber reads the current state of everything from the beginning, as
``ledger.balances`` allows for balances.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from contracts import fulfillment, order, store_credit
from contracts.envelope import Message
from contracts.topics import FULFILLMENT_STATE, ORDER_STATE, STORE_CREDIT_STATE, TopicSpec


@dataclass(frozen=True)
class Companion:
    topic: TopicSpec
    key: Callable[[Message], str]


def _attribute(prefix: str, name: str) -> Callable[[Message], str]:
    return lambda message: f"{prefix}{getattr(message, name)}"


COMPANIONS: dict[str, Companion] = {
    store_credit.PointAccountTemplate.message_type: Companion(
        STORE_CREDIT_STATE, _attribute("template:", "template_id")
    ),
    store_credit.PointAccount.message_type: Companion(
        STORE_CREDIT_STATE, _attribute("account:", "account_id")
    ),
    store_credit.StoreCredit.message_type: Companion(
        STORE_CREDIT_STATE, _attribute("store_credit:", "store_credit_id")
    ),
    order.Order.message_type: Companion(ORDER_STATE, _attribute("", "order_id")),
    fulfillment.Fulfillment.message_type: Companion(FULFILLMENT_STATE, _attribute("", "order_id")),
}
"""The snapshot events, by type: their state topic and the entity key there."""

_NAMESPACE = uuid.UUID("5e7c1a40-3f0d-4b8e-9a2c-6d4f1e2b3c5a")


def companion_message_id(message_id: uuid.UUID) -> uuid.UUID:
    """The state topic's copy of a message: an id of its own, derived from the event's."""
    return uuid.uuid5(_NAMESPACE, str(message_id))
