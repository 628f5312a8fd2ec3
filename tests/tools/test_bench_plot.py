"""The benchmark's latency plot (matplotlib, Agg): a PNG of the set size, also when a
rate lost every checkout. Apart from the unit tests, which run without the plotting
library (``make unit``)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from shared.tools.bench.plot import write_png
from tests.unit.test_bench_latency import point


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_plot_is_a_png_of_the_set_size(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"
    points = [point(25, 20.0, 30.0, 40.0), point(50, 25.0, 45.0, 70.0)]
    points.append(point(200, 900.0, 4000.0, 5200.0, lost=12))

    write_png(points, path)

    assert _png_size(path) == (800, 500)


def test_the_plot_is_written_when_a_rate_lost_everything(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"
    nothing = point(200, math.nan, math.nan, math.nan, lost=2000)

    write_png([point(25, 20.0, 30.0, 40.0), nothing], path)

    assert _png_size(path) == (800, 500)
