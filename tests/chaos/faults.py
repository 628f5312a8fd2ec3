"""Faults injected while a workload runs, at seeded random moments: a service killed
with ``kill -9`` and started again, the Kafka broker restarted, PostgreSQL restarted,
and commands delivered again (the same message, and a client's late retry with the
same idempotency key). Each fault is timed until the system answers again."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from contracts.envelope import new_envelope
from contracts.ledger import OpenLedgerAccount
from shared.tools import stack
from shared.tools.demo.cast import ADMIN
from shared.tools.platform_client import Platform
from shared.tools.stack import kafka, postgres
from shared.tools.stack.profiles import Profile
from tests.processes import Service, wait_until_ready

KINDS = ("kill_service", "restart_kafka", "restart_postgres", "redeliver")


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str
    recovered_s: float
    """From the fault until every service is ready and a command is answered again."""


@dataclass
class Faults:
    draw: random.Random
    platform: Platform
    services: dict[str, Service]
    profile: Profile
    every_s: tuple[float, float]
    done: list[Fault] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Inject faults until ``stop`` is set: every kind once per round, in a seeded order,
        so even a short run meets each kind."""
        upcoming: list[str] = []
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.draw.uniform(*self.every_s))
            if stop.is_set():
                return
            if not upcoming:
                upcoming = self.draw.sample(KINDS, len(KINDS))
            kind = upcoming.pop()
            started = time.monotonic()
            target = await getattr(self, kind)()
            await self.recovered()
            self.done.append(Fault(kind, target, time.monotonic() - started))

    async def kill_service(self) -> str:
        service = self.services[self.draw.choice(sorted(self.services))]
        service.kill()
        await asyncio.sleep(self.draw.uniform(0.0, 2.0))
        service.restart()
        return service.name

    async def restart_kafka(self) -> str:
        root = stack.PROJECT_ROOT
        await asyncio.to_thread(kafka.stop, self.profile, root)
        await asyncio.sleep(self.draw.uniform(0.5, 3.0))
        await asyncio.to_thread(kafka.start, self.profile, root)
        return "kafka"

    async def restart_postgres(self) -> str:
        root = stack.PROJECT_ROOT
        await asyncio.to_thread(postgres.stop, self.profile, root)
        await asyncio.sleep(self.draw.uniform(0.5, 3.0))
        await asyncio.to_thread(postgres.start, self.profile, root)
        return "postgresql"

    async def redeliver(self) -> str:
        """Some commands sent earlier, again: half as the same message (a redelivery),
        half as a new message with the same idempotency key (a client's late retry)."""
        sent = [(key, e) for key, e in self.platform.sent if e.type != "CustomerCreated"]
        for key, envelope in self.draw.sample(sent, min(10, len(sent))):
            again = envelope
            if self.draw.random() < 0.5:
                again = new_envelope(
                    envelope.payload,
                    actor=envelope.actor,
                    idempotency_key=envelope.idempotency_key,
                    correlation_id=envelope.correlation_id,
                )
            await self.platform.publish_envelope(key, again)
        return f"{min(10, len(sent))} commands"

    async def recovered(self) -> None:
        """Every service ready, then a ledger command answered end to end."""
        await wait_until_ready(self.services)
        probe = f"probe-{self.draw.getrandbits(48):012x}"
        opening = OpenLedgerAccount(account_id=probe, unit="points:probe")
        await self.platform.do(probe, opening, ADMIN)

    def by_kind(self) -> Counter[str]:
        return Counter(fault.kind for fault in self.done)
