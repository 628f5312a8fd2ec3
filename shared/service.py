"""One place that wires a service: database, broker, consumer, relay, app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from faststream import FastStream

from contracts.topics import TopicSpec
from shared.broker import create_broker
from shared.commands import CommandProcessor, CommandRoute
from shared.consumer import register_command_consumer
from shared.db import create_engine, create_session_factory
from shared.dead_letters import Redactor
from shared.events import EventProcessor, Subscription, register_event_consumer
from shared.faults import arm
from shared.jobs import JobContext, JobRunner, PeriodicJob
from shared.queries import QueryRoute, register_query_consumer
from shared.relay import OutboxRelay
from shared.settings import Settings


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


class ServiceRuntime:
    """A running service: start and stop it as a whole (the app and tests do)."""

    def __init__(self, definition: ServiceDefinition, settings: Settings) -> None:
        self.definition = definition
        self.settings = settings
        self.engine = create_engine(settings.database_url_for(definition.name))
        self.sessions = create_session_factory(self.engine)
        self.broker = create_broker(settings, client_id=f"storecredit-{definition.name}")
        self.relay = OutboxRelay(
            definition.name,
            self.sessions,
            self.broker,
            poll_interval=settings.outbox_poll_ms / 1000,
        )
        self.processor = CommandProcessor(
            service=definition.name,
            settings=settings,
            sessions=self.sessions,
            routes=definition.routes,
            results_topic=definition.results,
            after_commit=self.relay.wake,
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
                ),
                dead_letters=definition.dead_letters,
                redact=definition.dead_letter_redactor,
            )
        self.jobs = JobRunner(
            definition.jobs,
            JobContext(definition.name, settings, self.sessions),
            after_work=self.relay.wake,
        )
        arm(settings.crash_at)

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
        await self.broker.start()
        await self.start_background()

    def assigned(self) -> bool:
        """Whether every consumer of this service has joined its group and owns partitions.

        Until then a consumer reading from the latest offset (the query consumer)
        would miss what is sent; tests and readiness checks wait for this.
        """
        for subscriber in self.broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None or not consumer.assignment():
                return False
        return True

    async def wait_until_assigned(self, within_s: float = 60.0) -> None:
        """Wait until :meth:`assigned`; raise ``TimeoutError`` naming the service if it never is."""
        deadline = asyncio.get_running_loop().time() + within_s
        while not self.assigned():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"the {self.definition.name} service's consumers got no partitions "
                    f"within {within_s:.0f}s; is the broker up?"
                )
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.stop_background()
        await self.broker.stop()
        await self.dispose()


def create_app(definition: ServiceDefinition, settings: Settings | None = None) -> FastStream:
    runtime = ServiceRuntime(definition, settings or Settings())
    return FastStream(
        runtime.broker,
        logger=logging.getLogger("storecredit.app"),
        after_startup=[runtime.start_background],
        on_shutdown=[runtime.stop_background],
        after_shutdown=[runtime.dispose],
    )
