"""The ledger service: its commands, queries and hold expiry, wired to the shared runtime."""

from __future__ import annotations

from faststream import FastStream

from contracts.ledger import (
    BindPointTransaction,
    CloseLedgerAccount,
    CommitPointTransaction,
    CreatePointTransaction,
    OpenLedgerAccount,
    ReplacePointTransaction,
    ReversePointTransaction,
    VoidPointTransaction,
)
from contracts.topics import (
    LEDGER_COMMAND_RESULTS,
    LEDGER_COMMANDS,
    LEDGER_DEAD_LETTERS,
    LEDGER_QUERIES,
)
from services.ledger import db, handlers, queries
from services.ledger.expiry import hold_expiry
from shared.runtime.commands import CommandRoute
from shared.runtime.routing import by_type
from shared.runtime.service import ServiceDefinition, create_app
from shared.runtime.settings import Settings

routes = by_type(
    CommandRoute(OpenLedgerAccount, handlers.open_account),
    CommandRoute(CloseLedgerAccount, handlers.close_account),
    CommandRoute(CreatePointTransaction, handlers.create_point_transaction, deferrable=True),
    CommandRoute(CommitPointTransaction, handlers.commit_point_transaction, deferrable=True),
    CommandRoute(VoidPointTransaction, handlers.void_point_transaction, deferrable=True),
    CommandRoute(BindPointTransaction, handlers.bind_point_transaction, deferrable=True),
    CommandRoute(ReplacePointTransaction, handlers.replace_point_transaction, deferrable=True),
    CommandRoute(ReversePointTransaction, handlers.reverse_point_transaction, deferrable=True),
)

definition = ServiceDefinition(
    name="ledger",
    commands=LEDGER_COMMANDS,
    results=LEDGER_COMMAND_RESULTS,
    dead_letters=LEDGER_DEAD_LETTERS,
    routes=routes,
    queries=LEDGER_QUERIES,
    query_routes=queries.query_routes,
    jobs=(hold_expiry,),
    prepare_batch=db.prepare_batch,
)


def create(settings: Settings | None = None) -> FastStream:
    return create_app(definition, settings)
