"""``python -m shared.tools.bench``: measure, print one table, write the same figures as JSON
and the latency plot as PNG.

On the same machine in the same run: the raw limits (aiokafka produce and consume,
PostgreSQL inserts batched, by COPY and one per commit; a deposit's I/O alone, with no
logic: the ceiling of any ledger that keeps the brief's guarantees; a checkout's three
hops alone at the target rate, the latency floor); end-to-end checkout latency at
fixed offered rates through the four services; the ledger's deposit rate as a
process, with one transaction per message (``STORECREDIT_BATCH_SIZE=1``) and with
batches (the default); their ratio and the targets; the ledger scaled out to two
instances across rebalances, then checked. Latency is measured before the ledger's
heavy runs, and each part starts after a CHECKPOINT, so none pays for what an earlier
one wrote; the table shows the latency figures last, beside their floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.tools.bench import (
    hops_floor,
    io_floor,
    kafka_limits,
    latency,
    ledger_process,
    ledger_rate,
    postgres_limits,
    scale_out,
    scale_runs,
    storage,
)
from shared.tools.bench.latency_points import (
    ACHIEVED_TARGET,
    FLOOR_RATIO_TARGET,
    TARGET_RATE,
    LatencyPoint,
    floor_ratios,
)
from shared.tools.bench.ratios import pair_ratio, ratio_figures
from shared.tools.bench.report import Figure, render_table, to_json
from shared.tools.bench.servers import (
    Scratch,
    Servers,
    announce,
    create_database,
    database_url,
    durability_settings,
    find_servers,
    remove,
    settle,
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shared.tools.bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000, help="Kafka raw produce/consume")
    parser.add_argument("--rows", type=int, default=50_000, help="PostgreSQL batched inserts")
    parser.add_argument(
        "--single-rows", type=int, default=2_000, help="PostgreSQL one row per transaction"
    )
    parser.add_argument(
        "--single-commands",
        type=int,
        default=2_000,
        help="deposits to the ledger with one transaction per message",
    )
    parser.add_argument(
        "--commands", type=int, default=40_000, help="deposits to the ledger with batches"
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=10_000,
        help="holds then their commits to the ledger with batches, after its deposits",
    )
    parser.add_argument(
        "--scale-commands", type=int, default=8_000, help="deposits in the scale-out runs"
    )
    parser.add_argument(
        "--rates",
        type=lambda text: [int(r) for r in text.split(",")],
        default=latency.RATES,
        help="offered checkouts/s, comma separated",
    )
    parser.add_argument("--seconds", type=float, default=latency.SECONDS, help="per rate")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--png", type=Path, default=Path("bench-latency.png"))
    return parser.parse_args(argv)


ONE_PER_MESSAGE = {"STORECREDIT_BATCH_SIZE": "1"}
QUIET = {"STORECREDIT_LOG_LEVEL": "WARNING"}
"""A log line per command is the operator's record, and costs as much as the handler at
these rates: the processes measured log warnings and errors only."""


async def _ledger_rate(
    servers: Servers,
    scratch: Scratch,
    logs: Path,
    commands: int,
    settings: dict[str, str],
    mode: str,
    pairs: int = 0,
) -> list[Figure]:
    """One ledger process with ``settings``, on its own database and topics."""
    purpose = "single" if settings.get("STORECREDIT_BATCH_SIZE") == "1" else "batched"
    run = await scale_runs.prepare(servers, scratch, purpose, logs, settings)
    ledger = run.launch(servers, purpose)
    try:
        await ledger_process.wait_until_ready(ledger)
        before = await storage.sizes(run.url)
        figures = await ledger_rate.measure(
            servers, run.scratch.topic_prefix, run.scratch.name, commands, mode, pairs
        )
        handled = ledger_rate.ACCOUNTS + commands + 2 * pairs
        return figures + storage.storage_figures(
            before, await storage.sizes(run.url), handled, mode
        )
    finally:
        await asyncio.to_thread(ledger.stop)


def _value(figures: list[Figure], measure: str) -> float:
    return next(f.value for f in figures if f.measure == measure)


async def _measure(
    args: argparse.Namespace, servers: Servers, scratch: Scratch
) -> tuple[list[Figure], list[LatencyPoint]]:
    figures: list[Figure] = []
    durability = await durability_settings(servers)
    topic = await asyncio.to_thread(kafka_limits.create_topic, servers, scratch)
    figures += await kafka_limits.produce(servers, topic, args.messages, scratch.name)
    figures.append(await kafka_limits.consume(servers, topic, args.messages))
    scratch_database = scratch.database("scratch")
    await create_database(servers, scratch_database)
    figures += await postgres_limits.measure(
        database_url(servers, scratch_database),
        scratch.name,
        args.rows,
        args.single_rows,
        durability,
    )
    await settle(servers)
    figures.append(
        await io_floor.measure(servers, scratch, topic, args.messages, kafka_limits.PARTITIONS)
    )
    await settle(servers)
    hop_figures: list[Figure] = []
    floors: list[LatencyPoint] = []
    for rate in args.rates:
        floor_figures, floor = await hops_floor.measure(servers, scratch, rate, args.seconds)
        hop_figures += floor_figures
        floors.append(floor)
        await settle(servers)
    await settle(servers)
    latencies, points = await latency.measure(
        servers, scratch, args.rates, args.seconds, settings=QUIET
    )
    logs = Path(tempfile.mkdtemp(prefix="storecredit-bench-"))
    print(f"ledger logs in {logs}", flush=True)
    single = " (1 tx/message)"
    batched = " (batches)"
    await settle(servers)
    figures += await _ledger_rate(
        servers, scratch, logs, args.single_commands, {**ONE_PER_MESSAGE, **QUIET}, single
    )
    await settle(servers)
    figures += await _ledger_rate(servers, scratch, logs, args.commands, QUIET, batched, args.pairs)
    figures.append(
        pair_ratio(
            pairs=_value(figures, f"ledger hold-then-commit pairs{batched}"),
            deposits=_value(figures, f"ledger deposits{batched}"),
        )
    )
    figures += ratio_figures(
        batched=_value(figures, f"ledger deposits{batched}"),
        single=_value(figures, f"ledger deposits{single}"),
        kafka_produce=_value(figures, "kafka produce"),
        postgres_rows=_value(figures, "postgres insert, 500 rows/tx"),
        floor=_value(figures, "a deposit's I/O alone (floor)"),
    )
    await settle(servers)
    figures += await scale_out.measure(servers, scratch, args.scale_commands, QUIET)
    return figures + latencies + hop_figures + _floor_figures(points, floors), points


def _floor_figures(checkouts: list[LatencyPoint], floors: list[LatencyPoint]) -> list[Figure]:
    """The checkouts' p99 against the floor's at each rate, with the share achieved."""
    found = []
    for ratio in floor_ratios(checkouts, floors):
        found.append(
            Figure(
                f"checkout p99 / {hops_floor.HOPS} hops' floor p99, {ratio.offered_rate}/s",
                ratio.p99_ratio,
                "x",
                f"{100 * ratio.achieved_share:.1f}% of the offered rate achieved; target at "
                f"most {FLOOR_RATIO_TARGET:g}x"
                + (
                    f" with at least {100 * ACHIEVED_TARGET:.0f}% achieved"
                    if ratio.offered_rate == TARGET_RATE
                    else ""
                )
                + f": {'met' if ratio.met else 'missed'}",
            )
        )
    return found


def _context(args: argparse.Namespace, servers: Servers, load: float) -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "python": platform.python_version(),
        "servers": servers.source,
        "load_average_at_start": load,
        "messages": args.messages,
        "rows": args.rows,
        "single_rows": args.single_rows,
        "single_commands": args.single_commands,
        "commands": args.commands,
        "pairs": args.pairs,
        "scale_commands": args.scale_commands,
        "rates": args.rates,
        "seconds_per_rate": args.seconds,
    }


async def main(args: argparse.Namespace) -> int:
    servers = await asyncio.to_thread(find_servers)
    scratch = Scratch()
    load = announce("benchmark", servers, scratch)
    try:
        figures, points = await _measure(args, servers, scratch)
    finally:
        await remove(servers, scratch)
    print(render_table(figures))
    context = {**_context(args, servers, load), "latency_points": [asdict(p) for p in points]}
    args.out.write_text(to_json(figures, context))
    from shared.tools.bench.plot import write_png  # matplotlib, only to draw

    write_png(points, args.png)
    print(f"\nwritten to {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
