"""initial schema: inbox, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:06:18.437595
"""

from collections.abc import Sequence

from shared.runtime.messaging_tables import create_inbox_and_outbox, drop_inbox_and_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_inbox_and_outbox()


def downgrade() -> None:
    drop_inbox_and_outbox()
