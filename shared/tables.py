"""The inbox and outbox tables. Every service has both, in its own database."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
)
