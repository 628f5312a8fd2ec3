"""What one service process says about itself on ``/metrics``: the commands it handled
by outcome, and its outbox rows not yet published.

Each process counts only what it handled itself, so two ledger instances'
counters prove both took part (a process killed with SIGKILL takes its counters
with it: scrape it just before).
"""

from __future__ import annotations

import math
import urllib.request
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT_S = 5.0
COMMANDS = "storecredit_commands"
"""``storecredit_commands_total`` as the parser names the family (without ``_total``)."""
UNPUBLISHED = "storecredit_outbox_unpublished_rows"
ROUND_TRIPS = "storecredit_database_round_trips"


def scrape(port: int) -> str:
    """The text of ``GET /metrics`` (blocking: call it in a thread)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as answer:
        return str(answer.read().decode())


def command_outcomes(text: str, command_type: str) -> Counter[str]:
    """How many commands of the type the process handled, by outcome (accepted,
    rejected, redelivery_ignored, ...)."""
    outcomes: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != COMMANDS:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("type") == command_type:
                outcomes[sample.labels["outcome"]] += int(sample.value)
    return outcomes


def unpublished_rows(text: str) -> float:
    """Outbox rows not yet published; NaN if the process could not tell."""
    for family in text_string_to_metric_families(text):
        if family.name == UNPUBLISHED:
            return sum(sample.value for sample in family.samples)
    return math.nan


def database_round_trips(text: str) -> int:
    """How many times the process waited for its database (``shared.runtime.db``)."""
    total = 0
    for family in text_string_to_metric_families(text):
        if family.name == ROUND_TRIPS:
            total += sum(int(s.value) for s in family.samples if s.name.endswith("_total"))
    return total
