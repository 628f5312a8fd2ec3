"""One idempotency key, one effect: read from each service's inbox.

A command's inbox row (consumer ``<service>.commands``) is written in the same
transaction as its effect and its result, so every such row has a result
filed under its own key. An *effect* is what an accepted command made that no
second command may make again (the second is refused: ``transaction_exists``,
``not_pending``, ``order_not_open``, ...); it is named in the accepted result's
``produced``. Two accepted results naming one effect mean it happened twice.
In the ledger every transaction, and every commit of a pending one, must also
have the accepted command that made it: an effect without a key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.fulfillment import RetryFulfillmentItem
from contracts.ledger import (
    CommitPointTransaction,
    CreatePointTransaction,
    ReplacePointTransaction,
    ReversePointTransaction,
    VoidPointTransaction,
)
from contracts.order import CancelOrder, CheckoutOrder, CreateOrder
from contracts.store_credit import CreatePointAccount, CreatePointAccountTemplate, CreateStoreCredit
from services.ledger.db import point_transactions as transactions
from shared.runtime.messaging_tables import inbox
from shared.runtime.settings import SERVICES
from shared.tools.invariants.model import LocalCheck, Scope, Violation, violation

EFFECTS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "ledger": (
        (CreatePointTransaction.message_type, ("transaction_id",)),
        (CommitPointTransaction.message_type, ("transaction_id",)),
        (VoidPointTransaction.message_type, ("transaction_id",)),
        (ReplacePointTransaction.message_type, ("transaction_id",)),
        (ReversePointTransaction.message_type, ("reversal_transaction_id",)),
    ),
    "store_credit": (
        (CreatePointAccountTemplate.message_type, ("template_id",)),
        (CreatePointAccount.message_type, ("account_id",)),
        (CreateStoreCredit.message_type, ("store_credit_id",)),
    ),
    "order": (
        (CreateOrder.message_type, ("order_id",)),
        (CheckoutOrder.message_type, ("order_id", "attempt")),
        (CancelOrder.message_type, ("order_id",)),
    ),
    "fulfillment": ((RetryFulfillmentItem.message_type, ("fulfillment_item_id", "attempt")),),
}
"""Per service: command type, and the fields of its ``produced`` naming its effect."""

_COMMANDS = inbox.c.consumer.like("%.commands")
_RESULT = inbox.c.result


def _accepted(command_type: str) -> ColumnElement[bool]:
    return and_(
        _COMMANDS,
        _RESULT["status"].astext == "accepted",
        _RESULT["command_type"].astext == command_type,
    )


def _produced(field: str) -> Any:
    return _RESULT["produced"][field].astext


async def results(connection: AsyncConnection, scope: Scope) -> list[Violation]:
    kind = func.coalesce(func.jsonb_typeof(_RESULT), "null")
    answered = _RESULT["idempotency_key"].astext
    rows = await connection.execute(
        select(
            inbox.c.consumer,
            inbox.c.idempotency_key,
            inbox.c.message_type,
            kind.label("kind"),
            answered.label("answered"),
        ).where(
            _COMMANDS,
            (kind != "object") | (answered.is_(None)) | (answered != inbox.c.idempotency_key),
        )
    )
    found = []
    for row in rows:
        missing = row.kind != "object"
        found.append(
            violation(
                "inbox_result_missing" if missing else "inbox_result_mismatch",
                scope.service,
                f"The {row.message_type} command with key {row.idempotency_key} "
                + (
                    "was taken in but has no result."
                    if missing
                    else f"has the result of key {row.answered}."
                ),
                consumer=row.consumer,
                idempotency_key=row.idempotency_key,
            )
        )
    return found


async def repeated_effects(connection: AsyncConnection, scope: Scope) -> list[Violation]:
    found = []
    for command_type, fields in EFFECTS.get(scope.service, ()):
        accepted = (
            select(inbox.c.idempotency_key, *(_produced(f).label(f) for f in fields))
            .where(_accepted(command_type))
            .subquery()
        )
        effect_columns = [accepted.c[field] for field in fields]
        keys = func.array_agg(accepted.c.idempotency_key)
        rows = await connection.execute(
            select(*effect_columns, func.count().label("times"), keys.label("keys"))
            .group_by(*effect_columns)
            .having(func.count() > 1)
        )
        for row in rows:
            effect = {field: getattr(row, field) for field in fields}
            shown = ", ".join(f"{k} {v}" for k, v in effect.items())
            found.append(
                violation(
                    "effect_repeated",
                    scope.service,
                    f"{row.times} {command_type} commands with different idempotency keys "
                    f"({', '.join(sorted(row.keys))}) were all accepted for {shown}.",
                    command_type=command_type,
                    **effect,
                )
            )
    return found


async def ledger_effects_have_keys(connection: AsyncConnection, _: Scope) -> list[Violation]:
    made = union_all(
        select(_produced("transaction_id").label("id")).where(
            _accepted(CreatePointTransaction.message_type)
        ),
        select(_produced("reversal_transaction_id").label("id")).where(
            _accepted(ReversePointTransaction.message_type)
        ),
        select(_produced("transaction_id").label("id")).where(
            _accepted(ReplacePointTransaction.message_type)
        ),
    ).subquery()
    committed = (
        select(_produced("transaction_id").label("id"))
        .where(_accepted(CommitPointTransaction.message_type))
        .subquery()
    )
    was_pending = transactions.c.committed_at > transactions.c.created_at
    rows = await connection.execute(
        union_all(
            select(transactions.c.id, literal("created").label("effect"))
            .select_from(transactions.outerjoin(made, made.c.id == transactions.c.id))
            .where(made.c.id.is_(None)),
            select(transactions.c.id, literal("committed").label("effect"))
            .select_from(transactions.outerjoin(committed, committed.c.id == transactions.c.id))
            .where(transactions.c.status == "committed", was_pending, committed.c.id.is_(None)),
        )
    )
    return [
        violation(
            "effect_without_command",
            "ledger",
            f"Point transaction {row.id} was {row.effect}, but no accepted command that "
            f"{'creates' if row.effect == 'created' else 'commits'} it is in the inbox.",
            transaction_id=row.id,
            effect=row.effect,
        )
        for row in rows
    ]


CHECKS = (
    LocalCheck(
        ("inbox_result_missing", "inbox_result_mismatch"),
        SERVICES,
        "every command taken in has its result, filed under its own idempotency key",
        results,
    ),
    LocalCheck(
        ("effect_repeated",),
        SERVICES,
        "no two accepted commands made the same effect (a transaction, a commit, a "
        "reversal, a store credit, an account, a checkout, ...)",
        repeated_effects,
    ),
    LocalCheck(
        ("effect_without_command",),
        ("ledger",),
        "every ledger transaction, and every commit of a pending one, was made by an "
        "accepted command recorded in the inbox",
        ledger_effects_have_keys,
    ),
)
