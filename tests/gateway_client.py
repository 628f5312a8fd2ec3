"""The gateway as its own process for tests, and the credentials its callers sign in with.

The identity provider is played here: an ES256 key whose public half is the gateway's
JWKS, and tokens for any customer. API keys for an admin and for the shop's back end
are made as ``storecredit api-key`` makes them (only their hashes go to the gateway).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from services.gateway.identity import secret_hash
from shared.runtime import claims
from shared.runtime.settings import Settings
from shared.tools.bench.ledger_process import free_port

ISSUER = "https://id.shop.test/"
AUDIENCE = "storecredit-gateway"
KID = "test-key-1"


@dataclass
class IdentityProvider:
    """Signs customers' tokens; ``jwks`` is what the gateway verifies them with."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def jwks(self) -> str:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return json.dumps({"keys": [{**public, "kid": KID, "alg": "ES256", "use": "sig"}]})

    def token(self, customer_id: str, *, life_s: int = 600, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "sub": customer_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + life_s,
        }
        claims.update(overrides)
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": KID})

    def bearer(self, customer_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(customer_id)}"}


@dataclass
class ApiKey:
    key_id: str
    secret: str
    actor: str

    @property
    def header(self) -> dict[str, str]:
        return {"X-API-Key": f"{self.key_id}.{self.secret}"}


def new_api_key(actor: str) -> ApiKey:
    return ApiKey(f"key-{secrets.token_hex(4)}", secrets.token_urlsafe(24), actor)


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    identity: IdentityProvider
    admin: ApiKey
    shop: ApiKey

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def gateway_environment(
    settings: Settings, port: int, identity: IdentityProvider, keys: list[ApiKey], **extra: str
) -> dict[str, str]:
    client_keys = json.loads(
        settings.actor_keys.get_secret_value() if settings.actor_keys else "{}"
    )
    signing = {name: client_keys[name] for name in claims.GATEWAY_SIGNERS}
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        **settings.as_principal("gateway").kafka_environment(),
        "STORECREDIT_TOPIC_PREFIX": settings.topic_prefix,
        "STORECREDIT_ACTOR_SIGNERS": settings.actor_signers or "{}",
        "STORECREDIT_ACTOR_KEYS": json.dumps(signing),
        "STORECREDIT_CODE_SEAL_PUBLIC_KEY": settings.code_seal_public_key_hex(),
        "STORECREDIT_GATEWAY_PORT": str(port),
        "STORECREDIT_GATEWAY_JWKS": identity.jwks,
        "STORECREDIT_GATEWAY_JWT_ISSUER": ISSUER,
        "STORECREDIT_GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "STORECREDIT_GATEWAY_API_KEYS": json.dumps(
            {k.key_id: {"sha256": secret_hash(k.secret), "actor": k.actor} for k in keys}
        ),
        "STORECREDIT_GATEWAY_OPERATION_KEY": secrets.token_urlsafe(32),
        "STORECREDIT_GATEWAY_CORS_ORIGINS": "https://shop.test",
        "STORECREDIT_LOG_FORMAT": "json",
        **extra,
    }


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextmanager
def gateway_process(settings: Settings, logs: Path, **extra: str) -> Iterator[Gateway]:
    """The gateway on the system of ``settings``, ready, stopped after the block."""
    port = free_port()
    identity = IdentityProvider()
    admin, shop = new_api_key("admin:back-office-1"), new_api_key("service:shop")
    log = logs / f"gateway-{port}.log"
    env = gateway_environment(settings, port, identity, [admin, shop], **extra)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    gateway = Gateway(url, process, log, identity, admin, shop)
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not get ready:\n{gateway.log_tail()}")
            time.sleep(0.2)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def until(check: Any, timeout: float = 60.0, pause: float = 0.3) -> Any:
    """The first truthy value of the awaitable ``check()`` within ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(pause)
