"""The latency benchmark's pure parts: the percentile rule, the send schedule, one rate's
point from send and arrival times, its figures, and the plot written as a real PNG."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from shared.tools.bench import hops_floor
from shared.tools.bench.latency import figures
from shared.tools.bench.latency_points import (
    LOST_AFTER_S,
    LatencyPoint,
    floor_ratios,
    percentile,
    round_trips_per_checkout,
    send_offsets,
    summarize,
)
from shared.tools.bench.scrape import database_round_trips


def point(rate: int, p50: float, p95: float, p99: float, lost: int = 0) -> LatencyPoint:
    return LatencyPoint(
        offered_rate=rate,
        achieved_rate=rate * 0.98,
        count=rate * 10,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        lost=lost,
        refused=0,
        send_lag_ms=1.5,
    )


# --- percentiles: nearest rank ---------------------------------------------------------------


def test_nearest_rank_is_the_ceil_of_p_percent_of_n_th_smallest_value() -> None:
    values = [50.0, 15.0, 40.0, 35.0, 20.0]  # unsorted on purpose

    assert percentile(values, 5) == 15.0  # rank ceil(0.25) = 1
    assert percentile(values, 30) == 20.0  # rank ceil(1.5) = 2
    assert percentile(values, 40) == 20.0  # rank exactly 2: not the next one
    assert percentile(values, 50) == 35.0  # rank ceil(2.5) = 3
    assert percentile(values, 100) == 50.0


def test_a_percentile_is_always_a_measured_value_never_an_interpolation() -> None:
    values = [float(v) for v in range(1, 1001)]

    assert percentile(values, 50) == 500.0
    assert percentile(values, 95) == 950.0
    assert percentile(values, 99) == 990.0
    assert percentile([10.0, 20.0], 50) == 10.0  # no 15: nothing took 15 ms


def test_the_rank_has_no_floating_point_error() -> None:
    # 0.55 * 100 in floats is 55.00000000000001, whose ceiling is 56; the rank is 55.
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 55) == 55.0


def test_one_value_is_every_percentile_and_no_value_is_nan() -> None:
    assert [percentile([7.0], p) for p in (1, 50, 99, 100)] == [7.0] * 4
    assert math.isnan(percentile([], 99))


@pytest.mark.parametrize("p", [0, -5, 101])
def test_a_percentile_outside_0_to_100_is_refused(p: int) -> None:
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], p)


# --- the schedule ----------------------------------------------------------------------------


def test_checkouts_are_due_evenly_one_over_the_rate_apart_starting_at_once() -> None:
    assert send_offsets(4, 1.0) == [0.0, 0.25, 0.5, 0.75]


def test_the_schedule_holds_rate_times_seconds_checkouts_within_the_duration() -> None:
    offsets = send_offsets(200, 10.0)

    assert len(offsets) == 2000
    assert offsets[-1] < 10.0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert gaps == {0.005}


@pytest.mark.parametrize(("rate", "seconds"), [(0, 10.0), (-1, 10.0), (25, 0.0)])
def test_a_schedule_needs_a_positive_rate_and_duration(rate: int, seconds: float) -> None:
    with pytest.raises(ValueError):
        send_offsets(rate, seconds)


# --- one rate's point ------------------------------------------------------------------------


def test_a_point_counts_late_and_missing_arrivals_as_lost() -> None:
    sent = {"a": 100.0, "b": 100.5, "c": 101.0, "d": 101.5}
    arrived = {
        "a": 100.040,  # 40 ms
        "b": 100.560,  # 60 ms
        "c": 101.0 + LOST_AFTER_S + 1,  # came, but after the deadline: lost
        "other": 100.1,  # another rate's checkout: ignored
    }  # "d" never came: lost

    found = summarize(50, sent, arrived, refused=1, send_lag_s=0.002)

    assert found.count == 4
    assert found.lost == 2
    assert found.refused == 1
    assert found.p50_ms == pytest.approx(40.0)
    assert found.p99_ms == pytest.approx(60.0)
    assert found.achieved_rate == pytest.approx(2 / 0.560)  # first send to last arrival
    assert found.send_lag_ms == pytest.approx(2.0)


def test_a_rate_with_nothing_arrived_has_nan_latencies_and_no_achieved_rate() -> None:
    found = summarize(25, {"a": 1.0, "b": 1.04}, {}, refused=0, send_lag_s=0.0)

    assert found.lost == 2
    assert math.isnan(found.p50_ms) and math.isnan(found.p99_ms)
    assert found.achieved_rate == 0.0


# --- figures ---------------------------------------------------------------------------------


def test_three_figures_per_rate_and_the_target_judged_at_200_per_second() -> None:
    found = figures([point(25, 20.0, 30.0, 40.0), point(200, 60.0, 90.0, 150.0)], 10.0)

    assert [f.unit for f in found] == ["ms"] * 6
    assert found[0].measure == "checkout to BalanceChanged p50, 25/s"
    assert "250 checkouts offered at 25/s for 10 s" in found[0].notes
    assert found[5].measure == "checkout to BalanceChanged p99, 200/s"
    assert found[5].value == 150.0
    assert found[5].notes.endswith("missed")
    met = figures([point(200, 20.0, 40.0, 90.0)], 10.0)
    assert met[2].notes.endswith("met")
    lost = figures([point(200, 20.0, 40.0, 90.0, lost=3)], 10.0)
    assert lost[2].notes.endswith("missed")  # fast, but not every checkout arrived


# --- the plot --------------------------------------------------------------------------------


def test_the_hops_floor_says_whether_it_is_under_the_target() -> None:
    *_, within = hops_floor.figures(point(200, 20.0, 40.0, 51.0), 10)
    *_, beyond = hops_floor.figures(point(200, 20.0, 40.0, 140.0), 10)
    assert within.measure == "3 hops alone (floor), 200/s p99" and within.value == 51.0
    assert within.notes == "under the 100 ms target with no logic at all"
    assert beyond.notes == "over the 100 ms target with no logic at all"


# --- round trips to the database per checkout ------------------------------------------------


def test_round_trips_are_counted_per_checkout_answered_and_set_against_the_target() -> None:
    before = {"ledger": 100, "order": 50}
    after = {"ledger": 1_100, "order": 2_050}
    trips = round_trips_per_checkout(before, after, answered=100)
    assert trips == {"ledger": 10.0, "order": 20.0}
    found = figures([replace(point(25, 10, 20, 30), round_trips=trips)], 10)
    (figure,) = [f for f in found if f.measure.startswith("database round trips")]
    assert figure.measure == "database round trips per checkout, 25/s"
    assert figure.value == 30 and figure.notes.startswith("ledger 10.0, order 20.0")
    assert figure.notes.endswith("target at most 30: met")
    over = replace(point(25, 10, 20, 30), round_trips={"order": 30.5})
    assert figures([over], 10)[-1].notes.endswith("missed")
    assert not [f for f in figures([point(25, 10, 20, 30)], 10) if "round trips" in f.measure]


def test_the_round_trip_counter_is_read_from_the_metrics_text() -> None:
    text = (
        "# HELP storecredit_database_round_trips_total Exchanges.\n"
        "# TYPE storecredit_database_round_trips_total counter\n"
        'storecredit_database_round_trips_total{service="ledger"} 42.0\n'
        'storecredit_database_round_trips_created{service="ledger"} 1.7e9\n'
    )
    assert database_round_trips(text) == 42
    assert database_round_trips("") == 0


def test_checkouts_are_set_against_the_floor_at_each_rate_they_share() -> None:
    checkouts = [point(100, 10, 20, 300), point(200, 10, 20, 150)]
    floors = [point(200, 5, 10, 100), point(100, 5, 10, 100), point(50, 5, 10, 10)]
    at_100, at_200 = floor_ratios(checkouts, floors)
    assert (at_100.offered_rate, at_100.p99_ratio, at_100.met) == (100, 3.0, False)
    assert (at_200.p99_ratio, at_200.achieved_share) == (1.5, 0.98)
    assert not at_200.met  # within twice the floor, but 98% achieved at 200/s
    fast_enough = replace(point(200, 10, 20, 150), achieved_rate=199.0)
    assert floor_ratios([fast_enough], floors)[0].met
