"""The last writes of a batch of commands in one statement: the results its inbox keys
are bound to, and the outbox rows of what it publishes (two round trips before).

Both are known only once every command of the batch was handled, and neither reads what
the other writes, so one statement holds both: an ``UPDATE`` of the inbox in a ``WITH``
before the ``INSERT`` into the outbox, each taking its rows as arrays. The outbox rows
are inserted in the order they were added (``WITH ORDINALITY``), so their ids, and the
relay's order per key, are the same as when each had its own statement.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.runtime.inbox import BatchInbox
from shared.runtime.outbox import BatchRows, written_rows

_RESULTS_AND_ROWS = text(
    """
    WITH bound AS (
        UPDATE inbox SET message_id = given.message_id, result = given.result
        FROM unnest(
            CAST(:scopes AS text[]),
            CAST(:keys AS text[]),
            CAST(:bound_ids AS uuid[]),
            CAST(:results AS text[])::jsonb[]
        ) AS given(scope, idempotency_key, message_id, result)
        WHERE inbox.consumer = :consumer
            AND inbox.scope = given.scope
            AND inbox.idempotency_key = given.idempotency_key
    )
    INSERT INTO outbox (message_id, topic, key, headers, value, secret)
    SELECT message_id, topic, key, headers, value, secret
    FROM unnest(
        CAST(:message_ids AS uuid[]),
        CAST(:topics AS text[]),
        CAST(:row_keys AS text[]),
        CAST(:headers AS text[])::jsonb[],
        CAST(:values AS bytea[]),
        CAST(:secrets AS boolean[])
    ) WITH ORDINALITY AS added(message_id, topic, key, headers, value, secret, position)
    ORDER BY position
    ON CONFLICT (message_id) DO NOTHING
    RETURNING id, message_id
    """
)
"""A message id already in the outbox is the same message written again: kept once (as
``outbox.add`` does)."""


async def write_results_and_rows(
    session: AsyncSession, claims: BatchInbox, rows: BatchRows
) -> None:
    """Write what ``claims`` bound and the ``rows``: in one statement if there are both."""
    if not (claims.bound_unwritten and rows.rows):
        await claims.flush(session)
        await rows.flush(session)
        return
    bound, added = claims.take_bound(), rows.take()
    ids = await session.execute(
        _RESULTS_AND_ROWS,
        {
            "consumer": claims.consumer,
            "scopes": [entry["bound_scope"] for entry in bound],
            "keys": [entry["key"] for entry in bound],
            "bound_ids": [entry["bound_id"] for entry in bound],
            "results": [json.dumps(entry["bound_result"]) for entry in bound],
            "message_ids": [row["message_id"] for row in added],
            "topics": [row["topic"] for row in added],
            "row_keys": [row["key"] for row in added],
            "headers": [json.dumps(row["headers"]) for row in added],
            "values": [row["value"] for row in added],
            "secrets": [row["secret"] for row in added],
        },
    )
    rows.written += written_rows(added, ids)
