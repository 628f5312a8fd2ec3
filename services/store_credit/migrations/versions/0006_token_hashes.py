"""store-credit tokens kept as SHA-256 hashes, never in clear (2026-12-02)

A token is 256 random bits, so an unkeyed SHA-256 is as good as a keyed hash
and can be taken in SQL. A downgrade cannot bring the old tokens back: it
gives every credit a new random one.
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.add_column("store_credits", sa.Column("token_hash", sa.Text(), nullable=True))
    op.execute(
        "UPDATE store_credits SET token_hash = encode(sha256(convert_to(token, 'UTF8')), 'hex')"
    )
    op.alter_column("store_credits", "token_hash", nullable=False)
    op.create_unique_constraint("store_credits_token_hash_key", "store_credits", ["token_hash"])
    op.drop_column("store_credits", "token")


def downgrade() -> None:
    op.add_column("store_credits", sa.Column("token", sa.Text(), nullable=True))
    op.execute("UPDATE store_credits SET token = md5(random()::text) || md5(random()::text)")
    op.alter_column("store_credits", "token", nullable=False)
    op.create_unique_constraint("store_credits_token_key", "store_credits", ["token"])
    op.drop_column("store_credits", "token_hash")
