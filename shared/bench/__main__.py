"""``python -m shared.bench``: measure, print one table, write the same figures as JSON."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.bench import kafka_limits, ledger_process, ledger_rate, postgres_limits
from shared.bench.report import Figure, render_table, to_json
from shared.bench.servers import (
    Scratch,
    Servers,
    create_database,
    database_url,
    durability_settings,
    find_servers,
    remove,
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shared.bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000, help="Kafka raw produce/consume")
    parser.add_argument("--rows", type=int, default=50_000, help="PostgreSQL batched inserts")
    parser.add_argument(
        "--single-rows", type=int, default=2_000, help="PostgreSQL one row per transaction"
    )
    parser.add_argument("--commands", type=int, default=2_000, help="deposits sent to the ledger")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    return parser.parse_args(argv)


async def _measure(args: argparse.Namespace, servers: Servers, scratch: Scratch) -> list[Figure]:
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
    ledger_url = await ledger_process.prepare_ledger(servers, scratch)
    log = Path(tempfile.mkdtemp(prefix="storecredit-bench-")) / "ledger.log"
    ledger = ledger_process.launch(servers, scratch, ledger_url, log)
    try:
        await ledger_process.wait_until_ready(ledger)
        figures += await ledger_rate.measure(
            servers, scratch.topic_prefix, scratch.name, args.commands
        )
    finally:
        await asyncio.to_thread(ledger.stop)
    return figures


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
        "commands": args.commands,
    }


async def main(args: argparse.Namespace) -> int:
    servers = await asyncio.to_thread(find_servers)
    scratch = Scratch()
    load = os.getloadavg()[0]  # other work on the machine lowers every figure: say so
    print(
        f"benchmark {scratch.name} on {servers.source} ({servers.bootstrap_servers}), "
        f"load average {load:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    try:
        figures = await _measure(args, servers, scratch)
    finally:
        await remove(servers, scratch)
    print(render_table(figures))
    args.out.write_text(to_json(figures, _context(args, servers, load)))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
