"""Who the gateway lets in: customers' and admins' bearer tokens (keys inline or at a
JWKS URL, rotated without a restart) and API keys; everything else refused alike."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contracts.envelope import ActorKind
from services.gateway import jwks
from services.gateway.identity import Identities, NotSignedIn, secret_hash
from shared.runtime.settings import Settings
from tests.gateway_client import AUDIENCE, ISSUER, IdentityProvider, new_api_key


def identities(keys: str, **more: Any) -> Identities:
    return Identities(
        Settings(
            gateway_jwks=keys, gateway_jwt_issuer=ISSUER, gateway_jwt_audience=AUDIENCE, **more
        )
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


async def test_a_customer_token_signs_in_its_subject_as_a_customer() -> None:
    idp = IdentityProvider()
    caller = await identities(idp.jwks).caller(bearer(idp.token("ada")), None)
    assert (caller.actor.kind, caller.actor.id, caller.via) == (ActorKind.CUSTOMER, "ada", "bearer")


@pytest.mark.parametrize(
    ("roles_claim", "claims"),
    [
        ("roles", {"roles": ["staff", "storecredit-admin"]}),
        ("scope", {"scope": "openid storecredit-admin"}),
        ("realm_access.roles", {"realm_access": {"roles": ["storecredit-admin"]}}),
    ],
)
async def test_a_token_with_the_admin_role_is_an_admins(
    roles_claim: str, claims: dict[str, Any]
) -> None:
    idp = IdentityProvider()
    gate = identities(
        idp.jwks,
        gateway_jwt_admin_role="storecredit-admin",
        gateway_jwt_roles_claim=roles_claim,
    )
    caller = await gate.caller(bearer(idp.token("grace", **claims)), None)
    assert (caller.actor.kind, caller.actor.id) == (ActorKind.ADMIN, "grace")
    plain = await gate.caller(bearer(idp.token("ada", roles=["storecredit-admin-not"])), None)
    assert plain.actor.kind is ActorKind.CUSTOMER


async def test_roles_make_no_admin_unless_an_admin_role_is_configured() -> None:
    idp = IdentityProvider()
    caller = await identities(idp.jwks).caller(bearer(idp.token("x", roles=["admin"])), None)
    assert caller.actor.kind is ActorKind.CUSTOMER


def _hmac_signed(claims: dict[str, Any], secret: bytes) -> str:
    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "test-key-1"}).encode())
    body = part(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(signature)}"


def _forged(idp: IdentityProvider) -> list[str]:
    now = int(time.time())
    good = {"sub": "ada", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}
    other = IdentityProvider()
    public_pem = idp.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return [
        jwt.encode(good, None, algorithm="none"),
        _hmac_signed(good, public_pem),  # the public key as an HMAC secret
        other.token("ada"),  # another provider's key under the same kid
        idp.token("ada", aud="another-service"),
        idp.token("ada", iss="https://evil.test/"),
        idp.token("ada", exp=now - 3600),
        idp.token("ada", sub=["ada"]),
        idp.token("ada", sub="a b/../c"),
        idp.token("ada") + "x",
        "not.a.token",
        "x" * 9000,
    ]


async def test_forged_odd_or_stale_tokens_are_refused_alike() -> None:
    idp = IdentityProvider()
    gate = identities(idp.jwks)
    for token in _forged(idp):
        with pytest.raises(NotSignedIn):
            await gate.caller(bearer(token), None)


async def test_api_keys_sign_in_their_actor_and_nothing_else_does() -> None:
    admin, shop = new_api_key("admin:desk-1"), new_api_key("service:shop")
    keys = {k.key_id: {"sha256": secret_hash(k.secret), "actor": k.actor} for k in (admin, shop)}
    gate = Identities(Settings(gateway_api_keys=json.dumps(keys)))
    caller = await gate.caller(None, admin.header["X-API-Key"])
    assert (caller.actor.kind, caller.actor.id) == (ActorKind.ADMIN, "desk-1")
    assert (await gate.caller(None, shop.header["X-API-Key"])).actor.kind is ActorKind.SERVICE
    for wrong in (f"{admin.key_id}.{shop.secret}", f"nobody.{admin.secret}", admin.key_id, ""):
        with pytest.raises(NotSignedIn):
            await gate.caller(None, wrong)
    with pytest.raises(NotSignedIn, match="not both"):
        await gate.caller("Bearer x", admin.header["X-API-Key"])
    with pytest.raises(NotSignedIn, match="not configured"):
        await gate.caller("Bearer x", None)


class _Keys:
    """A JWKS URL on 127.0.0.1 whose document can change, counting its fetches."""

    def __init__(self, document: str) -> None:
        self.document, self.fetches = document, 0
        keys = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keys.fetches += 1
                body = keys.document.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def served() -> Iterator[tuple[_Keys, IdentityProvider]]:
    idp = IdentityProvider()
    keys = _Keys(idp.jwks)
    yield keys, idp
    keys.server.shutdown()


async def test_keys_at_a_url_are_fetched_and_a_rotation_needs_no_restart(
    served: tuple[_Keys, IdentityProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, idp = served
    gate = identities(keys.url)
    await gate.jwks.fetch()
    assert (await gate.caller(bearer(idp.token("ada")), None)).actor.id == "ada"
    assert keys.fetches == 1

    rotated = IdentityProvider()
    document = json.loads(rotated.jwks)
    document["keys"][0]["kid"] = "test-key-2"
    keys.document = json.dumps(document)
    token = jwt.encode(
        {"sub": "bo", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
        rotated.key,
        algorithm="ES256",
        headers={"kid": "test-key-2"},
    )
    with pytest.raises(NotSignedIn):  # an unknown kid fetches at most every 30 s
        await gate.caller(bearer(token), None)
    assert keys.fetches == 1
    monkeypatch.setattr(jwks, "REFETCH_AFTER_UNKNOWN_S", 0.0)
    assert (await gate.caller(bearer(token), None)).actor.id == "bo"
    assert keys.fetches == 2
    with pytest.raises(NotSignedIn):  # the old key is gone with the old document
        await gate.caller(bearer(idp.token("ada")), None)


async def test_a_failed_fetch_keeps_the_keys_there_were(
    served: tuple[_Keys, IdentityProvider],
) -> None:
    keys, idp = served
    gate = identities(keys.url)
    await gate.jwks.fetch()
    keys.server.shutdown()
    keys.server.server_close()
    await gate.jwks.fetch()
    assert (await gate.caller(bearer(idp.token("ada")), None)).actor.id == "ada"


def test_keys_in_clear_from_another_host_are_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        identities("http://id.shop.test/jwks.json")
    assert jwks.jwks_url("https://id.shop.test/jwks.json") == "https://id.shop.test/jwks.json"
    assert jwks.jwks_url('{"keys": []}') is None
