"""Who may read and write which topic: one Kafka principal per service and per kind of
outside client, each with only what it needs.

The rule: a service alone writes what it owns (its results, events, balances, query
replies and dead letters); commands and queries are written by the clients that send
them (and by the services that send each other commands); everyone reads what they
act on. The authorizer enforces it (ACLs, written from this table), so a storefront
cannot forge an event, and the services' actor claims (``shared.runtime.claims``)
say *whom* a command is for. Consumer groups are the principal's own
(``<prefix>storecredit-<service>`` for a service, ``<prefix><principal>-`` for a client).

This module is data only: ``contracts/access.md`` (the table for people) and
``deploy/k8s/kafka-users.yaml`` (Strimzi ``KafkaUser`` resources) are generated from it
by ``make contracts``, and a test fails when they are stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contracts.topics import (
    ALL_TOPICS,
    CUSTOMERS_EVENTS,
    FULFILLMENT_COMMAND_RESULTS,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_DEAD_LETTERS,
    FULFILLMENT_EVENTS,
    FULFILLMENT_QUERIES,
    FULFILLMENT_QUERY_REPLIES,
    FULFILLMENT_STATE,
    LEDGER_BALANCES,
    LEDGER_COMMAND_RESULTS,
    LEDGER_COMMANDS,
    LEDGER_DEAD_LETTERS,
    LEDGER_EVENTS,
    LEDGER_QUERIES,
    LEDGER_QUERY_REPLIES,
    ORDER_COMMAND_RESULTS,
    ORDER_COMMANDS,
    ORDER_DEAD_LETTERS,
    ORDER_EVENTS,
    ORDER_QUERIES,
    ORDER_QUERY_REPLIES,
    ORDER_STATE,
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_DEAD_LETTERS,
    STORE_CREDIT_EVENTS,
    STORE_CREDIT_QUERIES,
    STORE_CREDIT_QUERY_REPLIES,
    STORE_CREDIT_STATE,
    TopicSpec,
)

Kind = Literal["service", "client"]


@dataclass(frozen=True)
class Principal:
    """One Kafka user: what it is for, and the topics it may write and read."""

    name: str
    kind: Kind
    purpose: str
    writes: tuple[TopicSpec, ...]
    reads: tuple[TopicSpec, ...]
    observes: tuple[TopicSpec, ...] = ()
    """Topics it may only describe (their offsets: a consumer group's lag), never read."""
    observes_groups_of: tuple[str, ...] = ()
    """Principals whose consumer groups it may describe (their committed offsets)."""

    def user(self, prefix: str = "") -> str:
        """Its Kafka user name in the environment of ``prefix`` (hyphens only: it names a
        Kubernetes resource too)."""
        return f"{prefix}storecredit-{self.name.replace('_', '-')}"

    def observed_group_prefixes(self, prefix: str = "") -> list[str]:
        """The group prefixes of the principals whose groups it may describe."""
        return [p.group_prefix(prefix) for p in PRINCIPALS if p.name in self.observes_groups_of]

    def group_prefix(self, prefix: str = "") -> str:
        """The consumer groups it may use: its own, by name."""
        if self.kind == "service":
            return f"{prefix}storecredit-{self.name}"
        return f"{prefix}{self.name}-"


COMMAND_TOPICS = (LEDGER_COMMANDS, STORE_CREDIT_COMMANDS, ORDER_COMMANDS, FULFILLMENT_COMMANDS)
RESULT_TOPICS = (
    LEDGER_COMMAND_RESULTS,
    STORE_CREDIT_COMMAND_RESULTS,
    ORDER_COMMAND_RESULTS,
    FULFILLMENT_COMMAND_RESULTS,
)
QUERY_TOPICS = (LEDGER_QUERIES, STORE_CREDIT_QUERIES, ORDER_QUERIES, FULFILLMENT_QUERIES)
REPLY_TOPICS = (
    LEDGER_QUERY_REPLIES,
    STORE_CREDIT_QUERY_REPLIES,
    ORDER_QUERY_REPLIES,
    FULFILLMENT_QUERY_REPLIES,
)
EVENT_TOPICS = (
    LEDGER_EVENTS,
    LEDGER_BALANCES,
    STORE_CREDIT_EVENTS,
    ORDER_EVENTS,
    FULFILLMENT_EVENTS,
    STORE_CREDIT_STATE,
    ORDER_STATE,
    FULFILLMENT_STATE,
)
DEAD_LETTER_TOPICS = (
    LEDGER_DEAD_LETTERS,
    STORE_CREDIT_DEAD_LETTERS,
    ORDER_DEAD_LETTERS,
    FULFILLMENT_DEAD_LETTERS,
)

SERVICE_NAMES = ("ledger", "store_credit", "order", "fulfillment")

PRINCIPALS: tuple[Principal, ...] = (
    Principal(
        "ledger",
        "service",
        "The ledger service.",
        writes=(
            LEDGER_COMMAND_RESULTS,
            LEDGER_EVENTS,
            LEDGER_BALANCES,
            LEDGER_QUERY_REPLIES,
            LEDGER_DEAD_LETTERS,
        ),
        reads=(LEDGER_COMMANDS, LEDGER_QUERIES),
    ),
    Principal(
        "store_credit",
        "service",
        "The store-credit service.",
        writes=(
            STORE_CREDIT_COMMAND_RESULTS,
            STORE_CREDIT_EVENTS,
            STORE_CREDIT_STATE,
            STORE_CREDIT_QUERY_REPLIES,
            STORE_CREDIT_DEAD_LETTERS,
            LEDGER_COMMANDS,
        ),
        reads=(STORE_CREDIT_COMMANDS, STORE_CREDIT_QUERIES, CUSTOMERS_EVENTS, LEDGER_BALANCES),
    ),
    Principal(
        "order",
        "service",
        "The order service.",
        writes=(
            ORDER_COMMAND_RESULTS,
            ORDER_EVENTS,
            ORDER_STATE,
            ORDER_QUERY_REPLIES,
            ORDER_DEAD_LETTERS,
            LEDGER_COMMANDS,
            STORE_CREDIT_COMMANDS,
        ),
        reads=(
            ORDER_COMMANDS,
            ORDER_QUERIES,
            LEDGER_EVENTS,
            LEDGER_COMMAND_RESULTS,
            STORE_CREDIT_EVENTS,
            STORE_CREDIT_COMMAND_RESULTS,
        ),
    ),
    Principal(
        "fulfillment",
        "service",
        "The fulfillment service.",
        writes=(
            FULFILLMENT_COMMAND_RESULTS,
            FULFILLMENT_EVENTS,
            FULFILLMENT_STATE,
            FULFILLMENT_QUERY_REPLIES,
            FULFILLMENT_DEAD_LETTERS,
            LEDGER_COMMANDS,
            STORE_CREDIT_COMMANDS,
            ORDER_COMMANDS,
        ),
        reads=(
            FULFILLMENT_COMMANDS,
            FULFILLMENT_QUERIES,
            ORDER_EVENTS,
            LEDGER_COMMAND_RESULTS,
            STORE_CREDIT_COMMAND_RESULTS,
        ),
    ),
    Principal(
        "gateway",
        "service",
        "The HTTP gateway (services/gateway): storefronts, back offices and the Dashboard "
        "over HTTP; it signs the verified actor with the storefront's, back office's or "
        "shop's key. It reads results, replies, balances and dead letters outside any group, "
        "and describes the services' groups and the topics they read (consumer lag).",
        writes=(*COMMAND_TOPICS, *QUERY_TOPICS),
        reads=(*RESULT_TOPICS, *REPLY_TOPICS, LEDGER_BALANCES, *DEAD_LETTER_TOPICS),
        observes=(*(t for t in EVENT_TOPICS if t is not LEDGER_BALANCES), CUSTOMERS_EVENTS),
        observes_groups_of=SERVICE_NAMES,
    ),
    Principal(
        "storefront",
        "client",
        "The shop's gateway acting for customers (actor claims: customer).",
        writes=(LEDGER_COMMANDS, ORDER_COMMANDS, *QUERY_TOPICS),
        reads=(LEDGER_COMMAND_RESULTS, ORDER_COMMAND_RESULTS, ORDER_EVENTS, *REPLY_TOPICS),
    ),
    Principal(
        "back-office",
        "client",
        "The back office and the Dashboard acting for admins (actor claims: admin).",
        writes=(*COMMAND_TOPICS, *QUERY_TOPICS),
        reads=(*RESULT_TOPICS, *REPLY_TOPICS, *EVENT_TOPICS),
    ),
    Principal(
        "shop",
        "client",
        "The shop's own back end: prices, charges, payments, customers "
        "(actor claims: service:shop).",
        writes=(ORDER_COMMANDS, FULFILLMENT_COMMANDS, CUSTOMERS_EVENTS, *QUERY_TOPICS),
        reads=(ORDER_COMMAND_RESULTS, FULFILLMENT_COMMAND_RESULTS, *REPLY_TOPICS, *EVENT_TOPICS),
    ),
    Principal(
        "subscriber",
        "client",
        "Any other team's service that follows balances and events (reads only).",
        writes=(),
        reads=EVENT_TOPICS,
    ),
    Principal(
        "operator",
        "client",
        "Operators' tools: every topic read (dead letters, lag, tail, the checker); "
        "commands re-driven from dead letters (their claims signed by their senders).",
        writes=COMMAND_TOPICS,
        reads=ALL_TOPICS,
    ),
)

BY_NAME = {principal.name: principal for principal in PRINCIPALS}


def writers_of(topic: TopicSpec) -> list[Principal]:
    return [p for p in PRINCIPALS if topic in p.writes]


def readers_of(topic: TopicSpec) -> list[Principal]:
    return [p for p in PRINCIPALS if topic in p.reads]
