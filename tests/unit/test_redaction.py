"""What any service parks as a dead letter, or logs, never holds a code in clear."""

from __future__ import annotations

import io
import json
import logging

from shared.runtime.logging import log_handler
from shared.runtime.redaction import redact_headers, redact_secrets


def test_code_fields_are_masked_at_any_depth_and_the_rest_kept() -> None:
    value = json.dumps(
        {
            "type": "CreateStoreCredit",
            "payload": {"code": "4000 1234 5678 9010", "amount": "a lot", "name": "Ünïcode"},
            "items": [{"code": 4000123456789010}, {"code": None}],
        }
    ).encode()
    redacted, changed = redact_secrets(value)
    document = json.loads(redacted)
    assert changed
    assert document["payload"] == {"code": "******9010", "amount": "a lot", "name": "Ünïcode"}
    assert document["items"] == [{"code": "******9010"}, {"code": None}]


def test_a_short_or_digitless_code_field_is_masked_whole() -> None:
    redacted, changed = redact_secrets(b'{"payload": {"code": "ab1"}}')
    assert changed and json.loads(redacted) == {"payload": {"code": "******"}}


def test_json_without_codes_is_kept_byte_for_byte() -> None:
    value = b'{"payload": {"amount": 123456789012345, "code": "insufficient_funds"}}'
    assert redact_secrets(value) == (value, False)


def test_digit_runs_in_undecodable_bytes_are_masked() -> None:
    value = b"\xff code 4000-1234-5678-9010, also 4000123456789010 and 1500 and 2026-11-22"
    redacted, changed = redact_secrets(value)
    assert changed
    assert b"9010" not in redacted
    assert redacted.endswith(b"and 1500 and 2026-11-22")
    assert len(redacted) == len(value)


def test_a_json_scalar_is_treated_as_bytes() -> None:
    redacted, changed = redact_secrets(b'"4000123456789010"')
    assert changed and redacted == b'"' + b"*" * 16 + b'"'


def test_codes_are_masked_by_content_in_any_field_list_or_key() -> None:
    """Field names are no guide: a "Code" field, a code in a description, a list of codes,
    a code as a key; a UUID that happens to hold a run of digits stays."""
    message_id = "12345678-1234-5678-9abc-123456789012"
    value = json.dumps(
        {
            "message_id": message_id,
            "payload": {
                "Code": "4000123456789010",
                "description": "gift for Ann: 4000-1111-2222-3333, thanks",
                "codes": ["4000 2222 3333 4444", 4000555566667777],
                "4000666677778888": "as a key",
                "token": "tok_1DFSimLjwcuEFMMJEh7zFLrq",
                "amount": 123456789012345,
            },
        }
    ).encode()
    redacted, changed = redact_secrets(value)
    text = redacted.decode()
    assert changed
    for code in ("4000123456789010", "4000-1111-2222-3333", "4000 2222 3333 4444"):
        assert code not in text
    for digits in ("4000555566667777", "4000666677778888", "tok_1DFSimLjwcuEFMMJEh7zFLrq"):
        assert digits not in text
    document = json.loads(redacted)
    assert document["message_id"] == message_id
    assert document["payload"]["codes"] == ["******4444", "******7777"]
    assert document["payload"]["description"] == "gift for Ann: " + "*" * 19 + ", thanks"
    assert document["payload"]["amount"] == 123456789012345  # a number not named a code


def test_headers_are_masked_too() -> None:
    headers = {"type": "ApplyStoreCredit", "x-note": "code 4000123456789010", "n": "1500"}
    masked, changed = redact_headers(headers)
    assert changed and masked["x-note"] == "code " + "*" * 16 and masked["n"] == "1500"


def test_log_lines_never_show_a_code() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test-redaction")
    logger.propagate = False
    logger.addHandler(log_handler("store_credit", "json", stream))
    logger.addHandler(log_handler("store_credit", "text", stream))
    try:
        logger.warning("looked up 4000123456789010", extra={"detail": "4000 1234 5678 9010"})
    finally:
        logger.handlers.clear()
    written = stream.getvalue()
    assert "4000123456789010" not in written and "4000 1234 5678 9010" not in written
    assert written.count("*" * 19) == 2  # each line: the message and its extra field
