"""``GET /v1/dead-letters/{service}``: what a service parked, for admins, a page at a time.

The facts are those of ``storecredit dead-letters list --json`` (the dlt-* headers of
contracts/dead_letters.py: reason, detail, where it came from), with the parked value as
text: the services redact a dead letter before parking it (anything shaped like a
store-credit code, known secrets), so nothing in clear leaves here either. A dead-letter
topic has one partition (contracts/topics.py), so an offset is a place in it: a page
is the ``limit`` records before ``before``, newest first.

``POST /v1/dead-letters/{service}/{offset}/redrive`` sends one back, as
``storecredit dead-letters redrive`` does: the original bytes, key and headers (its actor
claim too: the service verifies it again), without the dlt-* headers, with
``redriven-from``. Only to a topic the gateway may write anyway (a command or query
topic): a dead letter of an event or a result topic stays with the operator's command
line, and a redacted one (its value is no longer what was sent) is refused. Sending
one twice is harmless: a consumer skips a message id it has handled (its inbox).
No ``from __future__ import annotations`` here: FastAPI reads the endpoint's annotations,
which name local values.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from aiokafka import TopicPartition
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import JSONResponse, Response

from contracts import dead_letters as dlt
from contracts.access import BY_NAME
from contracts.envelope import ActorKind
from contracts.topics import ALL_TOPICS, TopicSpec
from services.gateway.exchange import Exchange
from services.gateway.groupless import groupless_consumer
from services.gateway.identity import Caller
from services.gateway.problems import problem
from shared.runtime.settings import Settings

logger = logging.getLogger(__name__)
MAX_SHOWN_VALUE_BYTES = 65_536
PAGE_LIMIT = 200
POLL_MS = 500
SUFFIX = ".dead-letters"
DEAD_LETTER_TOPICS: dict[str, TopicSpec] = {
    spec.name.removesuffix(SUFFIX): spec for spec in ALL_TOPICS if spec.name.endswith(SUFFIX)
}
"""Service name, as in topic names (``store-credit``), to its dead-letter topic."""


def add_dead_letters(app: FastAPI, settings: Settings, signed_in: Any, exchange: Exchange) -> None:
    services = "|".join(DEAD_LETTER_TOPICS)
    writable = {settings.topic(spec) for spec in BY_NAME["gateway"].writes}

    @app.post(
        "/v1/dead-letters/{service}/{offset}/redrive",
        tags=["Operations"],
        summary="Send a dead letter back to its command or query topic, once fixed (admins)",
        operation_id="RedriveDeadLetter",
    )
    async def redrive_dead_letter(
        service: Annotated[str, Path(pattern=f"^({services})$")],
        offset: Annotated[int, Path(ge=0)],
        caller: Annotated[Caller, Depends(signed_in)],
    ) -> Response:
        if caller.actor.kind is not ActorKind.ADMIN:
            return problem(403, "forbidden", "Dead letters are for admins.")
        topic = settings.topic(DEAD_LETTER_TOPICS[service])
        records, _ = await page(settings, topic, 1, offset + 1)
        if not records or records[0].offset != offset:
            return problem(404, "not_found", f"No dead letter of {service} at offset {offset}.")
        record = records[0]
        why = refusal(record, writable)
        if why is not None:
            return problem(409, "not_redrivable", f"Not re-driven: {why}.")
        target = dict(record.headers or ())[dlt.ORIGINAL_TOPIC].decode()
        partition, sent_at = await exchange.republish(
            target, record.value, record.key, redriven_headers(record)
        )
        logger.info("dead letter %s/%d re-driven by %s", topic, offset, caller.actor.id)
        return JSONResponse(
            {
                "redriven_from": {"topic": topic, "offset": offset},
                "sent_to": {"topic": target, "partition": partition, "offset": sent_at},
            }
        )

    @app.get(
        "/v1/dead-letters/{service}",
        tags=["Operations"],
        summary="A service's dead letters with their reasons, newest first (admins)",
        operation_id="ListDeadLetters",
    )
    async def list_dead_letters(
        service: Annotated[str, Path(pattern=f"^({services})$")],
        caller: Annotated[Caller, Depends(signed_in)],
        limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 50,
        before: Annotated[
            int | None, Query(ge=0, description="The next_before of the page before.")
        ] = None,
    ) -> Response:
        if caller.actor.kind is not ActorKind.ADMIN:
            return problem(403, "forbidden", "Dead letters are for admins.")
        topic = settings.topic(DEAD_LETTER_TOPICS[service])
        records, next_before = await page(settings, topic, limit, before)
        return JSONResponse(
            {"dead_letters": [described(r) for r in records], "next_before": next_before}
        )


REDRIVEN_FROM = "redriven-from"
"""Header on a re-driven message: ``<dead-letter topic>/<partition>@<offset>``."""


def refusal(record: Any, writable: set[str]) -> str | None:
    """Why ``record`` (a dead letter) may not be re-driven by the gateway, if it may not."""
    headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers or ()}
    target = headers.get(dlt.ORIGINAL_TOPIC)
    if headers.get(dlt.REDACTED) == "true":
        return (
            "its value was redacted (secrets masked), so its bytes are no longer what was "
            "sent; send a corrected message instead"
        )
    if target is None:
        return f"it has no {dlt.ORIGINAL_TOPIC} header, so where it came from is unknown"
    if target not in writable:
        return (
            f"its original topic {target} is not a command or query topic of this "
            "environment; re-drive it with `storecredit dead-letters redrive`"
        )
    if not record.value:
        return "its value is empty: there is nothing to re-drive"
    return None


def redriven_headers(record: Any) -> list[tuple[str, bytes]]:
    kept = [(n, v) for n, v in record.headers or () if not n.startswith("dlt-")]
    origin = f"{record.topic}/{record.partition}@{record.offset}"
    return [*kept, (REDRIVEN_FROM, origin.encode())]


async def page(
    settings: Settings, topic: str, limit: int, before: int | None
) -> tuple[list[Any], int | None]:
    """Up to ``limit`` records before offset ``before`` (the newest without it), newest
    first, and the ``before`` of the next page (None: there is no older one)."""
    partition = TopicPartition(topic, 0)
    async with groupless_consumer(settings, "storecredit-gateway-dead-letters") as consumer:
        consumer.assign([partition])
        first = (await consumer.beginning_offsets([partition]))[partition]
        end = (await consumer.end_offsets([partition]))[partition]
        stop = end if before is None else max(first, min(before, end))
        start = max(first, stop - limit)
        found: list[Any] = []
        if start < stop:
            consumer.seek(partition, start)
            while await consumer.position(partition) < stop:
                batches = await consumer.getmany(partition, timeout_ms=POLL_MS)
                found += [r for r in batches.get(partition, []) if r.offset < stop]
    found.reverse()
    return found, (start if start > first else None)


def described(record: Any) -> dict[str, Any]:
    headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers or ()}
    value: bytes = record.value or b""
    try:
        envelope = json.loads(value)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        envelope = {}
    partition, offset = headers.get(dlt.ORIGINAL_PARTITION), headers.get(dlt.ORIGINAL_OFFSET)
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(),
        "reason": headers.get(dlt.REASON),
        "detail": headers.get(dlt.DETAIL),
        "original_topic": headers.get(dlt.ORIGINAL_TOPIC),
        "original_partition": int(partition) if partition and partition.isdigit() else None,
        "original_offset": int(offset) if offset and offset.isdigit() else None,
        "consumer_group": headers.get(dlt.CONSUMER_GROUP),
        "failed_at": headers.get(dlt.FAILED_AT),
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "type": envelope.get("type") if isinstance(envelope.get("type"), str) else None,
        "message_id": str(envelope["message_id"]) if "message_id" in envelope else None,
        "redacted": headers.get(dlt.REDACTED) == "true",
        "value": value[:MAX_SHOWN_VALUE_BYTES].decode("utf-8", "replace"),
        "value_truncated": len(value) > MAX_SHOWN_VALUE_BYTES,
    }
