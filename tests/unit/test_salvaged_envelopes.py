"""An envelope whose own fields are wrong still says enough of itself to be answered."""

from __future__ import annotations

import json
import uuid

from shared.runtime.codec import salvaged

MESSAGE_ID = "7d1f5b1e-0000-4000-8000-000000000001"


def test_what_it_names_is_kept_and_the_rest_filled_in() -> None:
    body = {
        "message_id": MESSAGE_ID,
        "idempotency_key": "k-1",
        "type": "OpenLedgerAccount",
        "correlation_id": "c-1",
        "occurred_at": "2026-12-02T12:00:00",
        "actor": {"kind": "admin", "id": "a-1"},
    }
    found = salvaged(json.dumps(body).encode())
    assert found is not None
    assert (str(found.message_id), found.idempotency_key, found.type, found.correlation_id) == (
        MESSAGE_ID,
        "k-1",
        "OpenLedgerAccount",
        "c-1",
    )
    assert found.actor.id == "a-1"


def test_without_a_message_id_one_is_derived_from_the_bytes() -> None:
    value = json.dumps({"idempotency_key": "k-1", "actor": "nobody"}).encode()
    first, again = salvaged(value), salvaged(value)
    assert first is not None and again is not None
    assert first.message_id == again.message_id and isinstance(first.message_id, uuid.UUID)
    assert first.correlation_id == str(first.message_id)
    assert first.actor.kind.value == "system"


def test_nothing_to_answer_by_is_none() -> None:
    for value in (b"{}", b"[1]", b"null", b'{"message_id": "42", "type": "X"}', b"\xff"):
        assert salvaged(value) is None
    assert salvaged(json.dumps({"idempotency_key": "a\x00b"}).encode()) is None
