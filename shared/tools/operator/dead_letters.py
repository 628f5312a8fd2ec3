"""``storecredit dead-letters list|redrive``: what the services parked, and sending
it back once whatever stopped it is fixed.

``list [SERVICE...]`` shows every record of the ``<service>.dead-letters`` topics
(all services by default) with the dlt-* headers the service wrote
(contracts/dead_letters.py). ``redrive SERVICE`` re-publishes chosen records, see
shared/tools/operator/redrive.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from typing import Any

from contracts import dead_letters as dlt
from contracts.topics import ALL_TOPICS, TopicSpec
from shared.runtime.settings import Settings
from shared.tools.operator.connection import partitions_of, reader
from shared.tools.operator.errors import OperatorError, reported
from shared.tools.operator.reading import offsets_of, read
from shared.tools.operator.records import DEAD_LETTER_SUFFIX, RecordView, iso, view_of

DEAD_LETTER_TOPICS: dict[str, TopicSpec] = {
    spec.name.removesuffix(DEAD_LETTER_SUFFIX): spec
    for spec in ALL_TOPICS
    if spec.name.endswith(DEAD_LETTER_SUFFIX)
}
"""Service name (as in topic names: ``store-credit``) to its dead-letter topic."""


def dead_letter_topic(service: str) -> TopicSpec:
    name = service.replace("_", "-")
    if name not in DEAD_LETTER_TOPICS:
        raise OperatorError(f"no service {service!r}; one of: {', '.join(DEAD_LETTER_TOPICS)}")
    return DEAD_LETTER_TOPICS[name]


async def dead_letters(settings: Settings, service: str) -> list[RecordView]:
    """Every record of the service's dead-letter topic, up to its end when asked."""
    topic = settings.topic(dead_letter_topic(service))
    partitions = await partitions_of(settings, topic)
    async with reader(settings) as consumer:
        consumer.assign(partitions)
        offsets = await offsets_of(consumer, partitions)
        return [view_of(record) async for record in read(consumer, offsets.beginning, offsets.end)]


def described(view: RecordView) -> dict[str, Any]:
    """A dead letter's facts, as ``list --json`` prints them."""
    headers = view.headers
    original_partition = headers.get(dlt.ORIGINAL_PARTITION)
    original_offset = headers.get(dlt.ORIGINAL_OFFSET)
    return {
        "topic": view.topic,
        "partition": view.partition,
        "offset": view.offset,
        "timestamp": iso(view.timestamp),
        "reason": headers.get(dlt.REASON),
        "detail": headers.get(dlt.DETAIL),
        "original_topic": headers.get(dlt.ORIGINAL_TOPIC),
        "original_partition": int(original_partition) if original_partition else None,
        "original_offset": int(original_offset) if original_offset else None,
        "consumer_group": headers.get(dlt.CONSUMER_GROUP),
        "failed_at": headers.get(dlt.FAILED_AT),
        "key": view.key,
        "type": view.envelope.type if view.envelope is not None else None,
        "message_id": str(view.envelope.message_id) if view.envelope is not None else None,
        "redacted": view.redacted,
    }


def as_block(facts: dict[str, Any]) -> str:
    original = (
        f"{facts['original_topic']} [{facts['original_partition']}] @{facts['original_offset']}"
    )
    fields = [
        ("detail", facts["detail"]),
        ("original", original),
        ("group", facts["consumer_group"]),
        ("type", facts["type"] or "- (not decodable)"),
        ("key", facts["key"]),
        ("redacted", "yes (cannot be re-driven)" if facts["redacted"] else "no"),
    ]
    head = f"{facts['topic']} @{facts['offset']}  {facts['timestamp']}  {facts['reason']}"
    return "\n".join([head, *(f"  {label:<9} {'-' if v is None else v}" for label, v in fields)])


async def list_dead_letters(
    settings: Settings, services: Sequence[str], *, as_lines: bool = False
) -> int:
    chosen = list(services) or list(DEAD_LETTER_TOPICS)
    for service in chosen:
        dead_letter_topic(service)  # refuse a wrong name before reading anything
    total = 0
    for service in chosen:
        for view in await dead_letters(settings, service):
            facts = described(view)
            print(json.dumps(facts) if as_lines else as_block(facts) + "\n")
            total += 1
    if not as_lines:
        print(f"{total} dead letter(s) on {', '.join(chosen)}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    return reported(
        lambda: asyncio.run(list_dead_letters(Settings(), args.services, as_lines=args.json))
    )


def run_redrive(args: argparse.Namespace) -> int:
    from shared.tools.operator.redrive import redrive

    offsets = None if args.all else args.offset
    return reported(
        lambda: asyncio.run(redrive(Settings(), args.service, offsets, dry_run=args.dry_run))
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "dead-letters", help="list parked messages, or re-drive them to their topic"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every dead letter with its reason")
    listing.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help=f"default all: {', '.join(DEAD_LETTER_TOPICS)}",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=run_list)
    redriving = actions.add_parser(
        "redrive", help="re-publish dead letters' original bytes to their original topic"
    )
    redriving.add_argument("service", metavar="SERVICE", help=", ".join(DEAD_LETTER_TOPICS))
    chosen = redriving.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--offset",
        type=int,
        nargs="+",
        action="extend",
        metavar="N",
        help="dead-letter offsets (--offset 3 5, or --offset 3 --offset 5)",
    )
    chosen.add_argument("--all", action="store_true", help="every dead letter of the service")
    redriving.add_argument(
        "--dry-run", action="store_true", help="say what would be sent, send nothing"
    )
    redriving.set_defaults(func=run_redrive)
