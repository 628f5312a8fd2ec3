"""Migration steps every service shares (its inbox and outbox are the same tables)."""

from __future__ import annotations

from alembic import op


def scope_inbox_keys() -> None:
    """Idempotency keys scoped to their actor: the key of the inbox gains ``scope``.

    Rows recorded before have the empty scope (as events always do), so a command sent
    before the upgrade and retried after it is handled afresh: upgrade with the command
    topics drained (the services stopped after their consumers caught up).
    """
    op.execute("ALTER TABLE inbox ADD COLUMN scope text NOT NULL DEFAULT ''")
    op.execute("ALTER TABLE inbox DROP CONSTRAINT inbox_pkey")
    op.execute(
        "ALTER TABLE inbox ADD CONSTRAINT inbox_pkey PRIMARY KEY (consumer, scope, idempotency_key)"
    )


def unscope_inbox_keys() -> None:
    op.execute("DELETE FROM inbox WHERE scope <> ''")
    op.execute("ALTER TABLE inbox DROP CONSTRAINT inbox_pkey")
    op.execute(
        "ALTER TABLE inbox ADD CONSTRAINT inbox_pkey PRIMARY KEY (consumer, idempotency_key)"
    )
    op.execute("ALTER TABLE inbox DROP COLUMN scope")
