from shared.alembic_env import run_migrations
from shared.tables import messaging_metadata

run_migrations("store_credit", [messaging_metadata])
