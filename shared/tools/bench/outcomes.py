"""What the results on ``ledger.command-results`` say about the commands of one run: pure,
so it is unit-tested.

Kafka and the outbox relay deliver at least once, so a result may arrive twice
(a relay killed between publishing a row and marking it sent publishes it again):
that is allowed. What is not: a command with no result, a deposit refused, or one
command answered both ways (handled twice, the inbox having failed to notice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ACCEPTED = "accepted"

Arrival = tuple[float, str]
"""When a result was read, and its status (as ``shared.tools.bench.ledger_rate`` records them)."""


@dataclass(frozen=True)
class Tally:
    """The outcome of every command sent, judged from the results read."""

    sent: int
    accepted: int
    """Commands whose every result says accepted."""
    rejected: int
    """Commands whose every result says something else."""
    conflicting: int
    """Commands answered more than one way."""
    repeated_results: int
    """Results beyond the first for one command, agreeing with it (at-least-once)."""
    first_accepted_at: tuple[float, ...]
    """When each accepted command's first result arrived, in order."""

    @property
    def unanswered(self) -> int:
        return self.sent - self.accepted - self.rejected - self.conflicting

    @property
    def violations(self) -> int:
        """Commands without exactly one outcome, accepted (every deposit should be)."""
        return self.sent - self.accepted

    def accepted_between(self, start: float, end: float) -> int:
        return sum(1 for at in self.first_accepted_at if start <= at <= end)

    def rate(self) -> float:
        """Commands accepted per second, from the first accepted result to the last
        command's first one (NaN with fewer than two)."""
        if len(self.first_accepted_at) < 2:
            return float("nan")
        span = self.first_accepted_at[-1] - self.first_accepted_at[0]
        return len(self.first_accepted_at) / span if span > 0 else float("nan")


def tally(sent: Iterable[str], answers: Mapping[str, Sequence[Arrival]]) -> Tally:
    """The outcome of each command id in ``sent``; results of other commands are ignored."""
    count = accepted = rejected = conflicting = repeated = 0
    firsts: list[float] = []
    for command_id in sent:
        count += 1
        arrivals = answers.get(command_id, ())
        statuses = {status for _, status in arrivals}
        if not statuses:
            continue
        if len(statuses) > 1:
            conflicting += 1
            continue
        repeated += len(arrivals) - 1
        if statuses == {ACCEPTED}:
            accepted += 1
            firsts.append(min(at for at, _ in arrivals))
        else:
            rejected += 1
    return Tally(count, accepted, rejected, conflicting, repeated, tuple(sorted(firsts)))


def answered(sent: Iterable[str], answers: Mapping[str, Sequence[Arrival]]) -> int:
    """How many of the commands have at least one result (what a run waits for)."""
    return sum(1 for command_id in sent if answers.get(command_id))


def describe(result: Tally) -> str:
    """One line for a figure's notes."""
    line = f"{result.accepted:,} of {result.sent:,} accepted once"
    problems = [
        f"{result.unanswered:,} unanswered" if result.unanswered else "",
        f"{result.rejected:,} rejected" if result.rejected else "",
        f"{result.conflicting:,} answered both ways" if result.conflicting else "",
    ]
    shown = ", ".join(p for p in problems if p)
    repeated = f", {result.repeated_results:,} result(s) delivered again (allowed)"
    return line + (f", {shown}" if shown else "") + (repeated if result.repeated_results else "")
