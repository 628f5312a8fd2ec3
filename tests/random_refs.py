"""Random ids, so tests never clean up and never collide."""

from __future__ import annotations

import uuid


def random_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
