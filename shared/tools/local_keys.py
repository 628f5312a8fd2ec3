"""The signers of a local system (``make run``): made once, kept in the git-ignored
``.local/secrets/actor-keys.json`` (mode 0600), read by every tool run beside it.

A deployment makes its own with ``storecredit keys`` and gives each process only
what it needs (shared/runtime/claims.py); this file is for one developer's machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from shared.runtime import claims
from shared.runtime.settings import SERVICES

SIGNERS_VARIABLE = "STORECREDIT_ACTOR_SIGNERS"
KEYS_VARIABLE = "STORECREDIT_ACTOR_KEYS"


def keyset_path() -> Path:
    from shared.tools.stack import PROJECT_ROOT

    return PROJECT_ROOT / ".local" / "secrets" / "actor-keys.json"


def local_keyset(create: bool) -> dict[str, Any] | None:
    """The local keyset; made first if ``create`` (None when there is none and not)."""
    path = keyset_path()
    if path.exists():
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    if not create:
        return None
    keyset = claims.new_keyset(SERVICES)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(keyset, out, indent=2)
    return keyset


def use_local_keys(env: MutableMapping[str, str], *, create: bool = False) -> None:
    """Fill in the claim settings from the local keyset, unless ``env`` has its own."""
    if SIGNERS_VARIABLE in env and KEYS_VARIABLE in env:
        return
    keyset = local_keyset(create)
    if keyset is None:
        return
    env.setdefault(SIGNERS_VARIABLE, claims.signers_json(keyset))
    env.setdefault(KEYS_VARIABLE, claims.keys_json(keyset))


def own_key_only(env: MutableMapping[str, str], service: str) -> None:
    """A service process signs as itself alone: its own key, none of the clients'."""
    keys = claims.parse_keys(env.get(KEYS_VARIABLE))
    if service in keys:
        env[KEYS_VARIABLE] = json.dumps({service: keys[service]})
