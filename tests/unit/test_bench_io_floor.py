"""The floor writes, per deposit, exactly the rows the ledger's ratios count."""

from __future__ import annotations

from typing import Any

from aiokafka.structs import ConsumerRecord

from shared.tools.bench.envelopes import deposit, record
from shared.tools.bench.io_floor import RECORDS_PER_DEPOSIT, rows_for
from shared.tools.bench.ratios import ROWS_PER_DEPOSIT


def _consumed(account: str, transaction: str, offset: int) -> ConsumerRecord[bytes, bytes]:
    value, headers = record(deposit(account, transaction))
    fields: dict[str, Any] = {
        "topic": "raw",
        "partition": 0,
        "offset": offset,
        "timestamp": 0,
        "timestamp_type": 0,
        "key": account.encode(),
        "value": value,
        "checksum": None,
        "serialized_key_size": len(account),
        "serialized_value_size": len(value),
        "headers": headers,
    }
    return ConsumerRecord(**fields)


def test_each_deposit_gets_its_rows_and_an_account_one_balance_per_poll() -> None:
    polled = [_consumed("acct-1", "tx-1", 0), _consumed("acct-1", "tx-2", 1)]
    polled.append(_consumed("acct-2", "tx-3", 2))

    rows = rows_for(polled, "out")

    assert [t for t, _, _ in rows.transactions] == ["tx-1", "tx-2", "tx-3"]
    assert len({key for key, _ in rows.inbox}) == 3
    assert rows.postings[:2] == [("tx-1", "acct-1", 100), ("tx-1", "system", -100)]
    assert sum(amount for _, _, amount in rows.postings) == 0
    assert rows.balances == {"acct-1": 200, "acct-2": 100}
    assert len(rows.outbox) == RECORDS_PER_DEPOSIT * 3
    assert {(topic, key) for topic, key, _ in rows.outbox} == {("out", "acct-1"), ("out", "acct-2")}
    per_deposit = (len(rows.inbox) + len(rows.transactions) + len(rows.postings)) / 3
    assert per_deposit + 1 + RECORDS_PER_DEPOSIT == ROWS_PER_DEPOSIT  # + balance + outbox
