from services.store_credit.db import metadata
from shared.alembic_env import run_migrations
from shared.tables import messaging_metadata

run_migrations("store_credit", [metadata, messaging_metadata])
