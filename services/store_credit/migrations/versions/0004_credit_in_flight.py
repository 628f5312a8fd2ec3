"""store credits remember the credit the ledger has not reported yet (2026-11-22)

A credit issued before this column existed has long been reported by the
ledger, so NULL (nothing in flight) is right for every existing row.
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.add_column("store_credits", sa.Column("credit_in_flight", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("store_credits", "credit_in_flight")
