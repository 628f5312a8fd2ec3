from services.store_credit.db import metadata
from shared.runtime.alembic_env import run_migrations
from shared.runtime.messaging_tables import messaging_metadata

run_migrations("store_credit", [metadata, messaging_metadata])
