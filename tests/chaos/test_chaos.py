"""A seeded workload while services are killed, the broker and the database restarted,
and commands delivered twice and late; then nothing is lost and nothing applied twice.

``make test`` runs a short version; ``make chaos`` the long one (STORECREDIT_CHAOS=long):
minutes, thousands of operations, dozens of faults. Workload rounds go on until every
kind of fault has struck at least once during one. The report is printed either way.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

from shared.tools import stack
from shared.tools.invariants.runner import check
from shared.tools.platform_client import Platform
from shared.tools.workload.plan import plan
from shared.tools.workload.run import run_workload
from shared.tools.workload.tally import Tally
from tests.chaos.faults import KINDS, Faults
from tests.e2e.conftest import System

LONG = os.environ.get("STORECREDIT_CHAOS") == "long"
SEED = int(os.environ.get("STORECREDIT_CHAOS_SEED", "11"))
CUSTOMERS = 300 if LONG else 10
CONCURRENCY = 24 if LONG else 4
FAULT_EVERY_S = (3.0, 10.0) if LONG else (0.5, 2.0)
MAX_ROUNDS = 6
SETTLE_S = 15.0


async def test_a_workload_under_faults_loses_nothing_and_applies_nothing_twice(
    chaos_system: System,
) -> None:
    report: list[str] = []
    commands = 0
    started = time.monotonic()
    async with Platform(chaos_system.settings, answer_within_s=300.0) as platform:
        faults = Faults(
            random.Random(SEED),
            platform,
            chaos_system.services,
            stack.PROFILES["chaos"],
            FAULT_EVERY_S,
        )
        stop = asyncio.Event()
        injecting = asyncio.create_task(faults.run(stop))
        try:
            for round_ in range(MAX_ROUNDS):
                tag = f"chaos{SEED}r{round_}"
                tally = await run_workload(
                    platform,
                    seed=SEED + round_,
                    customers=CUSTOMERS,
                    concurrency=CONCURRENCY,
                    tag=tag,
                )
                commands += tally.commands
                report += [f"round {round_}:", *tally.lines()]
                check_round(tally, SEED + round_, tag, report)
                if set(faults.by_kind()) == set(KINDS):
                    break
        finally:
            stop.set()
            await injecting
        await faults.recovered()
    outcome = await check(chaos_system.settings, settle_s=SETTLE_S)
    report += [
        f"invariants: {len(outcome.violations)} violations "
        f"({outcome.suspects} differences in flight at the first look, {outcome.settled} settled)",
        *(f"  {v.name}: {v.message}" for v in outcome.violations[:50]),
    ]
    report[:0] = [
        f"chaos run: seed {SEED}, {commands} commands answered in "
        f"{time.monotonic() - started:.0f}s; faults {dict(faults.by_kind())}",
        *(
            f"  {fault.kind:<17} {fault.target:<14} recovered in {fault.recovered_s:5.1f}s"
            for fault in faults.done
        ),
    ]
    print("\n".join(report))
    assert set(faults.by_kind()) == set(KINDS), "\n".join(report)
    assert outcome.violations == [], "\n".join(report)


def check_round(tally: Tally, seed: int, tag: str, report: list[str]) -> None:
    """Every journey ended; every cart meant to be paid was, and was fulfilled once."""
    assert tally.failed == [], "\n".join(report)
    assert tally.journeys_done == CUSTOMERS
    planned = [o for c in plan(seed, CUSTOMERS, tag) for o in c.orders]
    assert tally.checked_out == sum(o.checkout for o in planned), "\n".join(report)
    assert tally.fulfilled == tally.checked_out, "\n".join(report)
    assert set(tally.returns) <= {"completed"}, "\n".join(report)
