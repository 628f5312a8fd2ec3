"""The gateway of a local system (``make run``) and how to sign in to it.

Everything is made once and kept in the git-ignored ``.local/secrets/``:

- a local identity provider, an ES256 key (``local-idp-key.pem``): its public half is the
  gateway's JWKS, and ``storecredit token CUSTOMER_ID`` signs a customer's bearer token;
- the local admin's and the shop's API keys (``local-admin`` for ``admin:local-admin``,
  ``local-shop`` for ``service:shop``): ``storecredit token --admin`` and ``--shop`` print
  the ``X-API-Key`` value;
- the key operation ids are signed with.

A deployment has an identity provider of its own, and makes API keys with
``storecredit api-key ACTOR``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import MutableMapping

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.runtime import claims
from shared.tools.local_keys import local_secret

ISSUER = "http://127.0.0.1/local-identity-provider"
AUDIENCE = "storecredit-gateway"
KID = "local-idp-1"
TOKEN_LIFE_S = 12 * 3_600
LOCAL_API_KEYS = {"local-admin": "admin:local-admin", "local-shop": "service:shop"}


def _identity_key() -> ec.EllipticCurvePrivateKey:
    from shared.tools.stack import PROJECT_ROOT

    path = PROJECT_ROOT / ".local" / "secrets" / "local-idp-key.pem"
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return loaded


def local_jwks() -> str:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(_identity_key().public_key()))
    return json.dumps({"keys": [{**public, "kid": KID, "alg": "ES256", "use": "sig"}]})


def customer_token(customer_id: str, life_s: int = TOKEN_LIFE_S) -> str:
    """A bearer token of the local identity provider for ``customer_id``."""
    now = int(time.time())
    payload = {"sub": customer_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + life_s}
    return jwt.encode(payload, _identity_key(), algorithm="ES256", headers={"kid": KID})


def local_api_key(key_id: str) -> str:
    """The ``X-API-Key`` value of a local API key (``local-admin`` or ``local-shop``)."""
    return f"{key_id}.{local_secret(f'gateway-api-key-{key_id}')}"


def api_key_entry(key_id: str, secret: str, actor: str) -> dict[str, dict[str, str]]:
    """One entry of STORECREDIT_GATEWAY_API_KEYS: the secret's hash and its actor."""
    from services.gateway.identity import secret_hash

    return {key_id: {"sha256": secret_hash(secret), "actor": actor}}


def new_api_key(actor: str) -> tuple[str, dict[str, dict[str, str]]]:
    """A new API key for ``actor``: what its holder sends, and the gateway's entry."""
    key_id, secret = f"key-{secrets.token_hex(4)}", secrets.token_urlsafe(32)
    return f"{key_id}.{secret}", api_key_entry(key_id, secret, actor)


def use_local_gateway(env: MutableMapping[str, str]) -> None:
    """The local gateway's settings (those ``env`` does not set already; nothing is made
    for a setting it has)."""
    if "STORECREDIT_GATEWAY_JWKS" not in env:
        env["STORECREDIT_GATEWAY_JWKS"] = local_jwks()
        env.setdefault("STORECREDIT_GATEWAY_JWT_ISSUER", ISSUER)
        env.setdefault("STORECREDIT_GATEWAY_JWT_AUDIENCE", AUDIENCE)
    if "STORECREDIT_GATEWAY_API_KEYS" not in env:
        entries: dict[str, dict[str, str]] = {}
        for key_id, actor in LOCAL_API_KEYS.items():
            secret = local_api_key(key_id).split(".", 1)[1]
            entries.update(api_key_entry(key_id, secret, actor))
        env["STORECREDIT_GATEWAY_API_KEYS"] = json.dumps(entries)
    if "STORECREDIT_GATEWAY_OPERATION_KEY" not in env:
        env["STORECREDIT_GATEWAY_OPERATION_KEY"] = local_secret("gateway-operation-key")


def gateway_signing_keys(env: MutableMapping[str, str]) -> None:
    """The gateway signs as the outside clients, never as a service."""
    keys = claims.parse_keys(env.get("STORECREDIT_ACTOR_KEYS"))
    env["STORECREDIT_ACTOR_KEYS"] = json.dumps(
        {name: key for name, key in keys.items() if name in claims.GATEWAY_SIGNERS}
    )
