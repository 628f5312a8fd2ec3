"""What the store-credit service parks as a dead letter never holds a code in clear."""

from __future__ import annotations

import json

from shared.runtime.redaction import redact_codes


def test_code_fields_are_masked_at_any_depth_and_the_rest_kept() -> None:
    value = json.dumps(
        {
            "type": "CreateStoreCredit",
            "payload": {"code": "4000 1234 5678 9010", "amount": "a lot", "name": "Ünïcode"},
            "items": [{"code": 4000123456789010}, {"code": None}],
        }
    ).encode()
    redacted, changed = redact_codes(value)
    document = json.loads(redacted)
    assert changed
    assert document["payload"] == {"code": "******9010", "amount": "a lot", "name": "Ünïcode"}
    assert document["items"] == [{"code": "******9010"}, {"code": None}]


def test_a_short_or_digitless_code_field_is_masked_whole() -> None:
    redacted, changed = redact_codes(b'{"payload": {"code": "ab1"}}')
    assert changed and json.loads(redacted) == {"payload": {"code": "******"}}


def test_json_without_codes_is_kept_byte_for_byte() -> None:
    value = b'{"payload": {"amount": 123456789012345, "code": "insufficient_funds"}}'
    assert redact_codes(value) == (value, False)


def test_digit_runs_in_undecodable_bytes_are_masked() -> None:
    value = b"\xff code 4000-1234-5678-9010, also 4000123456789010 and 1500 and 2026-11-22"
    redacted, changed = redact_codes(value)
    assert changed
    assert b"9010" not in redacted
    assert redacted.endswith(b"and 1500 and 2026-11-22")
    assert len(redacted) == len(value)


def test_a_json_scalar_is_treated_as_bytes() -> None:
    redacted, changed = redact_codes(b'"4000123456789010"')
    assert changed and redacted == b'"' + b"*" * 16 + b'"'
