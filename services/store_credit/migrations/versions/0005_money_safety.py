"""money safety: idempotency keys scoped to their actor (2026-12-02)"""

from shared.runtime.messaging_tables import scope_inbox_keys, unscope_inbox_keys

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    scope_inbox_keys()


def downgrade() -> None:
    unscope_inbox_keys()
