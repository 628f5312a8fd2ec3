"""What ``make contracts`` writes from ``contracts.access``: the table for people
(``contracts/access.md``) and Strimzi ``KafkaUser`` resources
(``deploy/k8s/kafka-users.yaml``). A developers' tool (PyYAML is a dev dependency):
the services never import it."""

from __future__ import annotations

from typing import Any

import yaml

from contracts.access import PRINCIPALS, Principal, readers_of, writers_of
from contracts.topics import ALL_TOPICS


def access_table() -> str:
    """contracts/access.md: who may read and write each topic."""
    lines = [
        "# Who may read and write what",
        "",
        "Generated from `contracts/access.py` by `make contracts`; do not edit.",
        "One Kafka principal per service and per kind of outside client; each may write",
        "and read only what this table says (its ACLs), and use only consumer groups of",
        "its own (`<prefix>storecredit-<service>` for a service, `<prefix><client>-` for",
        "a client). With `STORECREDIT_TOPIC_PREFIX`, every name below gets the prefix and",
        "each environment has principals of its own (`<prefix>storecredit-<name>`).",
        "",
        "| principal | kind | for |",
        "|---|---|---|",
        *[f"| `{p.user()}` | {p.kind} | {p.purpose} |" for p in PRINCIPALS],
        "",
        "| topic | written by | read by |",
        "|---|---|---|",
    ]
    for topic in ALL_TOPICS:
        writers = ", ".join(p.name for p in writers_of(topic)) or "nobody"
        readers = ", ".join(p.name for p in readers_of(topic)) or "nobody"
        lines.append(f"| `{topic.name}` | {writers} | {readers} |")
    for p in PRINCIPALS:
        if p.observes or p.observes_groups_of:
            topics = ", ".join(f"`{t.name}`" for t in p.observes)
            groups = ", ".join(f"`{g}*`" for g in p.observed_group_prefixes())
            lines += [
                "",
                f"`{p.user()}` may also describe, never read, the topics {topics} and the "
                f"consumer groups {groups}: their offsets, for consumer lag.",
            ]
    return "\n".join(lines) + "\n"


def _acls(principal: Principal) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "resource": {"type": "topic", "name": topic.name, "patternType": "literal"},
            "operations": ["Write", "Describe"],
        }
        for topic in principal.writes
    ]
    rules += [
        {
            "resource": {"type": "topic", "name": topic.name, "patternType": "literal"},
            "operations": ["Read", "Describe"],
        }
        for topic in principal.reads
    ]
    rules += [
        {
            "resource": {"type": "topic", "name": topic.name, "patternType": "literal"},
            "operations": ["Describe"],
        }
        for topic in principal.observes
    ]
    rules.append(
        {
            "resource": {
                "type": "group",
                "name": principal.group_prefix(),
                "patternType": "prefix",
            },
            "operations": ["Read", "Describe"],
        }
    )
    rules += [
        {
            "resource": {"type": "group", "name": group, "patternType": "prefix"},
            "operations": ["Describe"],
        }
        for group in principal.observed_group_prefixes()
    ]
    return rules


def kafka_users() -> str:
    """deploy/k8s/kafka-users.yaml: one Strimzi KafkaUser per principal."""
    header = (
        "# Generated from contracts/access.py by `make contracts`; do not edit.\n"
        "# One Strimzi KafkaUser per principal (SCRAM-SHA-512, simple authorization): the\n"
        "# User Operator creates each user's Secret (named after it, key `password`) and its\n"
        "# ACLs. Not part of kustomization.yaml: apply it where Strimzi runs, in a namespace\n"
        "# its User Operator watches, with strimzi.io/cluster naming your Kafka cluster, then\n"
        "# give each Deployment its own user's Secret (deploy/k8s/README.md). For a prefixed\n"
        "# environment, prefix the topic, group and user names alike.\n"
    )
    documents = [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaUser",
            "metadata": {
                "name": principal.user(),
                "labels": {"strimzi.io/cluster": "my-cluster"},
            },
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {"type": "simple", "acls": _acls(principal)},
            },
        }
        for principal in PRINCIPALS
    ]
    body: str = yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)
    return header + body
