"""``storecredit tail TOPIC``: a topic's records, decoded, optionally filtered.

Without ``--follow`` it reads up to the end offsets taken at start and stops;
those records are printed in time order (across partitions). With ``--follow``
it then goes on printing new records as they come, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass

from aiokafka import TopicPartition

from shared.runtime.settings import Settings
from shared.tools.operator.connection import partitions_of, reader, registry_topic
from shared.tools.operator.errors import reported
from shared.tools.operator.reading import Offsets, offsets_of, read
from shared.tools.operator.records import RecordView, as_block, as_json, view_of


@dataclass(frozen=True)
class Filters:
    """Which records to show: all of the given conditions hold."""

    message_type: str | None = None
    key: str | None = None
    correlation_id: str | None = None

    def match(self, view: RecordView) -> bool:
        return (
            (self.message_type is None or view.message_type == self.message_type)
            and (self.key is None or view.key == self.key)
            and (self.correlation_id is None or view.correlation_id == self.correlation_id)
        )


@dataclass(frozen=True)
class Window:
    """Where to start: the beginning, the last N records, or (None, None) the end."""

    from_beginning: bool = False
    last: int | None = None

    def start(self, offsets: Offsets, following: bool) -> dict[TopicPartition, int]:
        if self.last is not None:
            return {
                tp: max(offsets.beginning[tp], end - self.last) for tp, end in offsets.end.items()
            }
        if self.from_beginning or not following:
            return dict(offsets.beginning)
        return dict(offsets.end)


def count(text: str) -> int:
    """A whole number of records, 0 or more (for ``--last``)."""
    number = int(text)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more")
    return number


def show(view: RecordView, as_lines: bool) -> None:
    if as_lines:
        print(json.dumps(as_json(view), ensure_ascii=False, default=str), flush=True)
    else:
        print(as_block(view) + "\n", flush=True)


async def tail(
    settings: Settings,
    topic_name: str,
    *,
    window: Window = Window(),
    filters: Filters = Filters(),
    follow: bool = False,
    as_lines: bool = False,
) -> int:
    topic = settings.topic(registry_topic(topic_name))
    partitions = await partitions_of(settings, topic)
    async with reader(settings) as consumer:
        consumer.assign(partitions)
        offsets = await offsets_of(consumer, partitions)
        backlog = [
            view_of(r) async for r in read(consumer, window.start(offsets, follow), offsets.end)
        ]
        backlog.sort(key=lambda v: (v.timestamp is None, v.timestamp, v.partition, v.offset))
        shown = [view for view in backlog if filters.match(view)]
        if window.last is not None:
            shown = shown[-window.last :] if window.last else []
        for view in shown:
            show(view, as_lines)
        print(f"({len(shown)} of {len(backlog)} records read from {topic})", file=sys.stderr)
        if follow:
            async for record in read(consumer, offsets.end, None):
                view = view_of(record)
                if filters.match(view):
                    show(view, as_lines)
    return 0


def run(args: argparse.Namespace) -> int:
    return reported(
        lambda: asyncio.run(
            tail(
                Settings(),
                args.topic,
                window=Window(from_beginning=args.from_beginning, last=args.last),
                filters=Filters(args.type, args.key, args.correlation_id),
                follow=args.follow,
                as_lines=args.json,
            )
        )
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "tail",
        help="print a topic's records decoded (registry name, such as ledger.commands)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("topic", help="a registry topic name; the configured prefix is added")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the beginning (the default without --follow)",
    )
    start.add_argument(
        "--last",
        type=count,
        metavar="N",
        help="the N newest records that match (among the last N of each partition)",
    )
    parser.add_argument(
        "--follow", action="store_true", help="keep printing new records (from the end unless told)"
    )
    parser.add_argument("--type", help="only this message type")
    parser.add_argument("--key", help="only this Kafka key")
    parser.add_argument("--correlation-id", help="only this correlation id")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)
