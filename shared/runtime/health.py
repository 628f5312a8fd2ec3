"""Liveness and readiness, as an orchestrator's probes read them.

Live: the process's event loop answers an HTTP request, nothing more; a
restart would not fix a database that is away. Ready: this instance can do
its work now: the broker answers, every consumer owns partitions, the
database answers ``SELECT 1``, and no consumer has been on one poll (blocked,
or retrying a transient failure) for longer than
``STORECREDIT_CONSUMER_STUCK_AFTER_S``. Each check is bounded by a timeout, so
a probe never hangs on a stuck server; a failing check is named in the body,
and a change of state is logged once with the full error (the body only names
the error's type: the probe endpoint is not the place for connection strings).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.runtime.http_server import Response

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0

Check = Callable[[], Awaitable[str | None]]
"""A readiness check: ``None`` when it passes, else why not; raising also fails it."""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str | None = None


class Readiness:
    """Runs the checks side by side and reports them as one JSON document."""

    def __init__(
        self, checks: Mapping[str, Check], timeout_seconds: float = CHECK_TIMEOUT_SECONDS
    ) -> None:
        self._checks = checks
        self._timeout = timeout_seconds
        self._failing: dict[str, str | None] = {}

    async def evaluate(self) -> tuple[bool, dict[str, Any]]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(name) for name in names))
        checks = dict(zip(names, results, strict=True))
        failing = [name for name, result in checks.items() if not result.ok]
        body = {
            "status": "not_ready" if failing else "ready",
            "failing": failing,
            "checks": {
                name: {"ok": r.ok, **({"detail": r.detail} if r.detail else {})}
                for name, r in checks.items()
            },
        }
        return not failing, body

    async def _run(self, name: str) -> CheckResult:
        try:
            problem = await asyncio.wait_for(self._checks[name](), self._timeout)
        except TimeoutError:
            problem, logged = f"no answer within {self._timeout:g}s", "timed out"
        except Exception as error:
            problem, logged = type(_root_cause(error)).__name__, repr(error)
        else:
            logged = problem or ""
        self._note(name, problem, logged)
        return CheckResult(ok=problem is None, detail=problem)

    def _note(self, name: str, problem: str | None, logged: str) -> None:
        """Log a check that starts or stops failing, once (probes come every few seconds)."""
        was_failing = name in self._failing
        if problem is None and was_failing:
            del self._failing[name]
            log.info("readiness check passes again", extra={"check": name})
        elif problem is not None and self._failing.get(name, "") != problem:
            self._failing[name] = problem
            log.warning("readiness check fails", extra={"check": name, "error": logged[:500]})


def _root_cause(error: BaseException) -> BaseException:
    """The innermost cause (asyncpg's ``InvalidCatalogNameError`` rather than the
    ``DBAPIError`` SQLAlchemy wraps it in): its name says what is wrong."""
    for _ in range(10):
        inner = error.__cause__ or getattr(error, "orig", None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    return error


def broker_check(broker: KafkaBroker) -> Check:
    """The broker answers a cluster description (FastStream's ping, retried until the
    readiness timeout; a broker not started fails at once)."""

    async def check() -> str | None:
        return None if await broker.ping(timeout=None) else "the broker is not connected"

    return check


def consumers_check(unassigned: Callable[[], list[str]]) -> Check:
    """Every consumer has joined its group and owns partitions."""

    async def check() -> str | None:
        missing = unassigned()
        return f"no partitions yet: {', '.join(missing)}" if missing else None

    return check


def stuck_check(busy: Callable[[], Mapping[str, float]], after_seconds: float) -> Check:
    """No consumer has been on one poll (blocked or retrying) for longer than the limit:
    its partitions get nowhere meanwhile, whatever the broker and database say."""

    async def check() -> str | None:
        stuck = sorted(
            consumer for consumer, busy_for in busy().items() if busy_for > after_seconds
        )
        return f"on one poll for over {after_seconds:g}s: {', '.join(stuck)}" if stuck else None

    return check


def database_check(engine: AsyncEngine) -> Check:
    """``SELECT 1`` on a pooled connection: cheap, and proves the database takes queries."""

    async def check() -> str | None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return None

    return check


async def live() -> Response:
    return json_response(200, {"status": "live"})


def ready_route(readiness: Readiness) -> Callable[[], Awaitable[Response]]:
    async def ready() -> Response:
        ok, body = await readiness.evaluate()
        return json_response(200 if ok else 503, body)

    return ready


def json_response(status: int, body: Mapping[str, Any]) -> Response:
    return Response(status, json.dumps(body).encode(), "application/json")
