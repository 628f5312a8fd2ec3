"""Run 2 of the scale-out benchmark: two ledger instances in one consumer group, rebalanced
twice under load.

1. The first instance runs alone; deposits are topped up to keep WARM_BACKLOG of them
   unanswered, and the second instance is started. However fast the ledger is, it is
   busy while the second joins: a rebalance (6 -> 3+3) with work in flight.
2. Once those are answered, half the measured deposits are published at once, as in
   run 1, and answered by both: the rate of two instances.
3. The other half is published, and as soon as the first instance's own counter says
   it committed some of them, it is killed with SIGKILL: no leave-group, no offset
   commit, the rest of its partitions' deposits unread. Kafka hands its partitions to
   the second after the session timeout (3+3 -> 6), which reads again what the first
   had handled but not committed: the inbox must ignore those redeliveries.

The figure's rate is over all measured deposits, first to last accepted result, the
kill and the session timeout included. With a batch size as large as the first
instance's share of the second half, it may have handled all of it before the kill:
the notes then show no deposit answered after the reassignment (raise --commands).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from shared.tools.bench import ledger_process, outcomes
from shared.tools.bench.group_watch import GroupWatch, watching
from shared.tools.bench.ledger_process import LedgerProcess
from shared.tools.bench.ledger_rate import deposits, open_accounts, producing, reading_results
from shared.tools.bench.scale_runs import (
    POLL_S,
    Load,
    Run,
    Verdict,
    all_answered,
    deposit_outcomes,
    send,
    until,
    verdict,
)
from shared.tools.bench.servers import Servers

WARM_BACKLOG = 2_000
"""Deposits kept unanswered while the second instance starts and joins: more than the
ledger answers between two top-ups (POLL_S), with room for a batch of 500 in flight."""
REASSIGNED_WITHIN_S = 60.0
"""Kafka gives a killed member's partitions away after its session timeout (10 s)."""


@dataclass
class Rebalanced:
    """What happened in run 2, and when (``time.perf_counter()``)."""

    watch: GroupWatch
    warm: int = 0
    """Deposits sent before and while the second instance joined."""
    backlog_at_join: int = 0
    measured: list[str] = field(default_factory=list)
    """Command ids of the deposits published once both instances ran (both halves)."""
    killed_at: float | None = None
    backlog_at_kill: int = 0
    first: dict[str, int] = field(default_factory=dict)
    """The first instance's deposits by outcome (scraped just before it was killed)."""
    second: dict[str, int] = field(default_factory=dict)
    verdict: Verdict | None = None
    """On every deposit of the run."""
    measured_tally: outcomes.Tally | None = None
    """On the measured deposits: the figure's rate."""
    both_tally: outcomes.Tally | None = None
    """On the first half of them, answered by both instances."""


async def _top_up(
    producer: AIOKafkaProducer, run: Run, load: Load, accounts: list[str], stop: asyncio.Event
) -> None:
    """Keep WARM_BACKLOG deposits unanswered until ``stop`` (never cancelled in the middle
    of a send: every deposit counted as sent is on Kafka)."""
    for chunk in itertools.count():
        if stop.is_set():
            return
        missing = WARM_BACKLOG - load.unanswered()
        if missing > 0:
            tag = f"{run.scratch.name}-warm{chunk}"
            await send(producer, run, load, deposits(accounts, tag, missing))
        await asyncio.sleep(POLL_S)


async def _join_under_load(
    producer: AIOKafkaProducer,
    servers: Servers,
    run: Run,
    load: Load,
    accounts: list[str],
) -> tuple[LedgerProcess, int]:
    """Start the second instance while the first is busy; it and the backlog once it owns
    partitions (its readiness says so)."""
    stop = asyncio.Event()
    busy = asyncio.create_task(_top_up(producer, run, load, accounts, stop))
    second = run.launch(servers, "second")
    try:
        await ledger_process.wait_until_ready(second)
        return second, load.unanswered()
    except BaseException:
        await asyncio.to_thread(second.stop)
        raise
    finally:
        stop.set()
        await busy


async def _kill_once_started(first: LedgerProcess, load: Load, happened: Rebalanced) -> None:
    """SIGKILL the first instance as soon as its counter moves (it has committed some of
    the second half; the rest of its partitions' share is unread), unless every deposit
    is answered first."""
    before = happened.first.get("accepted", 0)

    async def started() -> bool:
        happened.first = await deposit_outcomes(first)
        return load.done() or happened.first.get("accepted", 0) > before

    await until(started)
    if load.done():
        return
    first.process.kill()  # by its handle: only the process this run started
    await asyncio.to_thread(first.process.wait)
    happened.killed_at = time.perf_counter()
    happened.backlog_at_kill = load.unanswered()


async def _reassigned(happened: Rebalanced) -> None:
    """Wait (bounded) until the group has given the killed instance's partitions away, so
    the watch sees that rebalance even if the second needed none of them to finish."""
    killed_at = happened.killed_at
    if killed_at is None:
        return

    async def seen() -> bool:
        settled = happened.watch.settled_at()
        return settled is not None and settled > killed_at

    await until(seen, REASSIGNED_WITHIN_S)


async def _measure(
    producer: AIOKafkaProducer,
    run: Run,
    load: Load,
    accounts: list[str],
    commands: int,
    first: LedgerProcess,
    happened: Rebalanced,
) -> None:
    """Half the deposits answered by both, then the other half with the first killed."""
    measured = deposits(accounts, run.scratch.name, commands)
    half = await send(producer, run, load, measured[: commands // 2])
    await all_answered(load)
    happened.both_tally = outcomes.tally(half, load.results.by_command)
    happened.first = await deposit_outcomes(first)
    happened.measured = half + await send(producer, run, load, measured[commands // 2 :])
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_kill_once_started(first, load, happened))
        tasks.create_task(all_answered(load))
    await _reassigned(happened)
    happened.measured_tally = outcomes.tally(happened.measured, load.results.by_command)


async def two_instances(servers: Servers, run: Run, commands: int) -> Rebalanced:
    """Run 2; ``commands`` deposits are measured with both instances running."""
    first = run.launch(servers, "first")
    second: LedgerProcess | None = None
    try:
        async with watching(
            servers.bootstrap_servers, run.group, run.commands_topic, **servers.kafka
        ) as watch:
            happened = Rebalanced(watch)
            await ledger_process.wait_until_ready(first)
            prefix = run.scratch.topic_prefix
            async with reading_results(servers, prefix) as results, producing(servers) as p:
                accounts = await open_accounts(p, results, prefix, run.scratch.name)
                load = Load(results)
                second, happened.backlog_at_join = await _join_under_load(
                    p, servers, run, load, accounts
                )
                happened.warm = len(load.ids)
                await all_answered(load)
                await _measure(p, run, load, accounts, commands, first, happened)
            happened.second = await deposit_outcomes(second)
            if happened.killed_at is None:
                happened.first = await deposit_outcomes(first)
            happened.verdict = await verdict(second, run, load)
    finally:
        running = [p for p in (first, second) if p is not None]
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in running))
    return happened


def rate(happened: Rebalanced) -> float:
    """The measured deposits per second, first to last accepted result."""
    return happened.measured_tally.rate() if happened.measured_tally else float("nan")


def notes(happened: Rebalanced) -> str:
    """What happened, for the figure's notes."""
    watch, first, second = happened.watch, happened.first, happened.second
    said = [
        f"second joined with {happened.backlog_at_join:,} of {happened.warm:,} warm-up "
        f"deposits unanswered",
        f"both: {happened.both_tally.rate() if happened.both_tally else float('nan'):,.0f}/s "
        f"on the first half",
        f"first SIGKILLed with {happened.backlog_at_kill:,} unanswered"
        if happened.killed_at is not None
        else "first NOT killed: every deposit was answered first (raise --commands)",
        f"partitions {watch.history()} ({watch.rebalances} rebalances, {watch.members} members)",
        f"first accepted {first.get('accepted', 0):,}, second {second.get('accepted', 0):,} "
        f"and ignored {second.get('redelivery_ignored', 0):,} redelivered",
    ]
    settled, measured = watch.settled_at(), happened.measured_tally
    if happened.killed_at is not None and settled is not None and settled > happened.killed_at:
        late = measured.accepted_between(settled, float("inf")) if measured else 0
        said.append(
            f"partitions reassigned {settled - happened.killed_at:.1f} s after the kill, "
            f"{late:,} deposits answered only then"
        )
    return "; ".join(said)
