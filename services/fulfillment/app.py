"""The fulfillment service: auto-fulfillment commits, returns and reversals.

It consumes its command topic with the shared pipeline. It has no command
types yet: every command is answered with a rejected result
(``invalid_command``) and parked on its dead-letter topic.
"""

from __future__ import annotations

from faststream import FastStream

from contracts.topics import (
    FULFILLMENT_COMMAND_RESULTS,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_DEAD_LETTERS,
)
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings

definition = ServiceDefinition(
    name="fulfillment",
    commands=FULFILLMENT_COMMANDS,
    results=FULFILLMENT_COMMAND_RESULTS,
    dead_letters=FULFILLMENT_DEAD_LETTERS,
    routes={},
)


def create(settings: Settings | None = None) -> FastStream:
    return create_app(definition, settings)
