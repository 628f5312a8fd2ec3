"""money safety: idempotency keys scoped to their actor; holds bound to the order they pay

2026-12-02

No transaction is bound before this revision, so NULL (not bound) is right for every
existing row.
"""

import sqlalchemy as sa
from alembic import op

from shared.runtime.messaging_tables import scope_inbox_keys, unscope_inbox_keys

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    scope_inbox_keys()
    op.add_column("point_transactions", sa.Column("bound_order_id", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("point_transactions", "bound_order_id")
    unscope_inbox_keys()
