"""initial schema: inbox, outbox (2026-11-22)"""

from shared.runtime.messaging_tables import create_inbox_and_outbox as upgrade
from shared.runtime.messaging_tables import drop_inbox_and_outbox as downgrade

revision: str = "0001"
down_revision: str | None = None

__all__ = ["downgrade", "upgrade"]
