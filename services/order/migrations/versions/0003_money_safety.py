"""money safety: idempotency keys scoped to their actor, one use per pending transaction,
checkout binding every spend and hold in the ledger before OrderCheckedOut (2026-12-02)

Existing line items and applied credits record their transactions' uses, so a spend
targeted before the upgrade cannot pay for a second order after it. Copies of
transactions saved before have no owner (NULL): the ledger's events tell it for every
new one, and a point line item needs it.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.runtime.columns import created_at
from shared.runtime.messaging_tables import scope_inbox_keys, unscope_inbox_keys

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    scope_inbox_keys()
    op.add_column(
        "orders",
        sa.Column("checkout_attempt", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "orders", sa.Column("checkout_deadline", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "orders",
        sa.Column("checkout_failure", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("orders", sa.Column("payment_status", sa.Text(), nullable=True))
    op.add_column(
        "orders",
        sa.Column(
            "fulfillment_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
    )
    op.drop_constraint("orders_status", "orders", type_="check")
    op.create_check_constraint(
        "orders_status",
        "orders",
        "status IN ('open', 'checking_out', 'checked_out', 'cancelled', 'abandoned')",
    )
    op.create_index(
        "orders_checkout_deadline",
        "orders",
        ["checkout_deadline"],
        unique=False,
        postgresql_where=sa.text("status = 'checking_out'"),
    )
    op.create_table(
        "transaction_uses",
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("line_item_id", sa.Text(), nullable=True),
        sa.Column("application_id", sa.Text(), nullable=True),
        created_at(),
        sa.PrimaryKeyConstraint("transaction_id"),
    )
    op.execute(
        "INSERT INTO transaction_uses (transaction_id, order_id, line_item_id) "
        "SELECT transaction_id, order_id, id FROM line_items WHERE transaction_id IS NOT NULL "
        "ON CONFLICT DO NOTHING"
    )
    op.execute(
        "INSERT INTO transaction_uses (transaction_id, order_id, application_id) "
        "SELECT hold_transaction_id, order_id, id FROM applied_credits "
        "WHERE hold_transaction_id IS NOT NULL ON CONFLICT DO NOTHING"
    )
    op.create_table(
        "bindings",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("command_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('binding', 'bound', 'refused')", name="bindings_status"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("order_id", "attempt", "transaction_id"),
        sa.UniqueConstraint("command_id"),
    )
    op.add_column("applied_credits", sa.Column("authorized", sa.BigInteger(), nullable=True))
    op.add_column(
        "applied_credits",
        sa.Column("hold_generation", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "applied_credits", sa.Column("replacing_transaction_id", sa.Text(), nullable=True)
    )
    op.add_column("applied_credits", sa.Column("replacing_amount", sa.BigInteger(), nullable=True))
    op.add_column("pending_transactions", sa.Column("customer_id", sa.Text(), nullable=True))
    op.add_column("pending_transactions", sa.Column("kind", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("pending_transactions", "kind")
    op.drop_column("pending_transactions", "customer_id")
    for column in ("replacing_amount", "replacing_transaction_id", "hold_generation", "authorized"):
        op.drop_column("applied_credits", column)
    op.drop_table("bindings")
    op.drop_table("transaction_uses")
    op.drop_index(
        "orders_checkout_deadline",
        table_name="orders",
        postgresql_where=sa.text("status = 'checking_out'"),
    )
    op.execute("UPDATE orders SET status = 'open' WHERE status = 'checking_out'")
    op.drop_constraint("orders_status", "orders", type_="check")
    op.create_check_constraint(
        "orders_status", "orders", "status IN ('open', 'checked_out', 'cancelled', 'abandoned')"
    )
    op.drop_column("orders", "fulfillment_version")
    op.drop_column("orders", "payment_status")
    op.drop_column("orders", "checkout_failure")
    op.drop_column("orders", "checkout_deadline")
    op.drop_column("orders", "checkout_attempt")
    unscope_inbox_keys()
