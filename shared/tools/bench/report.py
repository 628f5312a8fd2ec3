"""The benchmark's figures as one aligned table and as JSON: pure, so it is unit-tested."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

HEADINGS = ("measure", "value", "unit", "notes")


@dataclass(frozen=True)
class Figure:
    """One measured number, with what it counts and how it was measured."""

    measure: str
    value: float
    unit: str
    notes: str = ""


def format_value(value: float) -> str:
    """Thousands separated; one decimal below 100, where it still says something."""
    if abs(value) < 100 and value != int(value):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def render_table(figures: list[Figure]) -> str:
    """Columns padded to their widest cell; values right-aligned so magnitudes line up."""
    rows = [HEADINGS] + [(f.measure, format_value(f.value), f.unit, f.notes) for f in figures]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]

    def line(row: tuple[str, ...]) -> str:
        measure, value, unit, notes = row
        cells = [
            measure.ljust(widths[0]),
            value.rjust(widths[1]),
            unit.ljust(widths[2]),
            notes,
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def to_json(figures: list[Figure], context: dict[str, Any]) -> str:
    """The figures and the run's context (sizes, servers' settings), for a later comparison."""
    document = {"context": context, "figures": [asdict(figure) for figure in figures]}
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
