"""Realistic ledger commands as the benchmark sends them: real envelopes, keyed by account."""

from __future__ import annotations

import json
import secrets

from contracts.access import PRINCIPALS
from contracts.envelope import Actor, ActorKind, Envelope, Message, new_envelope
from contracts.ledger import (
    CommitPointTransaction,
    CreatePointTransaction,
    OpenLedgerAccount,
    PointTransactionKind,
)
from shared.runtime import claims
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import SERVICES

BENCH_ADMIN = Actor(kind=ActorKind.ADMIN, id="bench")
KAFKA_PASSWORDS = json.dumps({p.name: secrets.token_urlsafe(16) for p in PRINCIPALS})
"""The run's Kafka principals (contracts/access.py): each service connects as its own."""
KEYSET = claims.new_keyset(SERVICES)
"""The signers of the benchmark's own system (its services trust them, its client signs
with them): made afresh for each run, like its secrets."""
KEYRING = claims.Keyring(
    claims.parse_keys(claims.keys_json(KEYSET)), claims.parse_signers(claims.signers_json(KEYSET))
)
UNIT = "points:loyalty"


def account_ids(tag: str, count: int) -> list[str]:
    return [f"{tag}-acct-{number:05d}" for number in range(count)]


def open_account(account_id: str) -> Envelope[Message]:
    return new_envelope(OpenLedgerAccount(account_id=account_id, unit=UNIT), actor=BENCH_ADMIN)


def deposit(account_id: str, transaction_id: str) -> Envelope[Message]:
    payload = CreatePointTransaction(
        account_id=account_id,
        transaction_id=transaction_id,
        amount=100,
        kind=PointTransactionKind.DEPOSIT,
        description="benchmark deposit",
        references={"order_id": f"order-{transaction_id}"},
    )
    return new_envelope(payload, actor=BENCH_ADMIN)


def hold(account_id: str, transaction_id: str) -> Envelope[Message]:
    """A pending spend of one point, as a checkout's applied points begin."""
    payload = CreatePointTransaction(
        account_id=account_id,
        transaction_id=transaction_id,
        amount=-1,
        kind=PointTransactionKind.SPEND,
        status="pending",
        description="benchmark hold",
        references={"order_id": f"order-{transaction_id}"},
    )
    return new_envelope(payload, actor=BENCH_ADMIN)


def commit(account_id: str, transaction_id: str) -> Envelope[Message]:
    """The hold's commit, as fulfillment sends it."""
    payload = CommitPointTransaction(account_id=account_id, transaction_id=transaction_id)
    return new_envelope(payload, actor=BENCH_ADMIN)


def record(envelope: Envelope[Message]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of the Kafka record that carries ``envelope``, its actor
    vouched for by the benchmark's signers (signing is part of what a client does)."""
    value = encode(envelope)
    signed = {**headers_for(envelope), **KEYRING.headers(value, envelope.actor)}
    return value, [(name, text.encode()) for name, text in signed.items()]
