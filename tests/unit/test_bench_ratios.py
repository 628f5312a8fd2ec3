"""The ledger's rate against its targets and the raw limits of the same run."""

from __future__ import annotations

import pytest

from shared.tools.bench.ratios import pair_ratio, ratio_figures
from shared.tools.bench.report import Figure
from shared.tools.bench.storage import storage_figures


def by_measure(*, batched: float = 2_000, floor: float = 8_000) -> dict[str, Figure]:
    found = ratio_figures(
        batched=batched, single=100, kafka_produce=30_000, postgres_rows=80_000, floor=floor
    )
    return {f.measure: f for f in found}


def test_ratios_say_which_targets_were_met() -> None:
    figures = by_measure()
    by_batches = figures["ledger: batches / one transaction per message"]
    assert by_batches.value == 20 and by_batches.notes.endswith("met")
    target = figures["ledger: batches / the 15,000 tx/s target"]
    assert target.value == pytest.approx(13.33, abs=0.01) and target.notes.endswith("missed")
    assert figures["ledger: Kafka records written / raw produce rate"].value == 20
    assert figures["ledger: PostgreSQL rows written / batched insert rate"].value == 20
    floor = figures["a deposit's I/O alone / the 15,000 tx/s target"]
    assert floor.value == pytest.approx(53.33, abs=0.01)
    assert floor.notes.endswith("beyond this machine's I/O, whatever the code")
    assert figures["ledger: batches / a deposit's I/O alone"].value == 25


def test_a_floor_above_the_target_says_the_target_is_within_reach() -> None:
    floor = by_measure(floor=20_000)["a deposit's I/O alone / the 15,000 tx/s target"]
    assert floor.notes.endswith("within the I/O's reach")


def test_a_ratio_under_ten_times_is_missed() -> None:
    by_batches = by_measure(batched=900)["ledger: batches / one transaction per message"]
    assert by_batches.value == 9 and by_batches.notes.endswith("missed")


def test_the_two_phase_path_is_set_against_deposits() -> None:
    met = pair_ratio(pairs=1_000, deposits=1_600)
    assert met.value == 62.5 and met.notes.endswith("met")
    missed = pair_ratio(pairs=200, deposits=2_000)
    assert missed.value == 10 and missed.notes.endswith("missed")


def test_storage_is_counted_per_command_with_its_bounded_part() -> None:
    before = {"database": 8_000_000, "inbox": 0, "outbox": 0, "postings": 0}
    after = {"database": 10_000_000, "inbox": 400_000, "outbox": 600_000, "postings": 300_000}
    per_command, size = storage_figures(before, after, 1_000, " (batches)")
    assert per_command.measure == "ledger storage per command (batches)"
    assert per_command.value == 2_000
    assert "inbox 400, outbox 600, postings 300" in per_command.notes
    assert "of which 1,000 bytes (inbox, outbox) are pruned" in per_command.notes
    assert (size.value, size.unit) == (10, "MB")
