from services.ledger.db import metadata
from shared.runtime.alembic_env import run_migrations
from shared.runtime.messaging_tables import messaging_metadata

run_migrations("ledger", [metadata, messaging_metadata])
