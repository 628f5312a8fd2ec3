"""What a workload did: every answer counted by type, status and code, and the journeys'
outcomes, for the report and for a test to check."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from contracts.envelope import Actor, Message
from shared.tools.platform_client import Answer, Platform


@dataclass
class Tally:
    answers: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(command type, accepted/rejected, code or "") -> how many."""
    journeys_done: int = 0
    checked_out: int = 0
    cancelled: int = 0
    fulfilled: int = 0
    returns: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, command_type: str, answer: Answer) -> None:
        self.answers[(command_type, answer["status"], answer.get("code") or "")] += 1

    async def do(self, platform: Platform, key: str, command: Message, actor: Actor) -> Answer:
        answer = await platform.do(key, command, actor)
        self.count(command.message_type, answer)
        return answer

    @property
    def commands(self) -> int:
        return sum(self.answers.values())

    def lines(self) -> list[str]:
        """A readable report."""
        lines = [
            f"journeys done {self.journeys_done}, failed {len(self.failed)}; orders checked out "
            f"{self.checked_out}, cancelled {self.cancelled}, fulfilled {self.fulfilled}; "
            f"returns {dict(self.returns)}; commands answered {self.commands} "
            f"in {self.seconds:.1f}s",
        ]
        for (kind, status, code), count in sorted(self.answers.items()):
            lines.append(f"  {kind:<28} {status:<9} {code:<26} {count:>6}")
        lines += [f"  failed: {reason}" for reason in self.failed]
        return lines
