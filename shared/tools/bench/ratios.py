"""The ledger's rate set against the issue's targets and the raw limits measured in the
same run: pure, so it is unit-tested.

What a deposit costs, counted from the code: Kafka moves 4 records (the command read;
its result, ``PointTransactionCreated`` and ``BalanceChanged`` written), and PostgreSQL
writes 8 rows (the inbox key, the point transaction, two postings, the account's new
balance, three outbox rows), then the relay marks the three outbox rows published.

The floor (``shared.tools.bench.io_floor``) is that work alone, with no logic: what any
ledger keeping the brief's guarantees could at best do on this machine.
"""

from __future__ import annotations

from shared.tools.bench.report import Figure

TARGET_RATE = 15_000
"""Point transactions per second the issue asks of the ledger on this machine."""
TARGET_RATIO = 10
"""Times a one-commit-per-message handler, measured in the same run."""
RECORDS_WRITTEN_PER_DEPOSIT = 3
ROWS_PER_DEPOSIT = 8
PAIR_TARGET = 0.5
"""Hold-then-commit pairs per second against deposits per second (issue 24)."""


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


def ratio_figures(
    *, batched: float, single: float, kafka_produce: float, postgres_rows: float, floor: float
) -> list[Figure]:
    by_batches = batched / single if single else float("nan")
    return [
        Figure(
            "ledger: batches / one transaction per message",
            by_batches,
            "x",
            f"{batched:,.0f} against {single:,.0f} deposits/s; target at least "
            f"{TARGET_RATIO}x: {_verdict(by_batches >= TARGET_RATIO)}",
        ),
        Figure(
            "ledger: batches / the 15,000 tx/s target",
            100 * batched / TARGET_RATE,
            "%",
            f"target {TARGET_RATE:,} point transactions/s: {_verdict(batched >= TARGET_RATE)}",
        ),
        Figure(
            "a deposit's I/O alone / the 15,000 tx/s target",
            100 * floor / TARGET_RATE,
            "%",
            f"{floor:,.0f} deposits/s with no logic at all; "
            + (
                "the target is within the I/O's reach"
                if floor >= TARGET_RATE
                else "the target is beyond this machine's I/O, whatever the code"
            ),
        ),
        Figure(
            "ledger: batches / a deposit's I/O alone",
            100 * batched / floor,
            "%",
            "the share of the floor's rate the ledger reaches with its validation, "
            "domain rules and envelopes",
        ),
        Figure(
            "ledger: Kafka records written / raw produce rate",
            100 * RECORDS_WRITTEN_PER_DEPOSIT * batched / kafka_produce,
            "%",
            f"{RECORDS_WRITTEN_PER_DEPOSIT} records per deposit (result, "
            "PointTransactionCreated, BalanceChanged) against one aiokafka producer alone",
        ),
        Figure(
            "ledger: PostgreSQL rows written / batched insert rate",
            100 * ROWS_PER_DEPOSIT * batched / postgres_rows,
            "%",
            f"{ROWS_PER_DEPOSIT} rows per deposit (inbox, transaction, 2 postings, balance, "
            "3 outbox) against 500-row INSERTs of one narrow table",
        ),
    ]


def pair_ratio(*, pairs: float, deposits: float) -> Figure:
    """The two-phase path against deposits: a pair is two commands, a deposit one."""
    ratio = pairs / deposits if deposits else float("nan")
    return Figure(
        "ledger: hold-then-commit pairs / deposits",
        100 * ratio,
        "%",
        f"{pairs:,.0f} pairs/s against {deposits:,.0f} deposits/s; target at least "
        f"{100 * PAIR_TARGET:.0f}%: {_verdict(ratio >= PAIR_TARGET)}",
    )
