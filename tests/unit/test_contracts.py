"""The generated contracts: up to date, valid for real messages, one channel per topic."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts import asyncapi, generate
from contracts.envelope import (
    HEADER_ACTOR_CLAIM,
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_MESSAGE_ID,
    HEADER_REPLY_TO,
    HEADER_TYPE,
    Actor,
    ActorKind,
    Message,
    new_envelope,
)
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from contracts.registry import MESSAGES
from contracts.results import CommandResult, ResultStatus
from contracts.topics import ALL_TOPICS
from shared.runtime.codec import encode

Json = Any
Schema = dict[str, Any]
CUSTOMER = Actor(kind=ActorKind.CUSTOMER, id="customer-1")


# --- a tiny validator for the JSON Schema subset pydantic emits -----------------------------


def _resolve(root: Schema, ref: str) -> Schema:
    assert ref.startswith("#/"), f"only local refs are expected, got {ref}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _type_ok(value: Json, expected: str) -> bool:
    if expected in ("integer", "number"):
        if isinstance(value, bool):
            return False
        return isinstance(value, int) if expected == "integer" else isinstance(value, int | float)
    return isinstance(value, _TYPES[expected])


def _format_errors(value: str, fmt: str, path: str) -> list[str]:
    try:
        if fmt == "uuid":
            UUID(value)
        elif fmt == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return [f"{path}: {value!r} is not a {fmt}"]
    return []


def _scalar_errors(schema: Schema, value: Json, path: str) -> list[str]:
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} is not the const {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 1e9):
            errors.append(f"{path}: length {len(value)} out of bounds")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if "format" in schema:
            errors.extend(_format_errors(value, schema["format"], path))
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    if is_integer and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        errors.append(f"{path}: {value} out of bounds")
    return errors


def _object_errors(root: Schema, schema: Schema, value: Json, path: str) -> list[str]:
    if not isinstance(value, dict):
        return []
    errors = [f"{path}: missing {name}" for name in schema.get("required", ()) if name not in value]
    properties = schema.get("properties", {})
    extra_schema = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            errors.extend(validate(root, properties[name], item, f"{path}.{name}"))
        elif extra_schema is False:
            errors.append(f"{path}: unexpected property {name}")
        elif isinstance(extra_schema, dict):
            errors.extend(validate(root, extra_schema, item, f"{path}.{name}"))
    return errors


def validate(root: Schema, schema: Schema, value: Json, path: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema`` (a subset of JSON Schema, enough for pydantic)."""
    if "$ref" in schema:
        return validate(root, _resolve(root, schema["$ref"]), value, path)
    if "anyOf" in schema:
        branches = [validate(root, branch, value, path) for branch in schema["anyOf"]]
        return [] if any(not errors for errors in branches) else [f"{path}: no anyOf branch"]
    if "type" in schema and not _type_ok(value, schema["type"]):
        return [f"{path}: {value!r} is not of type {schema['type']}"]
    errors = _scalar_errors(schema, value, path) + _object_errors(root, schema, value, path)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors.extend(validate(root, schema["items"], item, f"{path}[{index}]"))
    return errors


# --- helpers ----------------------------------------------------------------------------------


def _schema_file(message_type: str) -> dict[str, Any]:
    path = generate.SCHEMAS_DIR / f"{message_type}.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _wire(payload: Message) -> dict[str, Any]:
    """The message exactly as it goes to Kafka, decoded from JSON again."""
    envelope = new_envelope(payload, actor=CUSTOMER, idempotency_key="key-1")
    wire: dict[str, Any] = json.loads(encode(envelope))
    return wire


def _examples() -> list[Message]:
    return [
        OpenLedgerAccount(account_id="acct-1", unit="points:loyalty", customer_id="customer-1"),
        CreatePointTransaction(
            account_id="acct-1",
            transaction_id="tx-1",
            amount=250,
            kind=PointTransactionKind.EARN,
            references={"order_id": "order-1"},
        ),
        CommandResult(
            command_id=uuid4(),
            command_type="OpenLedgerAccount",
            idempotency_key="key-1",
            status=ResultStatus.REJECTED,
            code="insufficient_funds",
            reason="Not enough points.",
        ),
    ]


def _all_refs(node: Json) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _all_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _all_refs(value)]
    return []


# --- (a) the files on disk are what the generator produces now ------------------------------


def test_generated_files_are_up_to_date() -> None:
    found = generate.differences(generate.expected_files())
    assert not found, "Generated contracts are out of date; run `make contracts`:\n" + "\n".join(
        found.lines()
    )


def test_one_schema_file_per_registered_message() -> None:
    names = {path.stem for path in generate.SCHEMAS_DIR.glob("*.json")}
    typed_results = {f"{s.model.message_type}Result" for s in MESSAGES if s.role == "command"}
    assert names == {spec.model.message_type for spec in MESSAGES} | typed_results


def test_generation_is_deterministic() -> None:
    assert generate.expected_files() == generate.expected_files()


def test_check_mode_exits_zero_when_up_to_date() -> None:
    assert generate.main(["--check"]) == 0


# --- (b) every schema describes the envelope; real messages validate -------------------------


@pytest.mark.parametrize("spec", MESSAGES, ids=lambda spec: spec.model.message_type)
def test_schema_is_the_envelope_of_its_message(spec: Any) -> None:
    name = spec.model.message_type
    schema = _schema_file(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.json")
    assert schema["title"] == name
    assert schema["description"]
    assert schema["additionalProperties"] is False
    envelope_fields = {
        "message_id",
        "idempotency_key",
        "type",
        "schema_version",
        "correlation_id",
        "occurred_at",
        "actor",
        "payload",
    }
    assert set(schema["required"]) == envelope_fields
    assert set(schema["properties"]) == envelope_fields | {"causation_id"}
    assert schema["properties"]["type"]["const"] == name
    assert schema["properties"]["schema_version"]["const"] == spec.model.schema_version
    payload = _resolve(schema, schema["properties"]["payload"]["$ref"])
    assert payload["title"] == spec.model.__name__
    model_fields = set(spec.model.model_fields)
    assert set(payload.get("properties", {})) == model_fields


@pytest.mark.parametrize("payload", _examples(), ids=lambda p: p.message_type)
def test_real_envelope_validates(payload: Message) -> None:
    wire = _wire(payload)
    schema = _schema_file(payload.message_type)
    assert validate(schema, schema, wire) == []
    # The top level by hand, should the tiny validator ever be too lenient:
    assert set(schema["required"]) <= set(wire)
    assert set(wire) <= set(schema["properties"])
    assert wire["type"] == schema["properties"]["type"]["const"]
    assert wire["schema_version"] == schema["properties"]["schema_version"]["const"]


def test_schema_rejects_wrong_messages() -> None:
    schema = _schema_file("OpenLedgerAccount")
    wire = _wire(OpenLedgerAccount(account_id="acct-1", unit="USD"))
    wrong_type = {**wire, "type": "CreatePointTransaction"}
    wrong_version = {**wire, "schema_version": 99}
    extra_field = {**wire, "surprise": True}
    no_account = {**wire, "payload": {"unit": "USD"}}
    bad_actor = {**wire, "actor": {"kind": "robot", "id": "r2"}}
    for message in (wrong_type, wrong_version, extra_field, no_account, bad_actor):
        assert validate(schema, schema, message), message


def test_schemas_are_valid_and_accept_real_messages() -> None:
    import jsonschema

    for payload in _examples():
        schema = _schema_file(payload.message_type)
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(_wire(payload))


# --- (c) the AsyncAPI document --------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    built: dict[str, Any] = json.loads(generate.ASYNCAPI_PATH.read_text(encoding="utf-8"))
    return built


def test_asyncapi_header(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "Store credit and loyalty points platform"
    description = document["info"]["description"]
    for word in (
        HEADER_TYPE,
        HEADER_IDEMPOTENCY_KEY,
        HEADER_CORRELATION_ID,
        HEADER_MESSAGE_ID,
        "STORECREDIT_TOPIC_PREFIX",
        *asyncapi.DEAD_LETTER_HEADERS,
    ):
        assert f"`{word}`" in description
    assert document["servers"]["local"] == {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "description": document["servers"]["local"]["description"],
        "security": [{"$ref": "#/components/securitySchemes/principal"}],
    }
    assert document["components"]["securitySchemes"]["principal"]["type"] == "scramSha256"


def test_one_channel_per_topic(document: dict[str, Any]) -> None:
    by_address = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(by_address) == {topic.name for topic in ALL_TOPICS}
    assert len(document["channels"]) == len(ALL_TOPICS)
    for topic in ALL_TOPICS:
        binding = by_address[topic.name]["bindings"]["kafka"]
        assert binding["partitions"] == topic.partitions
        policy = binding["topicConfiguration"]["cleanup.policy"]
        assert policy == (["compact"] if topic.compacted else ["delete"])
        assert binding["x-topic-config"] == topic.kafka_config()
        assert topic.key in by_address[topic.name]["description"]


def test_every_message_is_on_its_topics(document: dict[str, Any]) -> None:
    by_address = {channel["address"]: channel for channel in document["channels"].values()}
    for spec in MESSAGES:
        name = spec.model.message_type
        assert name in document["components"]["messages"]
        for topic in spec.topics:
            messages = by_address[topic.name]["messages"]
            assert messages[name] == {"$ref": f"#/components/messages/{name}"}
    for topic in ALL_TOPICS:
        if topic.name.endswith(".dead-letters"):
            assert list(by_address[topic.name]["messages"]) == ["DeadLetter"]


def payload_properties(schema: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = schema["properties"]
    return properties


def test_message_components(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for spec in MESSAGES:
        name = spec.model.message_type
        message = document["components"]["messages"][name]
        headers = message["headers"]
        signed = {HEADER_ACTOR_CLAIM} if spec.role in ("command", "query") else set()
        answered_on = {HEADER_REPLY_TO} if spec.role == "query" else set()
        assert set(headers["required"]) == {
            HEADER_TYPE,
            HEADER_IDEMPOTENCY_KEY,
            HEADER_CORRELATION_ID,
            HEADER_MESSAGE_ID,
            *signed,
            *answered_on,
        }
        assert headers["properties"][HEADER_TYPE]["const"] == name
        key = message["bindings"]["kafka"]["key"]
        assert key["type"] == "string"
        if spec.role in ("command", "query") and spec.model.key_hint is None:
            field = spec.model.key_field
            assert field is not None, f"{name} names no key field and no key hint"
            assert key["x-key-field"] == field
            assert key["x-key-location"] == f"$message.payload#/payload/{field}"
            assert spec.model.model_fields[field].is_required(), f"{name}.{field} is optional"
            assert field in payload_properties(schemas[spec.model.__name__]), name
        envelope = _resolve(document, message["payload"]["$ref"])
        assert envelope["properties"]["type"]["const"] == name
        payload = _resolve(document, envelope["properties"]["payload"]["$ref"])
        assert payload is schemas[spec.model.__name__]


def test_dead_letter_message(document: dict[str, Any]) -> None:
    message = document["components"]["messages"]["DeadLetter"]
    headers = _resolve(document, message["headers"]["$ref"])
    # every dlt-* header but dlt-redacted, which only a masked value carries
    assert set(headers["required"]) == set(asyncapi.DEAD_LETTER_HEADERS) - {"dlt-redacted"}
    assert _resolve(document, message["payload"]["$ref"])["type"] == "string"


def test_operations(document: dict[str, Any]) -> None:
    operations = document["operations"]
    assert len(operations) == len(ALL_TOPICS)
    by_channel = {op["channel"]["$ref"]: op for op in operations.values()}
    for channel_id, channel in document["channels"].items():
        op = by_channel[f"#/channels/{channel_id}"]
        address = channel["address"]
        received = (".commands", ".queries")
        commands = address.endswith(received) or address == "customers.events"
        assert op["action"] == ("receive" if commands else "send"), address
        expected = [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in channel["messages"]]
        assert sorted(op["messages"], key=str) == sorted(expected, key=str)


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = _all_refs(document)
    assert refs
    for ref in refs:
        _resolve(document, ref)


def test_document_is_built_from_the_registry(document: dict[str, Any]) -> None:
    assert document == json.loads(generate.dumps(asyncapi.build_document()))


def test_channel_ids() -> None:
    ids = [asyncapi.channel_id(topic) for topic in ALL_TOPICS]
    assert "ledgerCommandResults" in ids
    assert "storeCreditDeadLetters" in ids
    assert len(set(ids)) == len(ids)
