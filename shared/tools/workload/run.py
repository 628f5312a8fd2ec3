"""Run a whole workload: set up its templates, play every journey, return the tally."""

from __future__ import annotations

import time

from shared.tools.platform_client import Platform
from shared.tools.workload.journeys import play, set_up
from shared.tools.workload.plan import plan
from shared.tools.workload.tally import Tally


async def run_workload(
    platform: Platform, *, seed: int, customers: int, concurrency: int, tag: str
) -> Tally:
    tally = Tally()
    started = time.monotonic()
    terms = await set_up(platform, tally, tag)
    await play(platform, tally, terms, plan(seed, customers, tag), concurrency)
    tally.seconds = time.monotonic() - started
    return tally
