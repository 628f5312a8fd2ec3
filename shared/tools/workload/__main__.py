"""``python -m shared.tools.workload [--seed N] [--customers N] [--concurrency N]``: a workload
against the system ``make run`` started (or the one the environment names)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys

from shared.runtime.settings import Settings
from shared.tools.local_keys import use_local_keys
from shared.tools.platform_client import Platform
from shared.tools.workload.run import run_workload


async def main(args: argparse.Namespace) -> int:
    tag = args.tag or secrets.token_hex(3)
    use_local_keys(os.environ)  # beside `make run`: sign as its clients do
    async with Platform(Settings(), answer_within_s=args.answer_within_s) as platform:
        platform.correlation_id = f"workload-{tag}"
        tally = await run_workload(
            platform,
            seed=args.seed,
            customers=args.customers,
            concurrency=args.concurrency,
            tag=tag,
        )
    print(f"workload {tag} (seed {args.seed}, {args.customers} customers):")
    print("\n".join(tally.lines()))
    return 1 if tally.failed else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shared.tools.workload", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tag", help="id tag (default: random, so runs never mix)")
    parser.add_argument("--answer-within-s", type=float, default=60.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sys.exit(asyncio.run(main(parse())))
