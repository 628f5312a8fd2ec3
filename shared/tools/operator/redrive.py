"""Re-driving dead letters: the original bytes, with the original key, back to the
original topic, once what made the service park them is fixed (a new version that
knows the type, a handler bug fixed, a missing reference now there).

The dlt-* headers are dropped and ``redriven-from`` says which dead letter it was.
Sending one twice is harmless: every command and event consumer records the
message ids it has handled (its inbox) and skips a repeat; a query changes
nothing. A redacted dead letter is refused: its value had secrets masked, so its
bytes are no longer what was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts import dead_letters as dlt
from contracts.topics import ALL_TOPICS
from shared.runtime.settings import Settings
from shared.tools.operator.connection import writer
from shared.tools.operator.dead_letters import dead_letter_topic, dead_letters
from shared.tools.operator.errors import OperatorError
from shared.tools.operator.records import DLT_HEADER_PREFIX, RecordView

REDRIVEN_FROM = "redriven-from"
"""Header on a re-driven message: ``<dead-letter topic>/<partition>@<offset>``."""
REFUSED = 1


@dataclass(frozen=True)
class Plan:
    view: RecordView
    target: str | None
    refusal: str | None

    @property
    def origin(self) -> str:
        return f"{self.view.topic}/{self.view.partition}@{self.view.offset}"

    def headers(self) -> list[tuple[str, bytes]]:
        kept = [
            (name, value.encode())
            for name, value in self.view.headers.items()
            if not name.startswith(DLT_HEADER_PREFIX)
        ]
        return [*kept, (REDRIVEN_FROM, self.origin.encode())]


def plan(settings: Settings, view: RecordView) -> Plan:
    """Where the dead letter would go, or the sentence saying why it will not."""
    target = view.headers.get(dlt.ORIGINAL_TOPIC)
    platform = {settings.topic(spec) for spec in ALL_TOPICS}
    refusal = None
    if view.redacted:
        refusal = (
            "its value was redacted (dlt-redacted: true), so its bytes are no longer the "
            "original; send a corrected message with `storecredit send` instead"
        )
    elif target is None:
        refusal = f"it has no {dlt.ORIGINAL_TOPIC} header, so where it came from is unknown"
    elif target not in platform:
        refusal = f"its original topic {target} is not a platform topic of this environment"
    elif not view.value:
        refusal = "its value is empty: there is nothing to re-drive"
    return Plan(view, target, refusal)


def chosen(
    views: Sequence[RecordView], offsets: Sequence[int] | None, service: str
) -> list[RecordView]:
    if offsets is None:
        return list(views)
    by_offset = {view.offset: view for view in views}
    missing = sorted(set(offsets) - set(by_offset))
    if missing:
        raise OperatorError(
            f"no dead letter of {service} at offset(s) {', '.join(map(str, missing))}; "
            "nothing was sent (see `storecredit dead-letters list`)"
        )
    return [by_offset[offset] for offset in dict.fromkeys(offsets)]


def describe(item: Plan) -> str:
    view = item.view
    what = view.envelope.type if view.envelope is not None else "(undecodable)"
    message_id = f" message-id={view.envelope.message_id}" if view.envelope is not None else ""
    return f"key={view.key} type={what}{message_id}"


async def redrive(
    settings: Settings, service: str, offsets: Sequence[int] | None, *, dry_run: bool = False
) -> int:
    dead_letter_topic(service)
    plans = [
        plan(settings, v) for v in chosen(await dead_letters(settings, service), offsets, service)
    ]
    sendable = [item for item in plans if item.refusal is None]
    for item in plans:
        if item.refusal is not None:
            print(f"refused  {item.origin}: {item.refusal}")
    if dry_run:
        for item in sendable:
            print(f"would send  {item.origin} -> {item.target}  {describe(item)}")
    elif sendable:
        async with writer(settings) as producer:
            for item in sendable:
                assert item.target is not None
                sent = await producer.send_and_wait(
                    item.target, item.view.value, key=item.view.key_bytes, headers=item.headers()
                )
                where = f"{item.target} [{sent.partition}] @{sent.offset}"
                print(f"sent  {item.origin} -> {where}  {describe(item)}")
    verb = "would be sent" if dry_run else "sent"
    print(
        f"{len(sendable)} {verb}, {len(plans) - len(sendable)} refused. Re-driving one again "
        "is harmless: consumers skip a message id they have handled (inbox), and a query "
        "changes nothing."
    )
    return REFUSED if len(sendable) < len(plans) else 0
