"""secret outbox rows: a row that carries a sealed code or token is emptied once published

2026-12-02
"""

from shared.runtime.messaging_tables import flag_secret_outbox_rows, unflag_secret_outbox_rows

revision: str = "0007"
down_revision: str | None = "0006"


def upgrade() -> None:
    flag_secret_outbox_rows()


def downgrade() -> None:
    unflag_secret_outbox_rows()
