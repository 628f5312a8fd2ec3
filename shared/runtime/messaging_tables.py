"""The inbox and outbox tables, and the migration steps that make them. Every service
has both, in its own database, made by the same steps (its ``0001`` and later
revisions call them), so the schema comes from this one place."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.runtime.columns import created_at

messaging_metadata = MetaData()

# One row per idempotency key a consumer has handled, with its first result. A command's
# key is scoped to its actor (``customer:cust-1``); an event's (its message id) has none.
inbox = Table(
    "inbox",
    messaging_metadata,
    Column("consumer", Text, nullable=False),
    Column("scope", Text, nullable=False, server_default=text("''")),
    Column("idempotency_key", Text, nullable=False),
    Column("message_id", UUID(as_uuid=True), nullable=False),
    Column("message_type", Text, nullable=False),
    Column("payload_hash", Text, nullable=False),
    Column("result", JSONB, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "scope", "idempotency_key", name="inbox_pkey"),
    Index("inbox_received", "received_at", postgresql_using="brin"),
)


# Messages written with the effect that caused them, published after commit.
outbox = Table(
    "outbox",
    messaging_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("message_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("key", Text, nullable=True),
    Column("headers", JSONB, nullable=False),
    Column("value", LargeBinary, nullable=False),
    created_at(),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    # the value carries a secret, even sealed: the relay empties it once published
    Column("secret", Boolean, nullable=False, server_default=text("false")),
    Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("outbox_created", "created_at", postgresql_using="brin"),
)


# --- migration steps (called from each service's Alembic revisions) ----------------------------


def create_inbox_and_outbox() -> None:
    """The two tables as every service's first revision made them (later steps change
    them: :func:`scope_inbox_keys`)."""
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("message_type", sa.Text(), nullable=False),
        sa.Column("payload_hash", sa.Text(), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "idempotency_key", name="inbox_pkey"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        created_at(),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index(
        "outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def drop_inbox_and_outbox() -> None:
    op.drop_index(
        "outbox_unpublished", table_name="outbox", postgresql_where=sa.text("published_at IS NULL")
    )
    op.drop_table("outbox")
    op.drop_table("inbox")


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


def flag_secret_outbox_rows() -> None:
    """Outbox rows that carry a secret (a sealed code) are marked, so the relay can empty
    them once published; rows written before are not secret by this mark."""
    op.add_column(
        "outbox",
        sa.Column("secret", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def unflag_secret_outbox_rows() -> None:
    op.drop_column("outbox", "secret")


def index_for_retention() -> None:
    """BRIN indexes on the inbox's and outbox's time columns, for the retention sweep
    (``shared.runtime.retention``): rows arrive in time order, so a block range's summary
    finds the old rows, and an insert costs next to nothing."""
    op.create_index("inbox_received", "inbox", ["received_at"], postgresql_using="brin")
    op.create_index("outbox_created", "outbox", ["created_at"], postgresql_using="brin")


def drop_retention_indexes() -> None:
    op.drop_index("outbox_created", table_name="outbox")
    op.drop_index("inbox_received", table_name="inbox")
