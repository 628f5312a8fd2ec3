"""How a story tells what happens: steps and tables for a person, or nothing for a test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Narrator(Protocol):
    def story(self, title: str, summary: str) -> None: ...

    def step(self, text: str) -> None: ...

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None: ...


class Silent:
    """Keeps what was told (a test may look), prints nothing."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def story(self, title: str, summary: str) -> None:
        self.lines.append(title)

    def step(self, text: str) -> None:
        self.lines.append(text)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.lines.extend(render_table(headers, rows))


class Console:
    """Prints each story's title, its steps and its tables."""

    def __init__(self) -> None:
        self.stories = 0

    def story(self, title: str, summary: str) -> None:
        self.stories += 1
        heading = f"{self.stories}. {title}"
        print(f"\n{heading}\n{'=' * len(heading)}\n{summary}\n", flush=True)

    def step(self, text: str) -> None:
        print(f"  - {text}", flush=True)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        print("", *(f"      {line}" for line in render_table(headers, rows)), "", sep="\n")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Aligned columns; numbers to the right."""
    cells = [[_text(value) for value in row] for row in rows]
    widths = [
        max(len(headers[i]), *(len(row[i]) for row in cells)) if cells else len(headers[i])
        for i in range(len(headers))
    ]
    numeric = [_numeric([row[i] for row in rows]) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(widths[i]) if numeric[i] else value.ljust(widths[i])
            for i, value in enumerate(values)
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in cells)]


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric(column: list[object]) -> bool:
    """A column of numbers (or blanks) is right-aligned."""
    values = [value for value in column if value is not None and value != "-"]
    return bool(values) and all(
        (isinstance(value, int) and not isinstance(value, bool)) or _is_amount(value)
        for value in values
    )


def _is_amount(value: object) -> bool:
    return isinstance(value, str) and value.replace(",", "").replace(".", "").lstrip("-").isdigit()


def money(minor_units: int | None, currency: str = "USD") -> str:
    """Minor units as a decimal amount: 5495 -> 54.95 (two-decimal currencies only)."""
    if minor_units is None:
        return "-"
    sign = "-" if minor_units < 0 else ""
    whole, cents = divmod(abs(minor_units), 100)
    return f"{sign}{whole:,}.{cents:02d}"
