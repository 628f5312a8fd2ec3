"""Input that stalled a consumer for ever, or made it fail where it had to refuse, one
case at a time. tests/integration/test_fuzz_consumers.py found each over Kafka."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaParser

from contracts.envelope import Message, new_envelope
from contracts.ledger import CreatePointTransaction, PointTransactionKind
from shared.runtime.broker import keep_bytes, parse_any_headers
from shared.runtime.codec import DecodeError, decode, encode
from shared.runtime.dead_letters import send_to_dead_letters
from shared.runtime.outbox import MessageTooLarge, check_fits
from shared.runtime.redaction import redact_secrets
from tests.kafka_tools import ADMIN

KNOWN: dict[str, type[Message]] = {CreatePointTransaction.message_type: CreatePointTransaction}


def deposit(**fields: Any) -> dict[str, Any]:
    payload = CreatePointTransaction(
        account_id="acct-1", transaction_id="tx-1", amount=5, kind=PointTransactionKind.DEPOSIT
    )
    body: dict[str, Any] = json.loads(encode(new_envelope(payload, actor=ADMIN)))
    body["payload"].update(fields)
    return body


def record_of(key: bytes, value: bytes, headers: list[tuple[str, Any]]) -> Any:
    """An aiokafka record as a consumer gets it (header values may be None or any bytes)."""
    return ConsumerRecord(
        topic="ledger.commands",
        partition=2,
        offset=9,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=headers,
    )


def refusal(body: dict[str, Any]) -> DecodeError:
    with pytest.raises(DecodeError) as refused:
        decode(json.dumps(body).encode(), KNOWN)
    return refused.value


@pytest.mark.parametrize("field", ["correlation_id", "idempotency_key", "type"])
def test_nul_in_an_envelope_field_makes_it_unreadable(field: str) -> None:
    """PostgreSQL text refuses U+0000: the inbox, or the outbox row of the result, failed
    on it, and the command was read again for ever. It is answered by what is storable of
    its envelope (the field with U+0000 replaced)."""
    body = deposit() | {field: "a\x00b"}
    error = refusal(body)
    assert error.code == "invalid_envelope" and error.envelope is not None
    assert str(error.envelope.message_id) == body["message_id"]
    kept = (error.envelope.correlation_id, error.envelope.idempotency_key, error.envelope.type)
    assert not any("\x00" in text for text in kept)


@pytest.mark.parametrize(
    "fields",
    [{"description": "a\x00b"}, {"metadata": {"x": float("nan")}}, {"metadata": {"\x00": 1}}],
)
def test_what_no_database_stores_is_an_invalid_payload(fields: dict[str, Any]) -> None:
    error = refusal(deposit(**fields))
    assert error.code == "invalid_payload"
    assert error.envelope is not None  # so the command is answered invalid_command
    assert "\x00" not in error.detail


def test_a_reason_names_a_field_in_a_few_hundred_characters_at_most() -> None:
    """A reason goes into a result, which must fit in a Kafka record."""
    error = refusal(deposit(**{"k" * 100_000: 1}))
    assert error.code == "invalid_payload"
    assert len(error.detail) < 1_000


def test_json_nested_too_deep_to_walk_has_its_digit_runs_masked() -> None:
    """json.loads raised RecursionError, which the dead-letter path did not expect."""
    deep = b'{"code": "1234567812345678", "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    masked, changed = redact_secrets(deep)
    assert changed
    assert b"1234567812345678" not in masked


async def test_null_and_non_utf8_header_values_reach_the_handler_with_the_record_unchanged() -> (
    None
):
    """FastStream's parser decoded every header value as strict UTF-8 and failed the
    message, again and again, before a handler saw it."""
    headers = [("null", None), ("latin-1", b"caf\xe9"), ("type", b"X")]
    record = record_of(b"k", b"\xff not json", headers)
    parser = AioKafkaParser(KafkaMessage, None)
    message = await parse_any_headers(record, parser.parse_message)
    assert message.raw_message is record
    assert message.headers == {"null": "", "latin-1": "caf\ufffd", "type": "X"}
    assert await keep_bytes(message) == b"\xff not json"  # not decoded as JSON or text


class TooLargeOnce:
    """A broker whose first publish is refused as too large, like Kafka's."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, value: bytes, topic: str, **options: Any) -> None:
        if not self.published:
            self.published.append({"refused": True})
            raise MessageSizeTooLargeError()
        self.published.append({"value": value, "topic": topic, **options})


async def test_a_dead_letter_too_large_for_kafka_is_parked_without_the_bytes() -> None:
    """Parking the original plus the dlt-* headers failed as too large, which counts as
    transient: the consumer read the message again for ever."""
    broker = TooLargeOnce()
    record = record_of(b"k" * 5_000, b"x" * 10, [("type", b"Big")])
    await send_to_dead_letters(
        broker,  # type: ignore[arg-type]
        "ledger.dead-letters",
        record,
        reason="invalid_payload",
        detail="filler: Extra inputs are not permitted",
        consumer_group="g",
    )
    [refused, parked] = broker.published
    assert refused == {"refused": True}
    assert (parked["value"], parked["key"]) == (b"", None)
    headers = parked["headers"]
    assert all(name.startswith("dlt-") for name in headers)
    assert headers["dlt-reason"] == "invalid_payload"
    assert headers["dlt-original-offset"] == "9"
    assert "read them at the original offset" in headers["dlt-detail"]


def test_a_message_kafka_would_refuse_is_refused_before_anything_is_written() -> None:
    """The outbox relay stopped for good on a row Kafka refused: every later row waited."""
    small = CreatePointTransaction(
        account_id="a", transaction_id="t", amount=1, kind=PointTransactionKind.DEPOSIT
    )
    check_fits(small)
    large = small.model_copy(update={"references": {f"r{n}": "x" * 128 for n in range(8_000)}})
    with pytest.raises(MessageTooLarge) as refused:
        check_fits(large)
    assert refused.value.code == "message_too_large"
