"""The topic registry: every topic the platform reads or writes.

Partition counts are explicit so ordering per key is predictable; the key
column says what a producer must use as the Kafka message key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOUR_MS = 3_600_000
QUERY_RETENTION = {"retention.ms": str(HOUR_MS)}
"""Queries and replies: an asker waits seconds, so an hour is more than they are useful."""
SEALED_RETENTION = {"retention.ms": str(72 * HOUR_MS)}
"""Topics that carry sealed codes (commands with a sealed code, the results that seal a new
one to its requester): kept three days, long enough for a consumer down over a weekend
to catch up, and no longer."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    description: str
    compacted: bool = False
    config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self) -> dict[str, str]:
        config = {"cleanup.policy": "compact" if self.compacted else "delete"}
        config.update(self.config)
        return config


LEDGER_COMMANDS = TopicSpec(
    "ledger.commands",
    partitions=6,
    key="ledger account id",
    description="Commands to the ledger service.",
)
LEDGER_COMMAND_RESULTS = TopicSpec(
    "ledger.command-results",
    partitions=6,
    key="ledger account id (the key of the command)",
    description="Exactly one result per ledger command: accepted or rejected.",
)
LEDGER_EVENTS = TopicSpec(
    "ledger.events",
    partitions=6,
    key="ledger account id",
    description="Lifecycle events of ledger accounts and point transactions.",
)
LEDGER_BALANCES = TopicSpec(
    "ledger.balances",
    partitions=6,
    key="ledger account id",
    description=(
        "BalanceChanged, log-compacted: the latest record per key is the "
        "account's current balance, so a new subscriber rebuilds every balance."
    ),
    compacted=True,
    config={"min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"},
)
LEDGER_QUERIES = TopicSpec(
    "ledger.queries",
    partitions=6,
    key="ledger account id",
    description=(
        "Questions to the ledger (balances, transaction history). Publish with a "
        "reply_to header naming the topic for the answer, and a correlation-id header."
    ),
    config=QUERY_RETENTION,
)
LEDGER_QUERY_REPLIES = TopicSpec(
    "ledger.query-replies",
    partitions=6,
    key="the correlation id of the question",
    description=(
        "Answers to ledger queries for clients without a reply topic of their own; "
        "match them by the correlation-id header."
    ),
    config=QUERY_RETENTION,
)
LEDGER_DEAD_LETTERS = TopicSpec(
    "ledger.dead-letters",
    partitions=1,
    key="the original message key",
    description="Messages the ledger could not decode or validate, original bytes kept.",
)

STORE_CREDIT_COMMANDS = TopicSpec(
    "store-credit.commands",
    partitions=6,
    key=(
        "what the command is about: template id for templates, customer id for point "
        "accounts and authorizations, store credit id for store credits"
    ),
    description="Commands to the store-credit service.",
    config=SEALED_RETENTION,
)
STORE_CREDIT_COMMAND_RESULTS = TopicSpec(
    "store-credit.command-results",
    partitions=6,
    key="the key of the command",
    description="Exactly one result per store-credit command.",
    config=SEALED_RETENTION,
)
STORE_CREDIT_EVENTS = TopicSpec(
    "store-credit.events",
    partitions=6,
    key="customer id, or store credit id",
    description="Template, point-account and store-credit events.",
)
STORE_CREDIT_QUERIES = TopicSpec(
    "store-credit.queries",
    partitions=6,
    key="customer id (any key for FindStoreCredit and ListPointAccountTemplates)",
    description=(
        "Questions to the store-credit service (a customer's accounts with balances). "
        "Publish with reply_to and correlation-id headers, as for ledger.queries."
    ),
    config=QUERY_RETENTION,
)
STORE_CREDIT_QUERY_REPLIES = TopicSpec(
    "store-credit.query-replies",
    partitions=6,
    key="the correlation id of the question",
    description="Answers to store-credit queries; match them by the correlation-id header.",
    config=QUERY_RETENTION,
)
STORE_CREDIT_DEAD_LETTERS = TopicSpec(
    "store-credit.dead-letters",
    partitions=1,
    key="the original message key",
    description="Messages the store-credit service could not decode or validate.",
)
CUSTOMERS_EVENTS = TopicSpec(
    "customers.events",
    partitions=6,
    key="customer id",
    description="Upstream customer events (CustomerCreated), published by the shop.",
)

ORDER_COMMANDS = TopicSpec(
    "order.commands",
    partitions=6,
    key="order id",
    description="Commands to the order service.",
    config=SEALED_RETENTION,
)
ORDER_COMMAND_RESULTS = TopicSpec(
    "order.command-results",
    partitions=6,
    key="order id",
    description="Exactly one result per order command.",
)
ORDER_EVENTS = TopicSpec(
    "order.events",
    partitions=6,
    key="order id",
    description="Order events, among them OrderCheckedOut.",
)
ORDER_QUERIES = TopicSpec(
    "order.queries",
    partitions=6,
    key="order id",
    description=(
        "Questions to the order service (GetOrder). Publish with reply_to and "
        "correlation-id headers, as for ledger.queries."
    ),
    config=QUERY_RETENTION,
)
ORDER_QUERY_REPLIES = TopicSpec(
    "order.query-replies",
    partitions=6,
    key="the correlation id of the question",
    description="Answers to order queries; match them by the correlation-id header.",
    config=QUERY_RETENTION,
)
ORDER_DEAD_LETTERS = TopicSpec(
    "order.dead-letters",
    partitions=1,
    key="the original message key",
    description="Messages the order service could not decode or validate.",
)

FULFILLMENT_COMMANDS = TopicSpec(
    "fulfillment.commands",
    partitions=6,
    key="order id",
    description="Commands to the fulfillment service.",
)
FULFILLMENT_COMMAND_RESULTS = TopicSpec(
    "fulfillment.command-results",
    partitions=6,
    key="order id",
    description="Exactly one result per fulfillment command.",
)
FULFILLMENT_EVENTS = TopicSpec(
    "fulfillment.events",
    partitions=6,
    key="order id",
    description="Fulfillment item events.",
)
FULFILLMENT_QUERIES = TopicSpec(
    "fulfillment.queries",
    partitions=6,
    key="order id",
    description=(
        "Questions to the fulfillment service (GetFulfillment, ListFulfillmentProblems). "
        "Publish with reply_to and "
        "correlation-id headers, as for ledger.queries."
    ),
    config=QUERY_RETENTION,
)
FULFILLMENT_QUERY_REPLIES = TopicSpec(
    "fulfillment.query-replies",
    partitions=6,
    key="the correlation id of the question",
    description="Answers to fulfillment queries; match them by the correlation-id header.",
    config=QUERY_RETENTION,
)
FULFILLMENT_DEAD_LETTERS = TopicSpec(
    "fulfillment.dead-letters",
    partitions=1,
    key="the original message key",
    description="Messages the fulfillment service could not decode or validate.",
)

STATE_CONFIG = {"min.cleanable.dirty.ratio": "0.1", "segment.ms": str(HOUR_MS)}
STORE_CREDIT_STATE = TopicSpec(
    "store-credit.state",
    partitions=6,
    key="the entity: template:<template id>, account:<account id>, store_credit:<id>",
    description=(
        "The latest PointAccountTemplate, PointAccount and StoreCredit of every entity, "
        "log-compacted: read it from the beginning to know them all, as they are now."
    ),
    compacted=True,
    config=STATE_CONFIG,
)
ORDER_STATE = TopicSpec(
    "order.state",
    partitions=6,
    key="order id",
    description="The latest Order of every order, log-compacted (read it from the beginning).",
    compacted=True,
    config=STATE_CONFIG,
)
FULFILLMENT_STATE = TopicSpec(
    "fulfillment.state",
    partitions=6,
    key="order id",
    description=(
        "The latest Fulfillment of every order, log-compacted (read it from the beginning)."
    ),
    compacted=True,
    config=STATE_CONFIG,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    LEDGER_COMMANDS,
    LEDGER_COMMAND_RESULTS,
    LEDGER_EVENTS,
    LEDGER_BALANCES,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
    LEDGER_DEAD_LETTERS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_EVENTS,
    STORE_CREDIT_QUERIES,
    STORE_CREDIT_QUERY_REPLIES,
    STORE_CREDIT_DEAD_LETTERS,
    STORE_CREDIT_STATE,
    CUSTOMERS_EVENTS,
    ORDER_COMMANDS,
    ORDER_COMMAND_RESULTS,
    ORDER_EVENTS,
    ORDER_QUERIES,
    ORDER_QUERY_REPLIES,
    ORDER_DEAD_LETTERS,
    ORDER_STATE,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_COMMAND_RESULTS,
    FULFILLMENT_EVENTS,
    FULFILLMENT_QUERIES,
    FULFILLMENT_QUERY_REPLIES,
    FULFILLMENT_DEAD_LETTERS,
    FULFILLMENT_STATE,
)


def topic_by_name(name: str) -> TopicSpec:
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(name)
