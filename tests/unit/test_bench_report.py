"""The benchmark's report: one aligned table, and JSON carrying the same figures."""

from __future__ import annotations

import json

from shared.tools.bench.report import Figure, format_value, render_table, to_json

FIGURES = [
    Figure("kafka produce", 41_234.56, "msg/s", "50,000 x 593 B"),
    Figure("kafka produce bytes", 24.456, "MB/s", "values only"),
    Figure("ledger deposits (1 tx/message)", 63.04, "commands/s"),
]


def test_values_have_thousands_separators_and_a_decimal_only_when_small() -> None:
    assert format_value(41_234.56) == "41,235"
    assert format_value(24.456) == "24.5"
    assert format_value(7.0) == "7"
    assert format_value(1_000_000) == "1,000,000"


def test_the_table_has_headings_a_rule_and_one_line_per_figure() -> None:
    lines = render_table(FIGURES).splitlines()

    assert lines[0].split() == ["measure", "value", "unit", "notes"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 2 + len(FIGURES)
    assert lines[2].startswith("kafka produce ")
    assert "41,235" in lines[2] and "50,000 x 593 B" in lines[2]
    assert lines[4].rstrip().endswith("commands/s")  # no notes: no trailing spaces


def test_columns_line_up_and_values_are_right_aligned() -> None:
    lines = render_table(FIGURES).splitlines()
    value_ends = {
        line.index(value) + len(value)
        for line, value in zip(lines[2:], ["41,235", "24.5", "63.0"], strict=True)
    }
    unit_starts = {
        line.index(unit)
        for line, unit in zip(lines[2:], ["msg/s", "MB/s", "commands/s"], strict=True)
    }

    assert len(value_ends) == 1
    assert len(unit_starts) == 1
    assert lines[0].index("unit") in unit_starts


def test_json_holds_the_same_figures_and_the_context() -> None:
    document = json.loads(to_json(FIGURES, {"messages": 50_000}))

    assert document["context"] == {"messages": 50_000}
    assert [f["measure"] for f in document["figures"]] == [f.measure for f in FIGURES]
    assert document["figures"][0] == {
        "measure": "kafka produce",
        "value": 41_234.56,
        "unit": "msg/s",
        "notes": "50,000 x 593 B",
    }
