"""Prometheus metrics of one service: what its consumers handled, how fast, and its outbox.

Each :class:`ServiceMetrics` has a registry of its own (several services run
in one test process; the global default registry would mix them up), and
every series carries a ``service`` label. The command, event and query
consumers, the dead-letter paths and the outbox relay count here; domain code
never imports this module.

Label values are bounded: message types are those a consumer has a route for
(anything else is ``unknown``), reasons and codes come from fixed lists.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from shared.runtime.http_server import Response, Route

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Handler latency from 1 ms (a duplicate found in the inbox) to 10 s (a stuck database)."""

UNKNOWN_TYPE = "unknown"
"""The ``type`` label of a message whose type the consumer does not know (bounded cardinality)."""

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus version reads (prometheus_client's own
server answers it too unless the scraper asks for another)."""

COMMANDS_CONSUMER = "commands"
QUERIES_CONSUMER = "queries"


def events_consumer(subscription: str) -> str:
    """The ``consumer`` label of an event subscription: ``events.<name>``."""
    return f"events.{subscription}"


class CommandOutcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REPLAYED = "replayed"
    """A client's retry (a new message, same key and payload) sent the first result again."""
    REDELIVERY_IGNORED = "redelivery_ignored"
    """The same message read again (Kafka redelivery): nothing done."""
    KEY_REUSED = "key_reused"
    """An idempotency key already used for another payload: rejected."""


class EventOutcome(StrEnum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"


class QueryOutcome(StrEnum):
    ANSWERED = "answered"
    REFUSED = "refused"
    """The handler said the question has no answer (a ``QueryFailed`` with its code)."""
    FAILED = "failed"
    """The handler failed (a bug); the query was parked and answered ``internal_error``."""


class ServiceMetrics:
    """The metric families of one service, in a registry of their own."""

    def __init__(self, service: str, *, process_metrics: bool = True) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        registry = self.registry
        self._commands = Counter(
            "storecredit_commands_total",
            "Commands handled, by type and outcome.",
            ["service", "type", "outcome"],
            registry=registry,
        )
        self._rejections = Counter(
            "storecredit_command_rejections_total",
            "Rejected command results written (not replays), by type and rejection code.",
            ["service", "type", "code"],
            registry=registry,
        )
        self._events = Counter(
            "storecredit_events_total",
            "Events handled by the event consumers, by consumer, type and outcome.",
            ["service", "consumer", "type", "outcome"],
            registry=registry,
        )
        self._queries = Counter(
            "storecredit_queries_total",
            "Queries answered, by type and outcome.",
            ["service", "type", "outcome"],
            registry=registry,
        )
        self._replies_dropped = Counter(
            "storecredit_query_replies_dropped_total",
            "Query replies Kafka would not take (no such topic, not allowed, too large, no "
            "answer in time): dropped, never retried, so later queries are not held up.",
            ["service", "reason"],
            registry=registry,
        )
        self._round_trips = Counter(
            "storecredit_database_round_trips_total",
            "Exchanges with the service's database: statements (an executemany, pipelined, "
            "counts once), BEGIN, COMMIT, ROLLBACK and savepoints.",
            ["service"],
            registry=registry,
        )
        self._busy_since: dict[str, float] = {}
        Gauge(
            "storecredit_consumer_stuck_seconds",
            "How long each consumer has been on its current poll, retries included (0: idle).",
            ["service"],
            registry=registry,
        ).labels(service).set_function(lambda: max(self.busy().values(), default=0.0))
        self._dead_letters = Counter(
            "storecredit_dead_letters_total",
            "Messages parked on the dead-letter topic, by consumer and reason.",
            ["service", "consumer", "reason"],
            registry=registry,
        )
        self._duration = Histogram(
            "storecredit_handler_duration_seconds",
            "Time to handle one message, or one poll's batch of them (STORECREDIT_BATCH_SIZE "
            "above 1), by consumer (transient failures retried excluded).",
            ["service", "consumer"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._published = Counter(
            "storecredit_outbox_published_total",
            "Outbox rows published and confirmed by Kafka.",
            ["service"],
            registry=registry,
        ).labels(service)
        self._publish_failures = Counter(
            "storecredit_outbox_publish_failures_total",
            "Outbox rows Kafka refused or did not confirm (each is retried).",
            ["service"],
            registry=registry,
        ).labels(service)
        self._unpublished = Gauge(
            "storecredit_outbox_unpublished_rows",
            "Outbox rows not yet published (read when scraped; NaN: the database did not answer).",
            ["service"],
            registry=registry,
        ).labels(service)
        self._oldest_age = Gauge(
            "storecredit_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row, 0 when there is none (read when scraped).",
            ["service"],
            registry=registry,
        ).labels(service)

    def command(self, command_type: str, outcome: CommandOutcome, code: str | None = None) -> None:
        """Count a command once its transaction committed; ``code`` for a new rejection."""
        self._commands.labels(self.service, command_type, outcome.value).inc()
        if code is not None:
            self._rejections.labels(self.service, command_type, code).inc()

    def event(self, consumer: str, event_type: str, outcome: EventOutcome) -> None:
        self._events.labels(self.service, consumer, event_type, outcome.value).inc()

    def query(self, query_type: str, outcome: QueryOutcome) -> None:
        self._queries.labels(self.service, query_type, outcome.value).inc()

    def reply_dropped(self, reason: str) -> None:
        self._replies_dropped.labels(self.service, reason).inc()

    def database_round_trip(self) -> None:
        self._round_trips.labels(self.service).inc()

    def busy(self) -> dict[str, float]:
        """Each consumer still on a poll, with how long it has been on it, in seconds.

        A poll that fails transiently is read again; its clock keeps running until one
        ends, so a consumer retrying the same records for good shows here, as one that
        blocks does."""
        now = time.monotonic()
        return {consumer: now - since for consumer, since in self._busy_since.items()}

    def dead_letter(self, consumer: str, reason: str) -> None:
        self._dead_letters.labels(self.service, consumer, reason).inc()

    @contextmanager
    def timed(self, consumer: str) -> Iterator[Timer]:
        """Observe the block's duration unless it raised (a transient failure, retried
        after a pause that is no handler's latency) or it called ``skip()``."""
        timer = Timer()
        self._busy_since.setdefault(consumer, time.monotonic())
        yield timer  # raising (a transient failure): still busy, the poll comes again
        self._busy_since.pop(consumer, None)
        if not timer.skipped:
            self._duration.labels(self.service, consumer).observe(timer.elapsed())

    def published(self, rows: int) -> None:
        if rows:
            self._published.inc(rows)

    def publish_failed(self) -> None:
        self._publish_failures.inc()

    def outbox_lag(self, unpublished_rows: int, oldest_age_seconds: float) -> None:
        self._unpublished.set(unpublished_rows)
        self._oldest_age.set(oldest_age_seconds)

    def outbox_lag_unknown(self) -> None:
        """The database did not answer: say "unknown" rather than keep a stale "all sent"."""
        self._unpublished.set(math.nan)
        self._oldest_age.set(math.nan)


class Timer:
    """The running clock of :meth:`ServiceMetrics.timed`."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self.skipped = False

    def skip(self) -> None:
        """Not a message this consumer handles (an event type routed elsewhere): no sample."""
        self.skipped = True

    def elapsed(self) -> float:
        return time.perf_counter() - self._started


def metrics_route(metrics: ServiceMetrics, refresh: Callable[[], Awaitable[None]]) -> Route:
    """``GET /metrics``: refresh what is read at scrape time, then the text format."""

    async def scrape() -> Response:
        await refresh()
        return Response(200, generate_latest(metrics.registry), TEXT_FORMAT)

    return scrape
