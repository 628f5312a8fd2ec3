"""The store-credit service: templates, point accounts, store-credit instruments.

It consumes its command topic with the shared pipeline. It has no command
types yet: every command is answered with a rejected result
(``invalid_command``) and parked on its dead-letter topic.
"""

from __future__ import annotations

from faststream import FastStream

from contracts.topics import (
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_DEAD_LETTERS,
)
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings

definition = ServiceDefinition(
    name="store_credit",
    commands=STORE_CREDIT_COMMANDS,
    results=STORE_CREDIT_COMMAND_RESULTS,
    dead_letters=STORE_CREDIT_DEAD_LETTERS,
    routes={},
)


def create(settings: Settings | None = None) -> FastStream:
    return create_app(definition, settings)
