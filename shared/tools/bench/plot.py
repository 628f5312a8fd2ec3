"""The latency benchmark as a picture: p50, p95 and p99 against the offered rate, with
the target line (p99 at most 100 ms at 200 checkouts per second).

Matplotlib's object interface on the Agg canvas: no pyplot, so no global figure state
and no display backend is ever chosen, on a server or in a test. The latency axis is
logarithmic: a system past its limit is seconds behind, and tens of milliseconds must
still be readable beside that.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shared.tools.bench.latency_points import TARGET_P99_MS, TARGET_RATE, LatencyPoint

SERIES = (("p50_ms", "p50", "o-"), ("p95_ms", "p95", "s-"), ("p99_ms", "p99", "^-"))


def write_png(points: list[LatencyPoint], path: Path) -> None:
    """One PNG at ``path``; rates with no latency (every checkout lost) are left out of
    the lines and marked as lost."""
    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    ordered = sorted(points, key=lambda point: point.offered_rate)
    for attribute, label, style in SERIES:
        shown = [p for p in ordered if not math.isnan(getattr(p, attribute))]
        axes.plot(
            [p.offered_rate for p in shown],
            [getattr(p, attribute) for p in shown],
            style,
            label=label,
        )
    target = f"target: p99 at most {TARGET_P99_MS:.0f} ms at {TARGET_RATE}/s"
    axes.axhline(TARGET_P99_MS, color="red", linestyle="--", label=target)
    axes.axvline(TARGET_RATE, color="red", linestyle=":", linewidth=1)
    for point in ordered:
        if point.lost:
            height = TARGET_P99_MS if math.isnan(point.p99_ms) else point.p99_ms
            axes.annotate(
                f"{point.lost:,} lost",
                (point.offered_rate, height),
                textcoords="offset points",
                xytext=(0, -12),
                ha="center",
                va="top",
                fontsize=8,
                color="red",
            )
    axes.set_yscale("log")
    axes.set_xlim(0, max((p.offered_rate for p in ordered), default=TARGET_RATE) * 1.1)
    axes.set_xlabel("offered load (checkouts/s)")
    axes.set_ylabel("checkout to BalanceChanged (ms)")
    axes.set_title("End-to-end latency against offered load")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.savefig(path, format="png")
