"""money safety: idempotency keys scoped to their actor

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

from shared.runtime.messaging_tables import scope_inbox_keys, unscope_inbox_keys

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    scope_inbox_keys()


def downgrade() -> None:
    unscope_inbox_keys()
