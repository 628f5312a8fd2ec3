"""Scale-out of the ledger (issue 9): the deposit rate with one instance, then with two
in one consumer group rebalanced twice under load, and the ledger's invariants after.

``ledger.commands`` has 6 partitions; instances with the same topic prefix share one
consumer group, so Kafka splits the partitions between them. Run 1 publishes the
deposits at once to one instance. Run 2 (``shared.tools.bench.rebalance``) starts a second
instance while the first is busy (6 -> 3+3), publishes the same number of deposits
in two halves, and kills the first with SIGKILL early in the second (3+3 -> 6 after
the session timeout, its uncommitted work read again by the second).
After each run every deposit must have exactly one outcome, accepted (a result
delivered twice is allowed), and ``storecredit check``'s ledger checks must pass.

Each run has a database and topics of its own (named after the caller's scratch,
which removes them), so neither mixes with the other or with ``ledger_rate``. On a
machine with few cores two processes may well not be faster than one: the figures
say what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path

from shared.tools.bench import ledger_process, outcomes, rebalance
from shared.tools.bench.ledger_invariants import check_names
from shared.tools.bench.ledger_rate import (
    ACCOUNTS,
    deposits,
    open_accounts,
    producing,
    reading_results,
)
from shared.tools.bench.report import Figure, render_table
from shared.tools.bench.scale_runs import Load, Run, Verdict, all_answered, prepare, send, verdict
from shared.tools.bench.servers import Scratch, Servers, announce, find_servers, remove


async def _one_instance(servers: Servers, run: Run, commands: int) -> Verdict:
    ledger = run.launch(servers, "only")
    try:
        await ledger_process.wait_until_ready(ledger)
        prefix = run.scratch.topic_prefix
        async with reading_results(servers, prefix) as results, producing(servers) as producer:
            accounts = await open_accounts(producer, results, prefix, run.scratch.name)
            load = Load(results)
            await send(producer, run, load, deposits(accounts, run.scratch.name, commands))
            await all_answered(load)
        return await verdict(ledger, run, load)
    finally:
        await asyncio.to_thread(ledger.stop)


def _found(found: Verdict) -> str:
    named = Counter(v.name for v in found.violations)
    return ", ".join(f"{name} {count}" for name, count in sorted(named.items())) or "none"


def _figures(commands: int, alone: Verdict, happened: rebalance.Rebalanced) -> list[Figure]:
    together = happened.verdict
    assert together is not None
    spread = f"{commands:,} deposits over {ACCOUNTS:,} accounts"
    return [
        Figure(
            "ledger, 1 instance",
            alone.tally.rate(),
            "commands/s",
            f"{spread}; {outcomes.describe(alone.tally)}; database violations: "
            f"{_found(alone)}; first to last accepted result",
        ),
        Figure(
            "ledger, 2 instances (rebalance mid-run)",
            rebalance.rate(happened),
            "commands/s",
            f"{spread}, first to last accepted, the kill included; {rebalance.notes(happened)}",
        ),
        Figure(
            "invariants after the rebalance",
            together.count,
            "violations",
            f"every deposit of run 2: {outcomes.describe(together.tally)}; database: "
            f"{_found(together)}; checks: {', '.join(check_names())}; "
            f"run 1: {alone.count} violations",
        ),
    ]


async def measure(
    servers: Servers,
    scratch: Scratch,
    commands: int,
    settings: dict[str, str] | None = None,
) -> list[Figure]:
    """Run 1 (one ledger instance) and run 2 (two, rebalanced twice under load): the rate
    of each and the invariant violations after run 2 (0 expected). ``settings`` are extra
    environment variables of every ledger process launched."""
    logs = Path(tempfile.mkdtemp(prefix="storecredit-bench-scale-"))
    print(f"scale-out: ledger logs in {logs}", flush=True)
    first_run = await prepare(servers, scratch, "scale1", logs, settings)
    alone = await _one_instance(servers, first_run, commands)
    second_run = await prepare(servers, scratch, "scale2", logs, settings)
    happened = await rebalance.two_instances(servers, second_run, commands)
    return _figures(commands, alone, happened)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m shared.tools.bench.scale_out",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--commands", type=int, default=4_000, help="deposits measured per run")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable of every ledger process (repeatable), "
        "e.g. STORECREDIT_BATCH_SIZE=1",
    )
    return parser.parse_args(argv)


def settings_from(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs as a dict (a value may contain ``=``)."""
    settings = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise SystemExit(f"--setting wants NAME=VALUE, not {pair!r}")
        settings[name] = value
    return settings


async def main(args: argparse.Namespace) -> int:
    """Exit 1 when an invariant broke."""
    servers = await asyncio.to_thread(find_servers)
    scratch = Scratch()
    announce("scale-out", servers, scratch)
    try:
        figures = await measure(servers, scratch, args.commands, settings_from(args.setting))
    finally:
        await remove(servers, scratch)
    print(render_table(figures))
    return 1 if figures[-1].value else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
