"""What both runs of the scale-out benchmark share: a run's own database and topics, the
deposits it sent and their answers, and the verdict on the ledger afterwards."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from contracts.ledger import CreatePointTransaction
from contracts.topics import LEDGER_COMMANDS
from shared.tools.bench import ledger_process, outcomes
from shared.tools.bench.ledger_invariants import ledger_violations
from shared.tools.bench.ledger_process import LedgerProcess
from shared.tools.bench.ledger_rate import Keyed, Results, publish, wait_until_counted
from shared.tools.bench.scrape import command_outcomes, scrape, unpublished_rows
from shared.tools.bench.servers import Scratch, Servers
from shared.tools.invariants.model import Violation
from shared.tools.invariants.report import block

POLL_S = 0.1
DRAIN_WITHIN_S = 60.0
DEPOSIT = CreatePointTransaction.message_type


@dataclass(frozen=True)
class Run:
    """One run's scratch names, ledger database, log directory and process settings."""

    scratch: Scratch
    url: str
    logs: Path
    settings: dict[str, str] | None

    @property
    def commands_topic(self) -> str:
        return f"{self.scratch.topic_prefix}{LEDGER_COMMANDS.name}"

    @property
    def group(self) -> str:
        """The ledger's command consumer group, as ``shared.runtime.command_consumer`` names it."""
        return f"{self.scratch.topic_prefix}storecredit-ledger"

    def launch(self, servers: Servers, name: str) -> LedgerProcess:
        log = self.logs / f"{self.scratch.name}-{name}.log"
        return ledger_process.launch(servers, self.scratch, self.url, log, self.settings)


async def prepare(
    servers: Servers, scratch: Scratch, purpose: str, logs: Path, settings: dict[str, str] | None
) -> Run:
    """A fresh ledger database and topics of the run's own (so no earlier result or
    offset mixes in); the caller's scratch removes them."""
    own = Scratch(name=f"{scratch.name}_{purpose}")
    try:
        url = await ledger_process.prepare_ledger(servers, own)
    finally:
        scratch.databases.extend(own.databases)
        scratch.topics.extend(own.topics)
    return Run(own, url, logs, settings)


@dataclass
class Load:
    """Every deposit a run sent, and the results read so far."""

    results: Results
    sent: Keyed = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    _unanswered: set[str] = field(default_factory=set, init=False, repr=False)

    def add(self, sent: Keyed) -> list[str]:
        """Count these deposits as sent; their command ids."""
        ids = [str(envelope.message_id) for _, envelope in sent]
        self.sent += sent
        self.ids += ids
        self._unanswered.update(ids)
        return ids

    def unanswered(self) -> int:
        """Deposits without a result yet (only those not answered at the last call are
        looked at again, so polling it often is cheap)."""
        answers = self.results.by_command
        self._unanswered = {i for i in self._unanswered if i not in answers}
        return len(self._unanswered)

    def answered(self) -> int:
        return len(self.ids) - self.unanswered()

    def done(self) -> bool:
        return self.unanswered() == 0

    def deposited(self) -> int:
        return sum(
            e.payload.amount for _, e in self.sent if isinstance(e.payload, CreatePointTransaction)
        )


async def send(producer: AIOKafkaProducer, run: Run, load: Load, sent: Keyed) -> list[str]:
    """Publish deposits (every one acknowledged by Kafka); their command ids."""
    ids = load.add(sent)
    await publish(producer, run.commands_topic, sent)
    return ids


async def all_answered(load: Load) -> None:
    await wait_until_counted(load.answered, len(load.ids), "deposits answered")


async def until(condition: Callable[[], Awaitable[bool]], within_s: float = float("inf")) -> bool:
    """Poll ``condition`` until it holds (True) or ``within_s`` passed (False)."""
    deadline = time.perf_counter() + within_s
    while not await condition():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def deposit_outcomes(ledger: LedgerProcess) -> dict[str, int]:
    """The deposits this process handled, by outcome, from its own ``/metrics``."""
    return dict(command_outcomes(await asyncio.to_thread(scrape, ledger.port), DEPOSIT))


@dataclass(frozen=True)
class Verdict:
    tally: outcomes.Tally
    """Every deposit of the run."""
    violations: list[Violation]
    """What the ledger database breaks."""

    @property
    def count(self) -> int:
        return len(self.violations) + self.tally.violations


async def verdict(live: LedgerProcess, run: Run, load: Load) -> Verdict:
    """Once the outbox is sent (``live``'s gauge counts the whole table), check the ledger
    database; each violation is printed to stderr as ``storecredit check`` prints it."""

    async def drained() -> bool:
        text = await asyncio.to_thread(scrape, live.port)
        return unpublished_rows(text) == 0

    await until(drained, DRAIN_WITHIN_S)  # if not, the outbox check reports what is left
    found = await ledger_violations(run.url, len(load.ids), load.deposited())
    for violation in found:
        print(block(violation), file=sys.stderr)
    return Verdict(outcomes.tally(load.ids, load.results.by_command), found)
