from __future__ import annotations

import json

import pytest

from contracts.envelope import Actor, ActorKind, new_envelope
from contracts.ledger import CreatePointTransaction, OpenLedgerAccount, PointTransactionKind
from shared.runtime.codec import DecodeError, decode, encode, headers_for, payload_fingerprint

KNOWN = {OpenLedgerAccount.message_type: OpenLedgerAccount}
ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-1")


def opening() -> bytes:
    return encode(new_envelope(OpenLedgerAccount(account_id="a-1", unit="USD"), actor=ADMIN))


def test_a_message_survives_the_round_trip() -> None:
    envelope = new_envelope(OpenLedgerAccount(account_id="a-1", unit="USD"), actor=ADMIN)
    decoded = decode(encode(envelope), KNOWN)
    assert decoded.payload == envelope.payload
    assert decoded.envelope.message_id == envelope.message_id
    assert headers_for(envelope)["type"] == "OpenLedgerAccount"
    assert headers_for(envelope)["idempotency-key"] == envelope.idempotency_key


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (b"", "undecodable"),
        (b"\xff\x00", "undecodable"),
        (b"[1, 2", "undecodable"),
        (b'{"hello": "world"}', "invalid_envelope"),
    ],
)
def test_bytes_that_are_not_an_envelope(value: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(value, KNOWN)
    assert caught.value.code == code
    assert caught.value.envelope is None


def test_unknown_type_bad_payload_and_wrong_version_keep_the_envelope() -> None:
    for change, code in [
        ({"type": "Nope"}, "unknown_type"),
        ({"payload": {"account_id": "a-1"}}, "invalid_payload"),
        ({"schema_version": 7}, "unsupported_schema_version"),
    ]:
        body = json.loads(opening())
        body.update(change)
        with pytest.raises(DecodeError) as caught:
            decode(json.dumps(body).encode(), KNOWN)
        assert caught.value.code == code
        assert caught.value.envelope is not None


def test_a_naive_timestamp_is_refused() -> None:
    body = json.loads(opening())
    body["occurred_at"] = "2026-01-01T00:00:00"
    with pytest.raises(DecodeError, match="invalid_envelope"):
        decode(json.dumps(body).encode(), KNOWN)


def test_the_fingerprint_ignores_defaults_but_not_values_or_actor() -> None:
    known = {CreatePointTransaction.message_type: CreatePointTransaction}

    def fingerprint(payload: dict[str, object], actor: Actor = ADMIN) -> str:
        body = json.loads(
            encode(
                new_envelope(
                    CreatePointTransaction(
                        account_id="a",
                        transaction_id="t",
                        amount=5,
                        kind=PointTransactionKind.DEPOSIT,
                    ),
                    actor=actor,
                )
            )
        )
        body["payload"] = payload
        return payload_fingerprint(decode(json.dumps(body).encode(), known))

    short = {"account_id": "a", "transaction_id": "t", "amount": 5, "kind": "deposit"}
    assert fingerprint(short) == fingerprint({**short, "description": ""})
    assert fingerprint(short) != fingerprint({**short, "amount": 6})
    assert fingerprint(short) != fingerprint(short, Actor(kind=ActorKind.SERVICE, id="order"))


def test_amounts_are_integers_not_zero_and_within_int64() -> None:
    from pydantic import ValidationError

    base = {"account_id": "a", "transaction_id": "t", "kind": "deposit"}
    for amount in (0, 2**63, 1.5, "10"):
        with pytest.raises(ValidationError):
            CreatePointTransaction.model_validate({**base, "amount": amount})
