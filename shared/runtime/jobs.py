"""Periodic jobs of a service (such as voiding expired holds), run beside the consumer.

A job returns how much it did; after work it runs again at once (to drain a
backlog) and wakes the outbox relay, otherwise it waits for its interval. A
failing pass is logged and retried at the next interval; it never stops the
service. Jobs must be safe to run in several instances at once (row locks).

Most jobs are sweeps (:func:`sweep`): find what is due, then handle each in a
transaction of its own, under its row lock, sending what it says as the system.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from shared.runtime.db import SessionFactory
from shared.runtime.outbox import Outgoing, add_system_messages
from shared.runtime.settings import Settings

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
    sends: bool = True
    """Its work writes outbox rows (the relay is woken after it)."""


T = TypeVar("T")


@dataclass(frozen=True)
class Swept:
    """What handling one due row did: the messages it sends as the system, with the
    origin their ids are made from (the same on a retry) and their correlation id."""

    messages: list[Outgoing]
    origin: str
    correlation_id: str


def sweep(
    name: str,
    interval: Callable[[Settings], float],
    find: Callable[[AsyncSession, datetime, int], Awaitable[list[T]]],
    handle: Callable[[AsyncSession, T, datetime], Awaitable[Swept | None]],
    batch: int = 100,
) -> PeriodicJob:
    """A job that finds up to ``batch`` due rows, then handles each in a transaction of
    its own; ``handle`` locks its row, looks again and returns None if it is no longer
    due (another instance, or a command, was first)."""

    async def run(context: JobContext) -> int:
        now = datetime.now(UTC)
        async with context.sessions() as session:
            candidates = await find(session, now, batch)
        done = 0
        for candidate in candidates:
            async with context.sessions() as session, session.begin():
                swept = await handle(session, candidate, now)
                if swept is None:
                    continue
                await add_system_messages(
                    session,
                    context.settings,
                    context.service,
                    swept.messages,
                    origin=swept.origin,
                    correlation_id=swept.correlation_id,
                )
            done += 1
        return done

    return PeriodicJob(name=name, interval=interval, run=run)


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
                if job.sends:
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
