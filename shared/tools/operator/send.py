"""``storecredit send FILE``: publish one command or query from a JSON file.

The file (``-`` for stdin) holds ``type`` and ``payload``, and optionally
``actor`` (default admin ``storecredit-cli``; an object or ``kind:id``),
``idempotency_key``, ``correlation_id`` and ``key``. Nothing is sent unless the
type is a command or query of the registry and its payload validates. A
store-credit ``code`` given in clear is sealed before it is sent, as the actor
sends it (``STORECREDIT_CODE_SEAL_PUBLIC_KEY``; beside ``make run``, the local one).

What was sent goes to stderr as a line, and to stdout as JSON; with ``--wait``
stdout gets the answer instead: the command's result from its service's
results topic, or the query's reply (without ``--wait`` a query's reply goes
to its service's ``*.query-replies`` topic, to read with ``tail``).

Exit codes: 0 sent (accepted, answered), 1 rejected (or QueryFailed), 2 refused
before sending, 3 no answer in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts import topics
from contracts.envelope import Actor, ActorKind, Envelope, IdempotencyKey, Message, new_envelope
from contracts.registry import MESSAGES, MessageSpec
from shared.runtime import sealing
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import Settings
from shared.tools.operator.connection import client_options, partitions_of, reader, writer
from shared.tools.operator.errors import OperatorError, reported
from shared.tools.operator.keys import natural_key
from shared.tools.operator.reading import offsets_of, read
from shared.tools.operator.records import RecordView, view_of
from shared.tools.request_client import (
    FASTSTREAM_CORRELATION_HEADER,
    REPLY_TO_HEADER,
    RequestClient,
)

OPERATOR = Actor(kind=ActorKind.ADMIN, id="storecredit-cli")
REJECTED = 1
NO_ANSWER = 3
SENDABLE_ROLES = ("command", "query")

ANSWERS: dict[str, topics.TopicSpec] = {
    topics.LEDGER_COMMANDS.name: topics.LEDGER_COMMAND_RESULTS,
    topics.STORE_CREDIT_COMMANDS.name: topics.STORE_CREDIT_COMMAND_RESULTS,
    topics.ORDER_COMMANDS.name: topics.ORDER_COMMAND_RESULTS,
    topics.FULFILLMENT_COMMANDS.name: topics.FULFILLMENT_COMMAND_RESULTS,
    topics.LEDGER_QUERIES.name: topics.LEDGER_QUERY_REPLIES,
    topics.STORE_CREDIT_QUERIES.name: topics.STORE_CREDIT_QUERY_REPLIES,
    topics.ORDER_QUERIES.name: topics.ORDER_QUERY_REPLIES,
    topics.FULFILLMENT_QUERIES.name: topics.FULFILLMENT_QUERY_REPLIES,
}
"""Where each command topic's results, and each query topic's replies, are published."""


class Request(BaseModel):
    """The file's content."""

    model_config = ConfigDict(extra="forbid")

    type: str
    payload: dict[str, Any]
    actor: Actor = OPERATOR
    idempotency_key: IdempotencyKey | None = None
    correlation_id: str | None = Field(default=None, min_length=1, max_length=200)
    key: str | None = Field(default=None, min_length=1)

    @field_validator("actor", mode="before")
    @classmethod
    def _kind_and_id(cls, value: Any) -> Any:
        if isinstance(value, str) and ":" in value:
            kind, _, actor_id = value.partition(":")
            return {"kind": kind, "id": actor_id}
        return value


@dataclass(frozen=True)
class Outbound:
    spec: MessageSpec
    topic: topics.TopicSpec
    key: str
    envelope: Envelope[Message]


def summary(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:8]:
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def load(source: str) -> Request:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise OperatorError(f"cannot read {source}: {error.strerror}") from None
    try:
        return Request.model_validate_json(text)
    except ValidationError as error:
        name = "stdin" if source == "-" else source
        raise OperatorError(f"{name} is not a message to send: {summary(error)}") from None


def sendable(message_type: str) -> MessageSpec:
    for spec in MESSAGES:
        if spec.model.message_type == message_type:
            if spec.role not in SENDABLE_ROLES:
                raise OperatorError(f"{message_type} is an {spec.role}, not a command or query")
            return spec
    raise OperatorError(f"{message_type!r} is not a message type of the registry")


def prepare(request: Request, key: str | None = None, seal_key: str | None = None) -> Outbound:
    """The envelope, topic and key to send; an OperatorError when any is wrong.

    A store-credit code given in clear (``code``) is sealed here, as the request's actor
    sends it, with ``seal_key`` (the store-credit service's public key): it never leaves
    this machine in clear."""
    spec = sendable(request.type)
    fields = dict(request.payload)
    for clear, sealed in spec.model.sealed_instead.items():
        if isinstance(fields.get(clear), str):
            if seal_key is None:
                raise OperatorError(
                    f"{request.type} takes a code sealed; set STORECREDIT_CODE_SEAL_PUBLIC_KEY "
                    "to seal it here"
                )
            fields[sealed] = sealing.seal(fields.pop(clear), seal_key, request.actor)
    try:
        payload = spec.model.model_validate(fields)
    except ValidationError as error:
        raise OperatorError(f"invalid {request.type} payload: {summary(error)}") from None
    [topic] = spec.topics
    chosen = key or request.key or natural_key(topic.name, payload)
    if not chosen:
        raise OperatorError(
            f"the key of {request.type} cannot be told from its payload; give --key "
            f"(on {topic.name} it is the {topic.key})"
        )
    envelope = new_envelope(
        payload,
        actor=request.actor,
        idempotency_key=request.idempotency_key,
        correlation_id=request.correlation_id,
    )
    return Outbound(spec, topic, chosen, envelope)


async def publish(settings: Settings, outbound: Outbound) -> dict[str, Any]:
    """Send without waiting; a query names its service's replies topic to answer on."""
    headers = headers_for(outbound.envelope)
    if outbound.spec.role == "query":
        headers[REPLY_TO_HEADER] = settings.topic(ANSWERS[outbound.topic.name])
        headers[FASTSTREAM_CORRELATION_HEADER] = outbound.envelope.correlation_id
    value = encode(outbound.envelope)
    headers.update(settings.keyring().headers(value, outbound.envelope.actor))
    async with writer(settings) as producer:
        sent = await producer.send_and_wait(
            settings.topic(outbound.topic),
            value,
            key=outbound.key.encode(),
            headers=[(name, value.encode()) for name, value in headers.items()],
        )
    return sent_report(settings, outbound, sent.partition, sent.offset)


def sent_report(
    settings: Settings, outbound: Outbound, partition: int | None, offset: int | None
) -> dict[str, Any]:
    envelope = outbound.envelope
    report = {
        "sent": envelope.type,
        "topic": settings.topic(outbound.topic),
        "partition": partition,
        "offset": offset,
        "key": outbound.key,
        "message_id": str(envelope.message_id),
        "idempotency_key": envelope.idempotency_key,
        "correlation_id": envelope.correlation_id,
    }
    where = f" [{partition}] @{offset}" if partition is not None else ""
    print(
        f"sent {envelope.type} to {report['topic']}{where} key={outbound.key} "
        f"message-id={envelope.message_id} idempotency-key={envelope.idempotency_key} "
        f"correlation-id={envelope.correlation_id}",
        file=sys.stderr,
    )
    return report


def answers(view: RecordView, message_id: str) -> bool:
    """Whether ``view`` is the result of the command with ``message_id``.

    A retry (same idempotency key) is answered with the first result again: its
    ``command_id`` is the first message's, its causation id this one's.
    """
    envelope = view.envelope
    if envelope is None or envelope.type != "CommandResult":
        return False
    return message_id in (envelope.causation_id, envelope.payload.get("command_id"))


async def command_result(settings: Settings, outbound: Outbound, wait: float) -> int:
    """Send, then read the results topic (from its end before sending) for the answer."""
    results = settings.topic(ANSWERS[outbound.topic.name])
    partitions = await partitions_of(settings, results)
    async with reader(settings) as consumer:
        consumer.assign(partitions)
        ends = (await offsets_of(consumer, partitions)).end
        await publish(settings, outbound)
        message_id = str(outbound.envelope.message_id)
        try:
            async with asyncio.timeout(wait):
                async for record in read(consumer, ends, None):
                    view = view_of(record)
                    if view.envelope is not None and answers(view, message_id):
                        print(json.dumps(view.envelope.payload, indent=2, default=str))
                        accepted = view.envelope.payload.get("status") == "accepted"
                        return 0 if accepted else REJECTED
        except TimeoutError:
            pass
    raise OperatorError(f"no result on {results} within {wait:g}s", NO_ANSWER)


async def query_reply(settings: Settings, outbound: Outbound, wait: float) -> int:
    """Ask as any client would (shared/tools/request_client.py) and print the reply."""
    replies = settings.topic(ANSWERS[outbound.topic.name])
    options = client_options(settings)
    servers = options.pop("bootstrap_servers")
    options.pop("client_id")
    async with RequestClient(servers, replies, keyring=settings.keyring(), **options) as client:
        try:
            reply = await client.request(
                settings.topic(outbound.topic), outbound.key, outbound.envelope, timeout=wait
            )
        except TimeoutError as error:
            raise OperatorError(str(error), NO_ANSWER) from None
    sent_report(settings, outbound, None, None)
    print(json.dumps({"type": reply.type, **reply.payload}, indent=2, default=str))
    return REJECTED if reply.type == "QueryFailed" else 0


async def send(settings: Settings, request: Request, *, key: str | None, wait: float | None) -> int:
    seal_key = settings.code_seal_public_key_hex() if _can_seal(settings) else None
    outbound = prepare(request, key, seal_key)
    if wait is not None and outbound.spec.role == "query":
        return await query_reply(settings, outbound, wait)
    if wait is not None:
        return await command_result(settings, outbound, wait)
    print(json.dumps(await publish(settings, outbound)))
    return 0


def _can_seal(settings: Settings) -> bool:
    return settings.code_seal_public_key is not None or settings.code_seal_private_key is not None


def run(args: argparse.Namespace) -> int:
    return reported(
        lambda: asyncio.run(send(Settings(), load(args.file), key=args.key, wait=args.wait))
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "send",
        help="validate and publish a command or query from a JSON file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="JSON with type and payload (- for stdin)")
    parser.add_argument(
        "--key", help="the Kafka key (default: the file's key, else the natural one)"
    )
    parser.add_argument(
        "--wait", type=float, metavar="SECONDS", help="wait this long for the result and print it"
    )
    parser.set_defaults(func=run)
