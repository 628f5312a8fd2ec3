"""Settings whose value is a JSON object of named specs (signers, API keys)."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Spec = TypeVar("Spec", bound=BaseModel)


def named_specs(raw: str | None, spec: type[Spec], setting: str) -> dict[str, Spec]:
    """``raw`` as a JSON object, each name to a ``spec``; ValueError naming ``setting``."""
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise ValueError("not a JSON object")
        return {str(name): spec.model_validate(value) for name, value in loaded.items()}
    except (ValueError, ValidationError) as error:
        raise ValueError(f"{setting} is not valid: {error}") from None
