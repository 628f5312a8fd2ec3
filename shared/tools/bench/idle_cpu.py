"""What an idle system costs: the four services' CPU time while nothing is sent to them.

Read from ``/proc/<pid>/stat`` (user and system time of each service process) at the
start and the end of a quiet window, after the services have settled (their consumers
joined, their first relay passes done). Reported as a percentage of one core, the four
together and each alone. ``python -m shared.tools.bench.idle_cpu`` measures it alone
(the test stack's servers, a scratch system, ~40 s); ``make bench`` measures it on the
latency run's system before the first checkout, which then shows whether the first
message after a pause waits.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path

from shared.tools.bench.report import Figure, render_table
from shared.tools.bench.servers import Scratch, announce, find_servers, remove
from shared.tools.bench.system import System, start

SETTLE_S = 5.0
WINDOW_S = 20.0
TARGET_PERCENT = 2.0
"""The four idle services together, at most, in % of one core (issue: rest when idle)."""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])  # utime and stime, fields 14 and 15
    return (user + system) / os.sysconf("SC_CLK_TCK")


async def measure(
    pids: Mapping[str, int], settle_s: float = SETTLE_S, window_s: float = WINDOW_S
) -> list[Figure]:
    await asyncio.sleep(settle_s)
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.monotonic()
    await asyncio.sleep(window_s)
    elapsed = time.monotonic() - began
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    each = ", ".join(f"{name} {100 * s / elapsed:.2f}%" for name, s in spent.items())
    together = 100 * sum(spent.values()) / elapsed
    met = "met" if together <= TARGET_PERCENT else "missed"
    return [
        Figure(
            f"idle CPU, {len(pids)} services together",
            together,
            "% of a core",
            f"{each}; over {elapsed:.0f} s with nothing sent; target at most "
            f"{TARGET_PERCENT:.0f}%: {met}",
        )
    ]


async def of_system(running: System) -> list[Figure]:
    return await measure({name: s.process.pid for name, s in running.services.items()})


async def main() -> int:
    servers = await asyncio.to_thread(find_servers)
    scratch = Scratch()
    announce("idle CPU", servers, scratch)
    try:
        running = await start(servers, scratch, {"STORECREDIT_LOG_LEVEL": "WARNING"})
        try:
            figures = await of_system(running)
        finally:
            await asyncio.to_thread(running.stop)
    finally:
        await remove(servers, scratch)
    print(render_table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
