"""A batch's deferred writes in one statement: its new transaction rows, their postings,
the changes of the transactions it altered and the accounts' new balances (four round
trips before, one statement per table).

Each part is a data-modifying ``WITH`` taking its rows as arrays (``unnest``); a part with
no rows does nothing. All parts see the database as it was before the statement, so a
transaction created by this very statement cannot be changed by it: its change is written
by a statement of its own after it (a hold and its commit in one batch). New rows go in in
the order added (``WITH ORDINALITY``): the transactions' ``seq`` and the postings' ids
follow the order of the commands, as they did. The postings' foreign keys are checked at
the end of the statement, when the transactions they name are there.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

WRITE_BATCH = text(
    """
    WITH new_transactions AS (
        INSERT INTO point_transactions (
            id, account_id, unit, amount, kind, status, committed_amount, committed_at,
            description, "references", metadata, expires_at, reverses, created_by,
            correlation_id, bound_order_id
        )
        SELECT
            id, account_id, unit, amount, kind, status, committed_amount,
            CASE WHEN is_committed THEN now() END,
            description, "references"::jsonb, metadata::jsonb, expires_at, reverses,
            created_by, correlation_id, bound_order_id
        FROM unnest(
            CAST(:t_id AS text[]), CAST(:t_account_id AS text[]), CAST(:t_unit AS text[]),
            CAST(:t_amount AS bigint[]), CAST(:t_kind AS text[]), CAST(:t_status AS text[]),
            CAST(:t_committed_amount AS bigint[]), CAST(:t_is_committed AS boolean[]),
            CAST(:t_description AS text[]), CAST(:t_references AS text[]),
            CAST(:t_metadata AS text[]), CAST(:t_expires_at AS timestamptz[]),
            CAST(:t_reverses AS text[]), CAST(:t_created_by AS text[]),
            CAST(:t_correlation_id AS text[]), CAST(:t_bound_order_id AS text[])
        ) WITH ORDINALITY AS t(
            id, account_id, unit, amount, kind, status, committed_amount, is_committed,
            description, "references", metadata, expires_at, reverses, created_by,
            correlation_id, bound_order_id, position
        )
        ORDER BY position
    ),
    new_postings AS (
        INSERT INTO postings (transaction_id, account_id, unit, amount)
        SELECT transaction_id, account_id, unit, amount
        FROM unnest(
            CAST(:p_transaction_id AS text[]), CAST(:p_account_id AS text[]),
            CAST(:p_unit AS text[]), CAST(:p_amount AS bigint[])
        ) WITH ORDINALITY AS p(transaction_id, account_id, unit, amount, position)
        ORDER BY position
    ),
    changed_transactions AS (
        UPDATE point_transactions SET
            status = c.status,
            committed_amount = c.committed_amount,
            reversed_amount = c.reversed_amount,
            bound_order_id = c.bound_order_id,
            committed_at = CASE WHEN c.committed THEN now()
                ELSE point_transactions.committed_at END,
            voided_at = CASE WHEN c.voided THEN now() ELSE point_transactions.voided_at END,
            void_reason = coalesce(c.void_reason, point_transactions.void_reason)
        FROM unnest(
            CAST(:c_id AS text[]), CAST(:c_status AS text[]),
            CAST(:c_committed_amount AS bigint[]), CAST(:c_reversed_amount AS bigint[]),
            CAST(:c_bound_order_id AS text[]), CAST(:c_committed AS boolean[]),
            CAST(:c_voided AS boolean[]), CAST(:c_void_reason AS text[])
        ) AS c(
            id, status, committed_amount, reversed_amount, bound_order_id, committed, voided,
            void_reason
        )
        WHERE point_transactions.id = c.id
    ),
    balances AS (
        UPDATE ledger_accounts SET
            balance = b.balance, holds = b.holds, version = b.version, updated_at = now()
        FROM unnest(
            CAST(:b_id AS text[]), CAST(:b_balance AS bigint[]), CAST(:b_holds AS bigint[]),
            CAST(:b_version AS bigint[])
        ) AS b(id, balance, holds, version)
        WHERE ledger_accounts.id = b.id
    )
    SELECT 1
    """
)
"""Every part runs to completion whether or not the final ``SELECT`` reads it."""

_TRANSACTION_COLUMNS = (
    "id",
    "account_id",
    "unit",
    "amount",
    "kind",
    "status",
    "committed_amount",
    "is_committed",
    "description",
    "references",
    "metadata",
    "expires_at",
    "reverses",
    "created_by",
    "correlation_id",
    "bound_order_id",
)
_JSON_COLUMNS = {"references", "metadata"}
_POSTING_COLUMNS = ("transaction_id", "account_id", "unit", "amount")
_CHANGE_COLUMNS = (
    "id",
    "status",
    "committed_amount",
    "reversed_amount",
    "bound_order_id",
    "committed",
    "voided",
    "void_reason",
)
_BALANCE_COLUMNS = ("id", "balance", "holds", "version")


def parameters(
    transactions: list[dict[str, Any]],
    postings: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    balances: list[dict[str, Any]],
) -> dict[str, list[Any]]:
    """The arrays of :data:`WRITE_BATCH`, one per column, from rows as dicts: transactions
    as ``db._transaction_row`` makes them, postings as inserted, changes and balances
    keyed by the columns above."""
    found: dict[str, list[Any]] = {}
    for column in _TRANSACTION_COLUMNS:
        values = [row[column] for row in transactions]
        if column in _JSON_COLUMNS:
            values = [json.dumps(value) for value in values]
        found[f"t_{column}"] = values
    for prefix, columns, rows in (
        ("p", _POSTING_COLUMNS, postings),
        ("c", _CHANGE_COLUMNS, changes),
        ("b", _BALANCE_COLUMNS, balances),
    ):
        for column in columns:
            found[f"{prefix}_{column}"] = [row[column] for row in rows]
    return found
