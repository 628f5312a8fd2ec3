"""Periodic jobs of a service (such as voiding expired holds), run beside the consumer.

A job returns how much it did; after work it runs again at once (to drain a
backlog) and wakes the outbox relay, otherwise it waits for its interval. A
failing pass is logged and retried at the next interval; it never stops the
service. Jobs must be safe to run in several instances at once (row locks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.db import SessionFactory
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    service: str
    settings: Settings
    sessions: SessionFactory


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval: Callable[[Settings], float]
    run: Callable[[JobContext], Awaitable[int]]


class JobRunner:
    def __init__(
        self, jobs: tuple[PeriodicJob, ...], context: JobContext, after_work: Callable[[], None]
    ) -> None:
        self._jobs = jobs
        self._context = context
        self._after_work = after_work
        self._tasks: list[asyncio.Task[None]] = []

    async def _loop(self, job: PeriodicJob) -> None:
        interval = job.interval(self._context.settings)
        while True:
            try:
                done = await job.run(self._context)
            except Exception:
                log.exception("periodic job failed", extra={"job": job.name})
                done = 0
            if done:
                log.info("periodic job did work", extra={"job": job.name, "items": done})
                self._after_work()
                continue
            await asyncio.sleep(interval)

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._loop(job), name=f"job:{job.name}") for job in self._jobs
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
