"""Apply each service's Alembic migrations to its own database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import services

SERVICES_DIR = Path(services.__file__).resolve().parent


def alembic_config(service: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(service: str, database_url: str) -> None:
    """Upgrade to head. Runs its own event loop: call it from a thread without one."""
    command.upgrade(alembic_config(service, database_url), "head")
