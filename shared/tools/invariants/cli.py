"""``storecredit check``: read every service's database and report each violation of
the platform's invariants. Exit 0: none; 1: some; 2: could not check.

Safe on a live system: it only reads, one ``REPEATABLE READ READ ONLY``
snapshot per database at a time, and reports a difference between two services
only when it is still there after ``--settle-s`` seconds (messages in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TextIO

from shared.runtime.settings import Settings
from shared.tools.invariants import report, runner
from shared.tools.invariants.databases import CouldNotCheck

log = logging.getLogger(__name__)

DEFAULT_SETTLE_S = 10.0
FOUND, COULD_NOT_CHECK = 1, 2


async def check(
    settings: Settings,
    settle_s: float = DEFAULT_SETTLE_S,
    *,
    as_json: bool = False,
    out: TextIO | None = None,
    pause: runner.Pause = asyncio.sleep,
) -> int:
    """Run every check and print the outcome; the exit code."""
    out = out or sys.stdout
    try:
        outcome = await runner.check(settings, settle_s, pause=pause)
    except CouldNotCheck as error:
        print(f"storecredit check: could not check, {error}", file=sys.stderr)
        return COULD_NOT_CHECK
    except Exception:  # a fault of the checker itself is no verdict on the platform
        log.exception("storecredit check failed")
        return COULD_NOT_CHECK
    if as_json:
        report.as_json_lines(outcome, out)
    else:
        report.as_text(outcome, settle_s, out)
    return FOUND if outcome.violations else 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(report.catalogue())
        return 0
    return asyncio.run(check(Settings(), args.settle_s, as_json=args.json))


def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("between 0 and 3600 seconds")
    return seconds


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "check",
        help="check the platform's invariants in every service's database (read-only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settle-s",
        type=_seconds,
        default=DEFAULT_SETTLE_S,
        help="how long a difference between two services may be a message in flight: "
        "such differences are looked at again after this many seconds, and outbox rows "
        f"younger than this are not reported (default {DEFAULT_SETTLE_S:g}; 0: report at once)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per violation")
    parser.add_argument(
        "--list", action="store_true", help="list the checks and their violation names"
    )
    parser.set_defaults(func=run)
