"""What ``storecredit check`` prints: a block per violation for people, or one JSON
object per line for scripts (nothing at all when every invariant holds)."""

from __future__ import annotations

import json
from collections import Counter
from typing import TextIO

from shared.tools.invariants import topics
from shared.tools.invariants.model import Violation
from shared.tools.invariants.runner import CROSS_CHECKS, LOCAL_CHECKS, Outcome


def as_json_lines(outcome: Outcome, out: TextIO) -> None:
    for found in outcome.violations:
        print(json.dumps(found.as_json(), sort_keys=True), file=out)


def as_text(outcome: Outcome, settle_s: float, out: TextIO) -> None:
    for found in outcome.violations:
        print(block(found), file=out)
        print(file=out)
    print(summary(outcome, settle_s), file=out)


def block(found: Violation) -> str:
    ids = "  ".join(f"{name}={value}" for name, value in found.ids.items())
    return f"{found.name} [{' -> '.join(found.services)}]\n  {ids}\n  {found.message}"


def summary(outcome: Outcome, settle_s: float) -> str:
    settled = (
        f"; {outcome.settled} difference(s) between services settled within {settle_s:g} s"
        if outcome.settled
        else ""
    )
    if not outcome.violations:
        return f"No violations: every invariant holds{settled}."
    counts = Counter(v.name for v in outcome.violations)
    named = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    total = len(outcome.violations)
    return f"{total} violation{'s' if total != 1 else ''} ({named}){settled}."


def catalogue() -> str:
    """Every violation name and what it means, one check per line."""
    lines = []
    for local in LOCAL_CHECKS:
        where = ", ".join(local.services)
        lines.append(f"{' / '.join(local.names)}  [{where}]\n    {local.describes}")
    for cross in CROSS_CHECKS:
        lines.append(
            f"{' / '.join(cross.names)}  [{cross.source} -> {cross.target}]\n    {cross.describes}"
        )
    lines.append(f"{' / '.join(topics.NAMES)}  [ledger -> ledger.balances]\n    {topics.DESCRIBES}")
    return "\n".join(lines)
