from services.fulfillment.db import metadata
from shared.alembic_env import run_migrations
from shared.tables import messaging_metadata

run_migrations("fulfillment", [metadata, messaging_metadata])
