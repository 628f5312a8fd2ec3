"""money safety: idempotency keys scoped to their actor; a fulfillment can be cancelled

2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from shared.runtime.messaging_tables import scope_inbox_keys, unscope_inbox_keys

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    scope_inbox_keys()
    op.add_column(
        "fulfillments", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("fulfillments", sa.Column("cancel_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("fulfillments", "cancel_reason")
    op.drop_column("fulfillments", "cancelled_at")
    unscope_inbox_keys()
