"""One place that wires a service: database, broker, consumers, relay, metrics, HTTP, app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka.errors import IllegalStateError
from faststream import FastStream

from contracts.topics import TopicSpec
from shared.runtime.broker import create_broker
from shared.runtime.command_consumer import register_command_consumer
from shared.runtime.commands import BatchPreparer, CommandProcessor, CommandRoute
from shared.runtime.db import count_round_trips, create_engine, create_session_factory
from shared.runtime.dead_letters import Redactor
from shared.runtime.faults import arm
from shared.runtime.health import (
    Readiness,
    broker_check,
    consumers_check,
    database_check,
    live,
    ready_route,
    stuck_check,
)
from shared.runtime.http_server import HttpServer
from shared.runtime.jobs import JobContext, JobRunner, PeriodicJob
from shared.runtime.metrics import ServiceMetrics, metrics_route
from shared.runtime.queries import QueryRoute, register_query_consumer
from shared.runtime.relay import OutboxRelay
from shared.runtime.retention import retention
from shared.runtime.settings import Settings
from shared.runtime.subscriptions import EventProcessor, Subscription, register_event_consumer

log = logging.getLogger(__name__)

BROKER_STOP_WITHIN_S = 30.0

SCRAPE_QUERY_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    commands: TopicSpec
    results: TopicSpec
    dead_letters: TopicSpec
    routes: Mapping[str, CommandRoute]
    queries: TopicSpec | None = None
    query_routes: Mapping[str, QueryRoute] = field(default_factory=dict)
    jobs: tuple[PeriodicJob, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    dead_letter_redactor: Redactor | None = None
    """Masks what a dead letter must not carry; default: ``redaction.redact_secrets``."""
    prepare_batch: BatchPreparer | None = None
    """A batch's state (see :class:`shared.runtime.commands.BatchState`); None: every handler
    writes its own SQL, in a savepoint, even in a batch."""


class ServiceRuntime:
    """A running service: start and stop it as a whole (the app and tests do)."""

    def __init__(self, definition: ServiceDefinition, settings: Settings) -> None:
        settings.service_signer(definition.name)  # fail now, not on the first command it sends
        self.definition = definition
        self.settings = settings
        self.metrics = ServiceMetrics(definition.name)
        self.engine = create_engine(settings.database_url_for(definition.name))
        count_round_trips(self.engine, self.metrics.database_round_trip)
        self.sessions = create_session_factory(self.engine)
        self.broker = create_broker(
            settings.as_principal(definition.name), client_id=f"storecredit-{definition.name}"
        )
        self.relay = OutboxRelay(
            definition.name,
            self.engine,
            self.broker,
            poll_interval=settings.outbox_poll_ms / 1000,
            idle_poll=settings.outbox_idle_poll_ms / 1000,
            metrics=self.metrics,
        )
        self.processor = CommandProcessor(
            service=definition.name,
            settings=settings,
            sessions=self.sessions,
            routes=definition.routes,
            results_topic=definition.results,
            after_commit=self.relay.wake,
            hand_over=self.relay,
            metrics=self.metrics,
            prepare_batch=definition.prepare_batch,
        )
        register_command_consumer(
            self.broker,
            settings,
            self.processor,
            commands=definition.commands,
            dead_letters=definition.dead_letters,
            redact=definition.dead_letter_redactor,
        )
        if definition.queries is not None:
            register_query_consumer(
                self.broker,
                settings,
                service=definition.name,
                sessions=self.sessions,
                queries=definition.queries,
                dead_letters=definition.dead_letters,
                routes=definition.query_routes,
                redact=definition.dead_letter_redactor,
                metrics=self.metrics,
            )
        for subscription in definition.subscriptions:
            register_event_consumer(
                self.broker,
                settings,
                EventProcessor(
                    service=definition.name,
                    subscription=subscription,
                    settings=settings,
                    sessions=self.sessions,
                    after_commit=self.relay.wake,
                    hand_over=self.relay,
                    metrics=self.metrics,
                ),
                dead_letters=definition.dead_letters,
                redact=definition.dead_letter_redactor,
            )
        self.jobs = JobRunner(
            (*definition.jobs, retention),
            JobContext(definition.name, settings, self.sessions),
            after_work=self.relay.wake,
        )
        self.readiness = Readiness(
            {
                "broker": broker_check(self.broker),
                "consumers": consumers_check(self.unassigned_consumers),
                "database": database_check(self.engine),
                "progress": stuck_check(self.metrics.busy, settings.consumer_stuck_after_s),
            }
        )
        self._http: HttpServer | None = None
        arm(settings.crash_at)

    @property
    def http_port(self) -> int | None:
        """The port the HTTP endpoint listens on (the bound one when 0 was asked), if any."""
        return self._http.port if self._http is not None else None

    async def start_http(self) -> None:
        """Serve ``/metrics`` and ``/health/*`` if ``http_port`` is set. Started before the
        broker: a liveness probe must answer while the consumers are still joining."""
        if self.settings.http_port is None or self._http is not None:
            return
        server = HttpServer(
            {
                "/metrics": metrics_route(self.metrics, self.refresh_scraped_metrics),
                "/health/live": live,
                "/health/ready": ready_route(self.readiness),
            },
            host=self.settings.http_host,
            port=self.settings.http_port,
        )
        await server.start()
        self._http = server
        log.info(
            "HTTP endpoint listening",
            extra={"host": self.settings.http_host, "port": server.port},
        )

    async def stop_http(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None

    async def refresh_scraped_metrics(self) -> None:
        """Read the outbox gauges for a scrape; NaN if the database does not answer in time."""
        try:
            await asyncio.wait_for(self.relay.measure_lag(), SCRAPE_QUERY_TIMEOUT_SECONDS)
        except Exception as error:
            log.debug("outbox lag not measured", extra={"error": repr(error)})
            self.metrics.outbox_lag_unknown()

    async def start_background(self) -> None:
        """The outbox relay and the periodic jobs."""
        self.relay.start()
        self.jobs.start()

    async def stop_background(self) -> None:
        await self.jobs.stop()
        await self.relay.stop()

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def start(self) -> None:
        await self.start_http()
        await self.broker.start()
        await self.start_background()

    def assigned(self) -> bool:
        """Whether every consumer of this service has joined its group and owns partitions.

        Until then a consumer reading from the latest offset (the query consumer)
        would miss what is sent; tests and readiness checks wait for this.
        """
        return not self.unassigned_consumers()

    def unassigned_consumers(self) -> list[str]:
        """The topics of the consumers that own no partitions yet (or are not running)."""
        missing: list[str] = []
        for subscriber in self.broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None or not consumer.assignment():
                missing.extend(getattr(subscriber, "topic_names", None) or ["?"])
        return missing

    async def wait_until_assigned(self, within_s: float = 60.0) -> None:
        """Wait until :meth:`assigned` and every assigned partition has a position.

        A consumer that starts from the latest offset (the query consumer) looks
        its position up only after the assignment: a message sent in between would
        be skipped. Once ``position()`` answered for each partition, nothing sent
        afterwards can be. Raises ``TimeoutError`` naming the service if it never is.
        """
        try:
            async with asyncio.timeout(within_s):
                while True:
                    if self.assigned() and await self._positioned():
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise TimeoutError(
                f"the {self.definition.name} service's consumers got no partitions "
                f"within {within_s:.0f}s; is the broker up?"
            ) from None

    async def _positioned(self) -> bool:
        for subscriber in self.broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                return False
            for partition in consumer.assignment():
                try:
                    await asyncio.wait_for(consumer.position(partition), 5.0)
                except (IllegalStateError, TimeoutError):  # taken away meanwhile, or not yet
                    return False
        return True

    async def stop(self) -> None:
        await self.stop_background()
        try:
            async with asyncio.timeout(BROKER_STOP_WITHIN_S):
                await self.broker.stop()
        except TimeoutError:
            # aiokafka's consumer.stop() has been seen to never return (a rebalance under
            # way); what was handled is committed in the database, so going on is safe:
            # anything unacknowledged is delivered again and the inbox skips it.
            log.warning(
                "the broker did not stop in time; going on",
                extra={"stopping": self.definition.name, "within_s": BROKER_STOP_WITHIN_S},
            )
        await self.stop_http()
        await self.dispose()


def create_app(definition: ServiceDefinition, settings: Settings | None = None) -> FastStream:
    runtime = ServiceRuntime(definition, settings or Settings())
    return FastStream(
        runtime.broker,
        logger=logging.getLogger("storecredit.app"),
        on_startup=[runtime.start_http],
        after_startup=[runtime.start_background],
        on_shutdown=[runtime.stop_background],
        after_shutdown=[runtime.stop_http, runtime.dispose],
    )
