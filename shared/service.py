"""One place that wires a service: database, broker, consumer, relay, app."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from faststream import FastStream

from contracts.topics import TopicSpec
from shared.broker import create_broker
from shared.commands import CommandProcessor, CommandRoute
from shared.consumer import register_command_consumer
from shared.db import create_engine, create_session_factory
from shared.faults import arm
from shared.relay import OutboxRelay
from shared.settings import Settings


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    commands: TopicSpec
    results: TopicSpec
    dead_letters: TopicSpec
    routes: Mapping[str, CommandRoute]


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
        )
        arm(settings.crash_at)

    async def start_relay(self) -> None:
        self.relay.start()

    async def stop_relay(self) -> None:
        await self.relay.stop()

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def start(self) -> None:
        await self.broker.start()
        await self.start_relay()

    async def stop(self) -> None:
        await self.stop_relay()
        await self.broker.stop()
        await self.dispose()


def create_app(definition: ServiceDefinition, settings: Settings | None = None) -> FastStream:
    runtime = ServiceRuntime(definition, settings or Settings())
    return FastStream(
        runtime.broker,
        logger=logging.getLogger("storecredit.app"),
        after_startup=[runtime.start_relay],
        on_shutdown=[runtime.stop_relay],
        after_shutdown=[runtime.dispose],
    )
