"""The signers of a local system (``make run``): made once, kept in the git-ignored
``.local/secrets/actor-keys.json`` (mode 0600), read by every tool run beside it.

A deployment makes its own with ``storecredit keys`` and gives each process only
what it needs (shared/runtime/claims.py); this file is for one developer's machine.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from contracts.access import PRINCIPALS
from shared.runtime import claims, sealing
from shared.runtime.settings import SERVICES, Settings

SIGNERS_VARIABLE = "STORECREDIT_ACTOR_SIGNERS"
KEYS_VARIABLE = "STORECREDIT_ACTOR_KEYS"


def local_secret(name: str) -> str:
    """A secret for local use only, made once and kept in the git-ignored .local/secrets/."""
    from shared.tools.stack import PROJECT_ROOT

    path = PROJECT_ROOT / ".local" / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


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
    """Fill in the claim settings from the local keyset, and the connection to the local
    Kafka as its admin (when ``env`` names no other broker), unless ``env`` has its own."""
    _use_local_kafka(env)
    _use_local_sealing_key(env)
    if SIGNERS_VARIABLE in env and KEYS_VARIABLE in env:
        return
    keyset = local_keyset(create)
    if keyset is None:
        return
    env.setdefault(SIGNERS_VARIABLE, claims.signers_json(keyset))
    env.setdefault(KEYS_VARIABLE, claims.keys_json(keyset))


def _use_local_sealing_key(env: MutableMapping[str, str]) -> None:
    """The public key of the local store-credit service (made by ``make run``), to seal
    codes with, unless ``env`` names a key of its own."""
    if "STORECREDIT_CODE_SEAL_PUBLIC_KEY" in env or "STORECREDIT_CODE_SEAL_PRIVATE_KEY" in env:
        return
    env["STORECREDIT_CODE_SEAL_PUBLIC_KEY"] = sealing.public_key_for(
        local_secret("code-seal-private-key")
    )


def _use_local_kafka(env: MutableMapping[str, str]) -> None:
    from shared.tools import stack

    profile = stack.PROFILES["dev"]
    if env.get("KAFKA_BOOTSTRAP_SERVERS", profile.bootstrap_servers) != profile.bootstrap_servers:
        return
    for name, value in stack.client_environment(profile).items():
        env.setdefault(name, value)


def local_principal_passwords(create: bool) -> str | None:
    """STORECREDIT_KAFKA_PASSWORDS of the local system: a password per principal of
    contracts/access.py, made once (``.local/secrets/kafka-passwords.json``, 0600)."""
    path = keyset_path().with_name("kafka-passwords.json")
    if not path.exists():
        if not create:
            return None
        made = {p.name: secrets.token_urlsafe(18) for p in PRINCIPALS}
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(made, out)
    known: dict[str, str] = json.loads(path.read_text())
    missing = {p.name: secrets.token_urlsafe(18) for p in PRINCIPALS if p.name not in known}
    if missing and create:  # a principal added since (setup makes its user and ACLs)
        known.update(missing)
        path.write_text(json.dumps(known))
    return json.dumps(known)


def own_key_only(env: MutableMapping[str, str], service: str) -> None:
    """A service process signs as itself alone (its own key, none of the clients') and
    connects to Kafka as its own principal, as a deployment's would."""
    keys = claims.parse_keys(env.get(KEYS_VARIABLE))
    if service in keys:
        env[KEYS_VARIABLE] = json.dumps({service: keys[service]})
    passwords = env.pop("STORECREDIT_KAFKA_PASSWORDS", None)
    if passwords:
        principal = Settings(
            kafka_passwords=passwords, topic_prefix=env.get("STORECREDIT_TOPIC_PREFIX", "")
        ).as_principal(service)
        env.update(principal.kafka_environment())
