"""The access table says what the code does: each service reads what it consumes and
writes what it produces (the topics its handlers send to, found in its source), and no
one but a topic's owner writes its results, events, balances, replies or dead letters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from contracts import topics
from contracts.access import BY_NAME, PRINCIPALS, writers_of
from contracts.access_docs import kafka_users
from contracts.registry import MESSAGES
from contracts.state import COMPANIONS
from contracts.topics import ALL_TOPICS, CUSTOMERS_EVENTS, TopicSpec
from services.fulfillment.app import definition as fulfillment
from services.ledger.app import definition as ledger
from services.order.app import definition as order
from services.store_credit.app import definition as store_credit
from shared.runtime.service import ServiceDefinition

SERVICES = (ledger, store_credit, order, fulfillment)
ROOT = Path(__file__).parents[2]
OWNED = re.compile(r"\.(command-results|events|balances|query-replies|dead-letters)$")


def names(specs: object) -> set[str]:
    return {spec.name for spec in specs}  # type: ignore[attr-defined]


def sent_topics(service: str) -> set[str]:
    """The topics named as the first argument of ``Outgoing(...)`` in a service's code."""
    found: set[str] = set()
    for path in (ROOT / "services" / service).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Outgoing"
                and node.args
                and isinstance(node.args[0], ast.Name)
            ):
                spec: TopicSpec = getattr(topics, node.args[0].id)
                found.add(spec.name)
    return found


@pytest.mark.parametrize("definition", SERVICES, ids=lambda d: d.name)
def test_a_service_may_read_what_it_consumes(definition: ServiceDefinition) -> None:
    consumed = names([definition.commands, *(s.topic for s in definition.subscriptions)])
    if definition.queries is not None:
        consumed.add(definition.queries.name)
    assert consumed == names(BY_NAME[definition.name].reads)


def _event_topics_of(message_type: str) -> list[TopicSpec]:
    [spec] = [s for s in MESSAGES if s.model.message_type == message_type]
    return [topic for topic in spec.topics if not topic.compacted]


@pytest.mark.parametrize("definition", SERVICES, ids=lambda d: d.name)
def test_a_service_may_write_what_it_produces(definition: ServiceDefinition) -> None:
    produced = names([definition.results, definition.dead_letters])
    produced |= sent_topics(definition.name)
    produced |= {  # each snapshot event's compacted companion (contracts/state.py)
        companion.topic.name
        for name, companion in COMPANIONS.items()
        if any(spec.name in produced for spec in _event_topics_of(name))
    }
    if definition.queries is not None:
        produced.add(definition.queries.name.replace(".queries", ".query-replies"))
    assert produced == names(BY_NAME[definition.name].writes)


def test_only_the_owner_writes_what_it_owns() -> None:
    for topic in ALL_TOPICS:
        if OWNED.search(topic.name) and topic is not CUSTOMERS_EVENTS:
            owner = topic.name.split(".")[0].replace("-", "_")
            assert [p.name for p in writers_of(topic)] == [owner], topic.name
    assert [p.name for p in writers_of(CUSTOMERS_EVENTS)] == ["shop"]


def test_the_kafka_users_are_valid_names_with_every_rule() -> None:
    documents = list(yaml.safe_load_all(kafka_users()))
    assert len(documents) == len(PRINCIPALS)
    for document, principal in zip(documents, PRINCIPALS, strict=True):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", document["metadata"]["name"])
        rules = document["spec"]["authorization"]["acls"]
        written = {r["resource"]["name"] for r in rules if "Write" in r["operations"]}
        assert written == {t.name for t in principal.writes}
