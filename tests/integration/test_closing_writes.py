"""A batch of commands writes its inbox results and its outbox rows in one statement, and
what it writes is what the two statements wrote: each key bound to its message and
result, each row whole (no key, a secret, bytes that are not text), in the order added,
a message id added twice kept once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from contracts.ledger import OpenLedgerAccount
from shared.runtime.closing_writes import write_results_and_rows
from shared.runtime.codec import decode, encode, payload_fingerprint
from shared.runtime.inbox import BatchInbox, Claimed
from shared.runtime.messaging_tables import inbox, outbox
from shared.runtime.outbox import BatchRows
from shared.runtime.service import ServiceRuntime
from tests.kafka_tools import command
from tests.random_refs import random_id
from tests.statements import statements_sent


def _row(topic: str, key: str | None, value: bytes, *, secret: bool = False) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4(),
        "topic": topic,
        "key": key,
        "headers": {"type": "Probe", "note": "naïve ✓"},
        "value": value,
        "secret": secret,
    }


async def test_results_and_rows_in_one_statement(ledger: ServiceRuntime) -> None:
    consumer, topic = random_id("consumer"), random_id("topic")
    known = {"OpenLedgerAccount": OpenLedgerAccount}
    commands = [
        decode(encode(command(OpenLedgerAccount(account_id=random_id("a"), unit="points"))), known)
        for _ in range(2)
    ]
    first = _row(topic, "k-1", b"\xff\x00 not text")
    added = [first, _row(topic, None, b"{}"), dict(first), _row(topic, "k-1", b"2", secret=True)]
    results = [{"status": "accepted", "n": n, "text": "naïve ✓"} for n in range(2)]

    ours: list[Any] = []

    claims = BatchInbox(consumer)
    async with ledger.sessions() as session:  # rolled back: the relay never sees the rows
        await claims.claim_all(
            session, [(incoming.envelope, payload_fingerprint(incoming)) for incoming in commands]
        )
        for incoming, result in zip(commands, results, strict=True):
            assert await claims.claim(session, incoming.envelope, "") == Claimed()
            await claims.record_result(session, incoming.envelope, result)
        rows = BatchRows(rows=list(added))
        ours.append((await session.connection()).sync_connection)
        # not the ledger's relay, on the same engine
        with statements_sent(
            ledger.engine, lambda connection, _sql: connection in ours
        ) as statements:
            await write_results_and_rows(session, claims, rows)
        written = (
            await session.execute(
                select(outbox.c.message_id, outbox.c.key, outbox.c.headers, outbox.c.value)
                .add_columns(outbox.c.secret)
                .where(outbox.c.topic == topic)
                .order_by(outbox.c.id)
            )
        ).all()
        bound = (
            await session.execute(
                select(inbox.c.idempotency_key, inbox.c.message_id, inbox.c.result).where(
                    inbox.c.consumer == consumer
                )
            )
        ).all()
        await session.rollback()
    assert len(statements) == 1
    assert not claims.bound_unwritten and rows.rows == []
    expected = [added[0], added[1], added[3]]  # the one added again kept once
    assert [tuple(row) for row in written] == [
        (row["message_id"], row["key"], row["headers"], row["value"], row["secret"])
        for row in expected
    ]
    found = sorted((row.idempotency_key, row.message_id, row.result) for row in bound)
    assert found == sorted(
        (incoming.envelope.idempotency_key, incoming.envelope.message_id, result)
        for incoming, result in zip(commands, results, strict=True)
    )
