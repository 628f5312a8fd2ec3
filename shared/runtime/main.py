"""Run one service as a process: ``python -m services.<name>``."""

from __future__ import annotations

import asyncio
import importlib

from shared.runtime.logging import configure_logging
from shared.runtime.service import ServiceDefinition, create_app
from shared.runtime.settings import Settings

EXIT_CHECK_S = 1.0
"""How often FastStream's run loop looks whether a signal asked it to stop (its default,
0.1 s, woke every idle service ten times a second); a stop begins within this."""


def definition_for(service: str) -> ServiceDefinition:
    module = importlib.import_module(f"services.{service}.app")
    definition: ServiceDefinition = module.definition
    return definition


def run_service(service: str) -> None:
    settings = Settings()
    configure_logging(service, settings.log_level, settings.log_format)
    app = create_app(definition_for(service), settings)
    asyncio.run(app.run(sleep_time=EXIT_CHECK_S))
