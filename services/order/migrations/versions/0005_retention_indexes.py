"""retention indexes: BRIN on the inbox's received_at and the outbox's created_at, so the
retention sweep finds old idempotency keys and published rows cheaply

2026-12-03
"""

from shared.runtime.messaging_tables import drop_retention_indexes, index_for_retention

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    index_for_retention()


def downgrade() -> None:
    drop_retention_indexes()
