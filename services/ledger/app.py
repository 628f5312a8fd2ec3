"""The ledger service: its commands, wired to the shared runtime."""

from __future__ import annotations

from faststream import FastStream

from contracts.ledger import CreatePointTransaction, OpenLedgerAccount
from contracts.topics import LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS, LEDGER_DEAD_LETTERS
from services.ledger import handlers
from shared.commands import CommandRoute
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings

definition = ServiceDefinition(
    name="ledger",
    commands=LEDGER_COMMANDS,
    results=LEDGER_COMMAND_RESULTS,
    dead_letters=LEDGER_DEAD_LETTERS,
    routes={
        OpenLedgerAccount.message_type: CommandRoute(OpenLedgerAccount, handlers.open_account),
        CreatePointTransaction.message_type: CommandRoute(
            CreatePointTransaction, handlers.create_point_transaction
        ),
    },
)


def create(settings: Settings | None = None) -> FastStream:
    return create_app(definition, settings)
