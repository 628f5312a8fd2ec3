"""Random ids, so tests never clean up and never collide."""

from __future__ import annotations

import uuid


def random_id(prefix: str) -> str:
    """``prefix`` and 10 random hex digits between two letters: never a run of 12
    digits, which the services mask in every reason they give as a possible
    store-credit code (``shared.runtime.redaction``), whatever digits follow it."""
    return f"{prefix}-r{uuid.uuid4().hex[:10]}z"
