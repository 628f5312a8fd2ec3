"""What comes back to the benchmark, each record stamped with the moment it was read.

One consumer, no group, on the command-result topics the benchmark's commands answer
on and on ``ledger.balances``, read from their end at start: nothing from before the
run is counted, and nothing sent after ``start`` is missed. Times are
``time.perf_counter()`` in this process, the clock the sender stamps with too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from shared.tools.consumers import cancel_and_wait, groupless_consumer
from shared.tools.topic_watch import assign_at_end

Answer = dict[str, Any]


class Arrivals:
    """Command results by the command's message id, and balance changes: the accounts
    that have one, and when the first one with a transaction arrived per correlation id
    (the id every message a command causes keeps, through every service)."""

    def __init__(self, bootstrap_servers: str, topics: Iterable[str], **options: Any) -> None:
        self._topics = list(topics)
        self._consumer = groupless_consumer(
            "latest", bootstrap_servers=bootstrap_servers, **options
        )
        self.results: dict[str, Answer] = {}
        self.accounts: set[str] = set()
        self.balance_changes: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._pump_task: asyncio.Task[None] | None = None

    async def start(self) -> Arrivals:
        await self._consumer.start()
        await assign_at_end(self._consumer, self._topics)  # before any send
        self._pump_task = asyncio.create_task(self._pump())
        return self

    async def stop(self) -> None:
        await cancel_and_wait(self._pump_task)
        await self._consumer.stop()

    async def _pump(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            arrived = time.perf_counter()
            if not batches:
                continue
            for records in batches.values():
                for record in records:
                    self._add(record.value, arrived)
            async with self._changed:
                self._changed.notify_all()

    def _add(self, value: bytes | None, arrived: float) -> None:
        try:
            envelope = json.loads(value or b"{}")
        except ValueError:
            return  # not an envelope (the services publish none such): not ours to time
        payload = envelope.get("payload") or {}
        if envelope.get("type") == "CommandResult":
            self.results[str(envelope.get("causation_id"))] = payload
        elif envelope.get("type") == "BalanceChanged":
            self.accounts.add(str(payload.get("account_id")))
            if payload.get("transaction_id") is not None:
                self.balance_changes.setdefault(str(envelope.get("correlation_id")), arrived)

    async def wait_until(self, done: Callable[[], bool], within_s: float) -> bool:
        """Whether ``done()`` came true within ``within_s`` (checked as records arrive)."""
        try:
            async with asyncio.timeout(within_s), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            return done()
        return True

    async def settle(self, remaining: Callable[[], int], stall_s: float) -> int:
        """Until ``remaining()`` is 0 or has not dropped for ``stall_s``; what remains.
        (A busy machine is slow, not stuck, while the count moves.)"""
        left = remaining()
        while left and await self.wait_until(partial(_below, remaining, left), stall_s):
            left = remaining()
        return left

    async def wait_for_all(
        self, remaining: Callable[[], int], *, stall_s: float, what: str
    ) -> None:
        """Until ``remaining()`` is 0; fails if it has not dropped for ``stall_s``."""
        left = await self.settle(remaining, stall_s)
        if left:
            raise RuntimeError(f"{what}: {left:,} still unanswered, none for {stall_s:.0f}s")


def _below(count: Callable[[], int], limit: int) -> bool:
    return count() < limit
