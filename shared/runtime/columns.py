"""The columns most tables carry: when a row was made and when it last changed.

Each call makes new ``Column`` objects, since a column belongs to one table. The
services' table declarations and their migrations both use these, so what a function
makes must never change once a migration has used it: a different column is a new
function.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, func


def created_at() -> Column[datetime]:
    """``created_at timestamptz NOT NULL DEFAULT now()``."""
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def timestamps() -> tuple[Column[datetime], Column[datetime]]:
    """``created_at`` and ``updated_at``, both ``timestamptz NOT NULL DEFAULT now()``."""
    updated_at = Column(
        "updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    return created_at(), updated_at
