"""A seeded workload over the whole system: many customers at once through every flow,
with the four services as separate processes. Every journey ends, every command is
answered once, and what was checked out is fulfilled and what was returned is done."""

from __future__ import annotations

from shared.tools.invariants.runner import check
from shared.tools.platform_client import Platform
from shared.tools.workload.plan import plan
from shared.tools.workload.run import run_workload
from tests.e2e.conftest import System
from tests.random_refs import random_id

SEED, CUSTOMERS, CONCURRENCY = 7, 16, 8


def test_the_plan_is_the_same_for_the_same_seed() -> None:
    assert plan(SEED, CUSTOMERS, "t") == plan(SEED, CUSTOMERS, "t")
    assert plan(SEED, CUSTOMERS, "t") != plan(SEED + 1, CUSTOMERS, "t")


async def test_a_seeded_workload_runs_every_flow_to_its_end(system: System) -> None:
    tag = random_id("wl").replace("-", "")[-8:]
    customers = plan(SEED, CUSTOMERS, tag)
    async with Platform(system.settings) as platform:
        tally = await run_workload(
            platform, seed=SEED, customers=CUSTOMERS, concurrency=CONCURRENCY, tag=tag
        )
    assert tally.failed == [], "\n".join(tally.lines())
    assert tally.journeys_done == CUSTOMERS
    planned_orders = [o for c in customers for o in c.orders]
    assert tally.cancelled == sum(not o.checkout for o in planned_orders)
    # Every cart meant to be paid was checked out and its auto items fulfilled (a spend
    # larger than the wallet holds is refused before the cart, never at checkout).
    assert tally.checked_out == sum(o.checkout for o in planned_orders), "\n".join(tally.lines())
    assert tally.fulfilled == tally.checked_out
    assert set(tally.returns) <= {"completed"}, tally.returns
    outcome = await check(system.settings, settle_s=10.0)
    assert outcome.violations == [], outcome.violations
    rejected = {key: n for key, n in tally.answers.items() if key[1] == "rejected"}
    assert set(rejected) <= {("CreatePointTransaction", "rejected", "insufficient_funds")}, (
        "\n".join(tally.lines())
    )
