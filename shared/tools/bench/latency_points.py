"""The latency benchmark's numbers, pure (so unit-tested): the send schedule, the
percentile rule, and one offered rate's point from send and arrival times."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LOST_AFTER_S = 30.0
"""A checkout with no BalanceChanged this long after its send is lost: generous, 300
times the target, so a slow system shows as slow and only a stuck one as losing."""
PERCENTILES = (50, 95, 99)
TARGET_RATE = 200
TARGET_P99_MS = 100.0


@dataclass(frozen=True)
class LatencyPoint:
    """One offered rate's outcome; latencies in milliseconds (NaN when none arrived)."""

    offered_rate: int
    achieved_rate: float
    """Checkouts not lost per second, from the first send to the last BalanceChanged."""
    count: int
    """Checkouts sent."""
    p50_ms: float
    p95_ms: float
    p99_ms: float
    lost: int
    """No BalanceChanged within LOST_AFTER_S of the send (refused ones included)."""
    refused: int
    send_lag_ms: float
    """How far behind its schedule the latest send was: the sender's own delay."""
    round_trips: dict[str, float] = field(default_factory=dict)
    """Per service, its exchanges with its database while this rate ran, per checkout
    answered (the relay's passes and the periodic jobs included)."""


def percentile(values: Sequence[float], p: int) -> float:
    """Nearest rank: the smallest value with at least ``p`` percent of values at or below
    it, i.e. the ``ceil(p/100 * n)``-th smallest (1-based). Always a measured value,
    never an interpolation; NaN for no values."""
    if not 0 < p <= 100:
        raise ValueError(f"a percentile is in (0, 100], not {p}")
    if not values:
        return math.nan
    rank = -(-p * len(values) // 100)  # ceil(p * n / 100) in integers: no rounding error
    return sorted(values)[rank - 1]


def send_offsets(rate: int, seconds: float) -> list[float]:
    """When each checkout is due, in seconds from the start: ``rate * seconds`` of them
    (rounded), evenly ``1/rate`` apart, the first at once."""
    if rate <= 0 or seconds <= 0:
        raise ValueError("the rate and the duration must be positive")
    return [number / rate for number in range(round(rate * seconds))]


def summarize(
    offered_rate: int,
    sent: dict[str, float],
    arrived: dict[str, float],
    refused: int,
    send_lag_s: float,
) -> LatencyPoint:
    """One rate's point from the send and arrival times (``perf_counter`` seconds) by
    correlation id; an arrival later than ``LOST_AFTER_S`` after its send counts as lost."""
    latencies = {
        key: arrived[key] - at
        for key, at in sent.items()
        if key in arrived and arrived[key] - at <= LOST_AFTER_S
    }
    in_ms = [seconds * 1000 for seconds in latencies.values()]
    span = max((arrived[key] for key in latencies), default=0.0) - min(sent.values(), default=0.0)
    p50, p95, p99 = (percentile(in_ms, p) for p in PERCENTILES)
    return LatencyPoint(
        offered_rate=offered_rate,
        achieved_rate=len(latencies) / span if latencies and span > 0 else 0.0,
        count=len(sent),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        lost=len(sent) - len(latencies),
        refused=refused,
        send_lag_ms=send_lag_s * 1000,
    )


ROUND_TRIP_TARGET = 30
"""Round trips to PostgreSQL per checkout, all services together (issue 24)."""


def round_trips_per_checkout(
    before: dict[str, int], after: dict[str, int], answered: int
) -> dict[str, float]:
    """Each service's exchanges between two scrapes, per checkout answered."""
    return {name: (after[name] - before.get(name, 0)) / max(answered, 1) for name in after}


FLOOR_RATIO_TARGET = 2.0
"""Checkout p99 against the hop floor's p99 at the same offered rate (issue 24)."""
ACHIEVED_TARGET = 0.99
"""Share of the offered rate achieved at TARGET_RATE (issue 24)."""


@dataclass(frozen=True)
class FloorRatio:
    """One offered rate: the checkouts' p99 over the floor's, and the share achieved."""

    offered_rate: int
    p99_ratio: float
    achieved_share: float

    @property
    def met(self) -> bool:
        achieved = self.offered_rate != TARGET_RATE or self.achieved_share >= ACHIEVED_TARGET
        return self.p99_ratio <= FLOOR_RATIO_TARGET and achieved


def floor_ratios(
    checkouts: Sequence[LatencyPoint], floors: Sequence[LatencyPoint]
) -> list[FloorRatio]:
    """Each rate measured both ways, in the checkouts' order."""
    by_rate = {floor.offered_rate: floor for floor in floors}
    ratios = []
    for point in checkouts:
        floor = by_rate.get(point.offered_rate)
        if floor is None:
            continue
        ratio = point.p99_ms / floor.p99_ms if floor.p99_ms > 0 else math.nan
        ratios.append(
            FloorRatio(point.offered_rate, ratio, point.achieved_rate / point.offered_rate)
        )
    return ratios
