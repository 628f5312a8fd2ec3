"""The AsyncAPI 3.0 document of the platform, built from the topic and message registries.

``python -m contracts.generate`` writes it to ``contracts/asyncapi.json``. It is
written from the platform's point of view: the platform *receives* commands
(and upstream events such as ``customers.events``) and *sends* events, command
results and dead letters.

The helpers for the envelope schema of one message (``schema_mode``,
``constrain_envelope``, ``message_description``) are shared with the JSON
Schema files that ``contracts.generate`` writes beside it.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from contracts import dead_letters
from contracts.envelope import (
    HEADER_ACTOR_CLAIM,
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_MESSAGE_ID,
    HEADER_REPLY_TO,
    HEADER_TYPE,
    Envelope,
    Message,
)
from contracts.registry import MESSAGES, MessageSpec
from contracts.results import CommandResult
from contracts.topics import ALL_TOPICS, TopicSpec
from contracts.typed_results import result_specs

JsonObject = dict[str, Any]
Action = Literal["send", "receive"]

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
TITLE = "Store credit and loyalty points platform"
FALLBACK_VERSION = "0.1.0"
COMPONENT_SCHEMA_REF = "#/components/schemas/{model}"

PLATFORM_SERVICES = ("ledger", "store-credit", "order", "fulfillment")
"""Topic owners (the part of a topic name before the dot) that are platform services."""

DEAD_LETTER = "DeadLetter"
DEAD_LETTER_HEADERS = dead_letters.HEADERS

ROLE_SENTENCES = {
    "command": (
        "A command: the platform receives it and answers it with exactly one CommandResult "
        "on the owning service's command-results topic."
    ),
    "event": "An event the platform publishes; it is never answered.",
    "result": "The one answer to a command, published by the platform.",
    "query": (
        "A question: publish it with a reply_to header naming the owning service's "
        "query-replies topic (with the environment's prefix; any other is not answered) "
        "and a correlation-id header, unique per question in flight; the answer carries "
        "the envelope's correlation id and, as causation_id, the question's message id. "
        "It changes nothing."
    ),
    "reply": "The answer to a query, published on the topic its reply_to header named.",
    "upstream": "An event an upstream system publishes; the platform reads it.",
}

KNOWN_TOPIC_CONFIG_INTEGERS = (
    "retention.ms",
    "retention.bytes",
    "delete.retention.ms",
    "max.message.bytes",
)
"""Topic configs the Kafka binding's topicConfiguration object knows, besides cleanup.policy."""

INFO_DESCRIPTION = f"""\
Four services (ledger, store-credit, order and fulfillment) talk only through the
Kafka topics below, and nobody calls a service directly: a client sends a command to a
service's `<service>.commands` topic and reads the answer and the events that follow
from topics.

## The envelope

Every message value is one UTF-8 JSON object: the envelope fields `message_id`,
`idempotency_key`, `type`, `schema_version`, `correlation_id`, `causation_id`,
`occurred_at` (with zone) and `actor` (customer, admin, service or system, with an id),
plus `payload`, the body of the message type named by `type`. Each message's schema
(here, and as `contracts/schemas/<Type>.json`) fixes `type` and `schema_version` to
constants; a service rejects an unknown type or another schema version.

## Headers

Every message also carries four Kafka headers, UTF-8 strings that repeat envelope fields
so that `kcat` shows them without decoding the value: `{HEADER_TYPE}`,
`{HEADER_IDEMPOTENCY_KEY}`, `{HEADER_CORRELATION_ID}` and `{HEADER_MESSAGE_ID}`. Every
command and query also carries `{HEADER_ACTOR_CLAIM}`: a compact JWS (EdDSA) by a signer
allowed to speak for the envelope's actor, over the SHA-256 of the record's value (the
README's "Security"); without a good one it is answered `unauthenticated` or
`forbidden`. A query carries `{HEADER_REPLY_TO}`, the topic to answer on.

## Security

Kafka authenticates every client with SASL (SCRAM-SHA-256 for the platform's principals)
and grants each principal only its ACLs (`contracts/access.md`): a client principal
writes the command and query topics it needs, reads its results and replies, and uses
consumer groups named `<prefix><principal>-...` only. Store-credit codes travel sealed
(`sealed_code`: libsodium's crypto_box_seal, the README's "Sealed codes").

## Keys

Each channel says what the Kafka key of its messages is. Producers must use that key:
Kafka keeps order per key, and each key is handled in order.

## Commands and results

Every command gets exactly one result, a `CommandResult` on the owning service's
`<service>.command-results` topic: `accepted`, with what it produced, or `rejected`,
with a machine-readable `code` and a `reason` for people. The result is keyed like the
command, carries its correlation id, and has `causation_id` set to the command's
message id. One idempotency key, one effect: a repeat with the same key and payload
changes nothing and gets the first answer again; the same key with another payload is
rejected with `idempotency_key_reused`.

## Dead letters

A message a service cannot decode or validate is never lost: it is copied, key and
value bytes unchanged, to the service's `<service>.dead-letters` topic (two
exceptions: anything shaped like a store-credit code in it is masked, and
`dlt-redacted` says so; a
message too large to park whole is parked with an empty value, `dlt-detail` saying
so, and stays readable at its original offset), with its original headers
plus {", ".join(f"`{name}`" for name in DEAD_LETTER_HEADERS)},
and the consumer goes on with the next message. A command gets a rejected result as
well whenever it names a message id, idempotency key or correlation id to answer by:
`invalid_envelope` when the envelope itself is wrong, `invalid_command` when its type
or payload is (every code: `contracts/codes.md`; each command's typed result:
`<Command>Result`).

## Topic prefix

With `STORECREDIT_TOPIC_PREFIX` set (default: empty), every real topic name is that
prefix followed by the channel address below, e.g. `staging.ledger.commands`; the
addresses here are the names without a prefix.
"""


def package_version() -> str:
    try:
        return version("storecredit")
    except PackageNotFoundError:
        return FALLBACK_VERSION


def channel_id(topic: TopicSpec) -> str:
    """``ledger.command-results`` -> ``ledgerCommandResults``."""
    first, *rest = re.split(r"[.\-_]+", topic.name)
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def topic_action(topic: TopicSpec) -> Action:
    """What the platform does on a topic: receive commands and upstream events, send the rest."""
    owner, _, kind = topic.name.partition(".")
    if kind in ("commands", "queries") or owner not in PLATFORM_SERVICES:
        return "receive"
    return "send"


def is_dead_letter_topic(topic: TopicSpec) -> bool:
    return topic.name.endswith(".dead-letters")


def own_docstring(model: type[Message]) -> str:
    """The model's own docstring (not an inherited one), cleaned, or ''."""
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def all_specs() -> list[MessageSpec]:
    """The registry's messages, and each command's typed result (``contracts.typed_results``)."""
    return [*MESSAGES, *result_specs()]


def spec_name(spec: MessageSpec) -> str:
    """A message's name in the documents: its type, or for a typed result its own name
    (``CreateStoreCreditResult``: on the wire a CommandResult)."""
    model = spec.model
    if model is not CommandResult and issubclass(model, CommandResult):
        return model.__name__
    return model.message_type


def schema_mode(spec: MessageSpec) -> JsonSchemaMode:
    """Commands are described as the platform accepts them, the rest as it writes them."""
    return "validation" if spec.role in ("command", "query", "upstream") else "serialization"


def envelope_model(spec: MessageSpec) -> type[BaseModel]:
    """``Envelope[Model]`` for a model known only at run time (pydantic caches it)."""
    parametrized = Envelope.__class_getitem__(spec.model)
    if not (isinstance(parametrized, type) and issubclass(parametrized, BaseModel)):
        raise TypeError(f"cannot parametrize Envelope with {spec.model!r}")
    return parametrized


def _topic_phrase(topic: TopicSpec, spec: MessageSpec) -> str:
    if spec.model.key_field is not None:
        return f"`{topic.name}` (key: the payload's `{spec.model.key_field}`)"
    if spec.model.key_hint is not None:
        return f"`{topic.name}` (key: {spec.model.key_hint})"
    return f"`{topic.name}` (key: {topic.key})"


def message_description(spec: MessageSpec) -> str:
    if spec.role not in ROLE_SENTENCES:
        raise ValueError(f"{spec.model.__name__}: unknown role {spec.role!r}")
    topics = ", ".join(_topic_phrase(topic, spec) for topic in spec.topics)
    label = "Topic" if len(spec.topics) == 1 else "Topics"
    parts = [own_docstring(spec.model), ROLE_SENTENCES[spec.role], f"{label}: {topics}."]
    return "\n\n".join(part for part in parts if part)


def constrain_envelope(schema: JsonObject, spec: MessageSpec) -> JsonObject:
    """Fix ``type`` and ``schema_version`` of an ``Envelope[Model]`` schema to the model's."""
    model = spec.model
    properties: JsonObject = schema["properties"]
    properties["type"] = _with_const(properties["type"], model.message_type)
    properties["schema_version"] = _with_const(properties["schema_version"], model.schema_version)
    schema["title"] = spec_name(spec)
    schema["description"] = message_description(spec)
    return schema


def _with_const(prop: JsonObject, value: str | int) -> JsonObject:
    kept = {k: v for k, v in prop.items() if k in ("description", "title", "type")}
    return {**kept, "const": value}


def check_registry() -> None:
    """Every message type once; every topic of the registry is in ALL_TOPICS."""
    seen: set[str] = set()
    known_topics = {topic.name for topic in ALL_TOPICS}
    for spec in MESSAGES:
        name = spec.model.message_type
        if name in seen or name == DEAD_LETTER:
            raise ValueError(f"message type {name!r} is registered twice or reserved")
        seen.add(name)
        for topic in spec.topics:
            if topic.name not in known_topics:
                raise ValueError(f"{name}: topic {topic.name!r} is not in ALL_TOPICS")


def messages_on(topic: TopicSpec) -> list[MessageSpec]:
    return [spec for spec in all_specs() if any(t.name == topic.name for t in spec.topics)]


# --- components ---------------------------------------------------------------------------


def envelope_schemas() -> tuple[JsonObject, dict[str, str]]:
    """All schemas for components/schemas, and the envelope schema name of each message type."""
    specs = all_specs()
    inputs = [(envelope_model(spec), schema_mode(spec)) for spec in specs]
    refs, top = models_json_schema(inputs, ref_template=COMPONENT_SCHEMA_REF)
    schemas: JsonObject = top.get("$defs", {})
    names: dict[str, str] = {}
    for spec in specs:
        generated = refs[(envelope_model(spec), schema_mode(spec))]["$ref"].rsplit("/", 1)[-1]
        name = f"{spec_name(spec)}Envelope"
        if name in schemas:
            raise ValueError(f"schema name {name!r} is already taken")
        schemas[name] = constrain_envelope(schemas.pop(generated), spec)
        names[spec_name(spec)] = name
    return schemas, names


def dead_letter_schemas() -> JsonObject:
    return {
        "DeadLetterValue": {
            "type": "string",
            "format": "binary",
            "title": "DeadLetterValue",
            "description": (
                "The original message value, byte for byte: usually an envelope in JSON, "
                "but possibly bytes that are not JSON at all (the reason it was parked). "
                "It is not re-encoded (no base64). Exceptions: codes masked "
                "(dlt-redacted), or empty when the message was too large to park whole."
            ),
        },
        "DeadLetterHeaders": {
            "type": "object",
            "title": "DeadLetterHeaders",
            "description": "The original message's headers, kept, plus the dlt-* headers.",
            "required": [name for name in DEAD_LETTER_HEADERS if name != dead_letters.REDACTED],
            "properties": {
                name: _dead_letter_header(name, text) for name, text in DEAD_LETTER_HEADERS.items()
            },
            "additionalProperties": {"type": "string"},
        },
    }


def _dead_letter_header(name: str, description: str) -> JsonObject:
    header: JsonObject = {"type": "string", "description": description}
    if name in (dead_letters.ORIGINAL_PARTITION, dead_letters.ORIGINAL_OFFSET):
        header["pattern"] = "^[0-9]+$"
    if name == dead_letters.FAILED_AT:
        header["format"] = "date-time"
    return header


def message_headers(message_type: str, role: str = "event") -> JsonObject:
    headers = _envelope_headers(message_type)
    if role in ("command", "query"):
        headers["required"].append(HEADER_ACTOR_CLAIM)
        headers["properties"][HEADER_ACTOR_CLAIM] = {
            "type": "string",
            "description": (
                "The actor claim: a compact JWS (EdDSA, kid = the signer) whose payload is "
                '{"sub": "<kind>:<id>", "dig": base64url SHA-256 of the record value, '
                '"iat": seconds}, by a signer that may speak for the actor.'
            ),
        }
    if role == "query":
        headers["required"].append(HEADER_REPLY_TO)
        headers["properties"][HEADER_REPLY_TO] = {
            "type": "string",
            "pattern": "query-replies$",
            "description": (
                "The owning service's query-replies topic (with the environment's prefix)."
            ),
        }
    return headers


def _envelope_headers(message_type: str) -> JsonObject:
    return {
        "type": "object",
        "description": "Envelope fields repeated as Kafka headers (UTF-8 strings).",
        "required": [HEADER_TYPE, HEADER_IDEMPOTENCY_KEY, HEADER_CORRELATION_ID, HEADER_MESSAGE_ID],
        "properties": {
            HEADER_TYPE: {
                "type": "string",
                "const": message_type,
                "description": "The envelope's type.",
            },
            HEADER_IDEMPOTENCY_KEY: {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": "The envelope's idempotency_key.",
            },
            HEADER_CORRELATION_ID: {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": "The envelope's correlation_id.",
            },
            HEADER_MESSAGE_ID: {
                "type": "string",
                "format": "uuid",
                "description": "The envelope's message_id.",
            },
        },
    }


def _key_description(spec: MessageSpec) -> str:
    if spec.model.key_hint is not None:
        return spec.model.key_hint
    keys = {topic.key for topic in spec.topics}
    if len(keys) == 1:
        return keys.pop()
    return "; ".join(f"{topic.name}: {topic.key}" for topic in spec.topics)


def message_key(spec: MessageSpec) -> JsonObject:
    """The Kafka key of a message: a string; for a command or query also the payload
    field it is the value of (``x-key-field``, and as a runtime expression in
    ``x-key-location``, the form AsyncAPI uses for correlation ids)."""
    key: JsonObject = {"type": "string", "description": _key_description(spec)}
    field = spec.model.key_field
    if field is not None:
        key["description"] = f"The payload's {field}."
        key["x-key-field"] = field
        key["x-key-location"] = f"$message.payload#/payload/{field}"
    return key


def _kafka_binding(content: JsonObject) -> JsonObject:
    return {"kafka": {**content, "bindingVersion": KAFKA_BINDING_VERSION}}


def component_message(spec: MessageSpec, envelope_schema: str) -> JsonObject:
    name = spec_name(spec)
    docstring = own_docstring(spec.model)
    summary = docstring.split("\n\n", 1)[0] if docstring else ROLE_SENTENCES[spec.role]
    return {
        "name": name,
        "title": name,
        "summary": " ".join(summary.split()),
        "description": message_description(spec),
        "contentType": "application/json",
        "correlationId": {"$ref": "#/components/correlationIds/correlationId"},
        "headers": message_headers(spec.model.message_type, spec.role),
        "payload": {"$ref": f"#/components/schemas/{envelope_schema}"},
        "bindings": _kafka_binding({"key": message_key(spec)}),
        "x-message-role": spec.role,
        "x-schema-version": spec.model.schema_version,
    }


def dead_letter_message() -> JsonObject:
    return {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A message a service could not decode, validate or handle, parked as it was.",
        "description": (
            "Key and value are the original bytes; the headers are the original ones plus "
            "the dlt-* headers saying why, where it was read and by whom. An operator can "
            "read it with kcat and re-publish it to dlt-original-topic once fixed."
        ),
        "contentType": "application/octet-stream",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"$ref": "#/components/schemas/DeadLetterValue"},
        "bindings": _kafka_binding(
            {"key": {"type": "string", "description": "The original message key, unchanged."}}
        ),
    }


def components() -> JsonObject:
    schemas, envelope_names = envelope_schemas()
    schemas.update(dead_letter_schemas())
    messages = {
        spec_name(spec): component_message(spec, envelope_names[spec_name(spec)])
        for spec in all_specs()
    }
    messages[DEAD_LETTER] = dead_letter_message()
    return {
        "schemas": schemas,
        "messages": messages,
        "securitySchemes": {
            "principal": {
                "type": "scramSha256",
                "description": (
                    "Each service and kind of client logs in as its own principal "
                    "(contracts/access.md); `storecredit setup` makes them."
                ),
            }
        },
        "correlationIds": {
            "correlationId": {
                "description": "Ties together every message of one business flow.",
                "location": f"$message.header#/{HEADER_CORRELATION_ID}",
            }
        },
    }


# --- channels and operations ----------------------------------------------------------------


def channel_message_names(topic: TopicSpec) -> list[str]:
    if is_dead_letter_topic(topic):
        return [DEAD_LETTER]
    return [spec_name(spec) for spec in messages_on(topic)]


def topic_configuration(topic: TopicSpec) -> JsonObject:
    config = topic.kafka_config()
    result: JsonObject = {"cleanup.policy": config["cleanup.policy"].split(",")}
    for name in KNOWN_TOPIC_CONFIG_INTEGERS:
        if name in config:
            result[name] = int(config[name])
    return result


def channel_description(topic: TopicSpec) -> str:
    policy = topic.kafka_config()["cleanup.policy"]
    lines = [
        topic.description,
        "",
        f"- Key: {topic.key}.",
        f"- Partitions: {topic.partitions}.",
        f"- Cleanup policy: {policy}.",
        f"- Topic name: `{topic.name}`, after `STORECREDIT_TOPIC_PREFIX` when that is set.",
    ]
    if not channel_message_names(topic):
        lines.append("- No message type is registered on this topic yet.")
    return "\n".join(lines)


def channel(topic: TopicSpec) -> JsonObject:
    return {
        "address": topic.name,
        "title": topic.name,
        "description": channel_description(topic),
        "messages": {
            name: {"$ref": f"#/components/messages/{name}"} for name in channel_message_names(topic)
        },
        "bindings": _kafka_binding(
            {
                "partitions": topic.partitions,
                "topicConfiguration": topic_configuration(topic),
                "x-topic-config": topic.kafka_config(),
            }
        ),
    }


def operation_id(topic: TopicSpec) -> str:
    ident = channel_id(topic)
    return f"{topic_action(topic)}{ident[:1].upper()}{ident[1:]}"


def operation(topic: TopicSpec) -> JsonObject:
    ident = channel_id(topic)
    action = topic_action(topic)
    verb = "receives" if action == "receive" else "sends"
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{ident}"},
        "title": f"The platform {verb} on {topic.name}",
        "summary": topic.description,
        "messages": [
            {"$ref": f"#/channels/{ident}/messages/{name}"} for name in channel_message_names(topic)
        ],
    }


def servers() -> JsonObject:
    return {
        "local": {
            "host": "127.0.0.1:9092",
            "protocol": "kafka",
            "description": (
                "The single-node KRaft broker that `storecredit` runs natively on this machine. "
                "Inside docker-compose.yml the broker is kafka:9092, and localhost:29092 from "
                "the host."
            ),
            "security": [{"$ref": "#/components/securitySchemes/principal"}],
        }
    }


def build_document() -> JsonObject:
    """The whole AsyncAPI 3.0 document as a JSON-ready dict."""
    check_registry()
    ids = [channel_id(topic) for topic in ALL_TOPICS]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two topics map to one channel id: {ids}")
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": package_version(),
            "description": INFO_DESCRIPTION,
            "license": {
                "name": "Apache-2.0",
                "url": "https://www.apache.org/licenses/LICENSE-2.0",
            },
        },
        "defaultContentType": "application/json",
        "servers": servers(),
        "channels": {channel_id(topic): channel(topic) for topic in ALL_TOPICS},
        "operations": {operation_id(topic): operation(topic) for topic in ALL_TOPICS},
        "components": components(),
    }
