"""initial schema: inbox, outbox, accounts, transactions, postings (2026-11-22)"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.runtime.columns import created_at, timestamps
from shared.runtime.messaging_tables import create_inbox_and_outbox, drop_inbox_and_outbox

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("allow_negative", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("negative_limit", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'open'"), nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("holds", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        *timestamps(),
        sa.CheckConstraint("kind IN ('customer', 'system')", name="ledger_accounts_kind"),
        sa.CheckConstraint("holds >= 0", name="ledger_accounts_holds_not_negative"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "point_transactions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "references",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        created_at(),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount <> 0", name="point_transactions_amount_not_zero"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "point_transactions_account",
        "point_transactions",
        ["account_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "postings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        created_at(),
        sa.CheckConstraint("amount <> 0", name="postings_amount_not_zero"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["point_transactions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("postings_account", "postings", ["account_id"], unique=False)
    op.create_index("postings_transaction", "postings", ["transaction_id"], unique=False)
    create_inbox_and_outbox()


def downgrade() -> None:
    drop_inbox_and_outbox()
    op.drop_index("postings_transaction", table_name="postings")
    op.drop_index("postings_account", table_name="postings")
    op.drop_table("postings")
    op.drop_index("point_transactions_account", table_name="point_transactions")
    op.drop_table("point_transactions")
    op.drop_table("ledger_accounts")
