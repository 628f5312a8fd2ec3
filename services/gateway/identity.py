"""Who is calling: a verified actor from a request's credentials, or a refusal.

Customers bring a bearer token from the shop's identity provider: a JWT whose
signature verifies against the provider's keys (``STORECREDIT_GATEWAY_JWKS``,
see ``jwks.py``), with the configured issuer and audience, not expired; its
holder claim (``sub`` by default) is the customer id. A token whose roles
claim holds ``STORECREDIT_GATEWAY_JWT_ADMIN_ROLE`` is an admin's
(``admin:<id>``), for back offices signed in with the same provider. There is
no identity provider here.

Back offices, the Dashboard and the shop's back end bring an API key,
``X-API-Key: <id>.<secret>``: the gateway keeps only the SHA-256 of each
secret and the actor it stands for (``admin:<id>`` or ``service:shop``), and
compares in constant time. A request with both, or with neither where one is
needed, is refused; the refusal never says which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.envelope import Actor, ActorKind, Identifier
from services.gateway.jwks import JwksSource
from shared.runtime.json_settings import named_specs
from shared.runtime.settings import Settings

API_KEY_HEADER = "x-api-key"
REFUSED_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})
"""Symmetric or no signatures: a public key must never verify an HMAC token."""
MAX_TOKEN_BYTES = 8_192
CLOCK_LEEWAY_S = 30


class NotSignedIn(Exception):
    """No credentials, or credentials that do not verify (401)."""


@dataclass(frozen=True)
class Caller:
    """A verified actor, and how it proved itself (``bearer`` or ``api_key``)."""

    actor: Actor
    via: str

    @property
    def is_customer(self) -> bool:
        return self.actor.kind is ActorKind.CUSTOMER


class ApiKeySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    actor: str = Field(pattern=r"^(admin:[A-Za-z0-9][A-Za-z0-9._:-]{0,127}|service:shop)$")

    def as_actor(self) -> Actor:
        kind, _, who = self.actor.partition(":")
        return Actor(kind=ActorKind(kind), id=who)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_api_keys(raw: str | None) -> dict[str, ApiKeySpec]:
    return named_specs(raw, ApiKeySpec, "STORECREDIT_GATEWAY_API_KEYS")


class Identities:
    """Verifies a request's credentials against the configured keys."""

    def __init__(self, settings: Settings) -> None:
        raw_keys = settings.gateway_api_keys
        self._api_keys = parse_api_keys(raw_keys.get_secret_value() if raw_keys else None)
        self.jwks = JwksSource(settings.gateway_jwks, settings.gateway_jwks_refresh_s)
        if self.jwks.configured and not (
            settings.gateway_jwt_issuer and settings.gateway_jwt_audience
        ):
            raise ValueError(
                "STORECREDIT_GATEWAY_JWKS needs STORECREDIT_GATEWAY_JWT_ISSUER and "
                "STORECREDIT_GATEWAY_JWT_AUDIENCE: a token for another audience must not do"
            )
        algorithms = [a.strip() for a in settings.gateway_jwt_algorithms.split(",") if a.strip()]
        if not algorithms or REFUSED_ALGORITHMS & set(algorithms):
            raise ValueError("STORECREDIT_GATEWAY_JWT_ALGORITHMS must name asymmetric ones only")
        self._algorithms = algorithms
        self._issuer = settings.gateway_jwt_issuer
        self._audience = settings.gateway_jwt_audience
        self._holder_claim = settings.gateway_jwt_customer_claim
        self._roles_claim = settings.gateway_jwt_roles_claim
        self._admin_role = settings.gateway_jwt_admin_role

    async def caller(self, authorization: str | None, api_key: str | None) -> Caller:
        """The verified caller of a request with these headers; NotSignedIn otherwise."""
        if authorization and api_key:
            raise NotSignedIn("Send a bearer token or an API key, not both.")
        if api_key:
            return Caller(self._by_api_key(api_key), "api_key")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotSignedIn("The Authorization header must be 'Bearer <token>'.")
            return Caller(await self._by_token(token.strip()), "bearer")
        raise NotSignedIn("Sign in: a bearer token (customers) or an API key.")

    def _by_api_key(self, presented: str) -> Actor:
        key_id, _, secret = presented.partition(".")
        spec = self._api_keys.get(key_id)
        # Compare with something even for an unknown id: the time says nothing of ids.
        expected = spec.sha256 if spec is not None else "0" * 64
        if not hmac.compare_digest(secret_hash(secret), expected) or spec is None:
            raise NotSignedIn("The API key is not valid.")
        return spec.as_actor()

    async def _by_token(self, token: str) -> Actor:
        if not self.jwks.configured:
            raise NotSignedIn("Signing in with a token is not configured here.")
        if len(token) > MAX_TOKEN_BYTES:
            raise NotSignedIn("The bearer token is not valid.")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self._algorithms:
                raise LookupError("algorithm not accepted")
            kid = header.get("kid")
            key = await self.jwks.key_fetching_if_unknown(kid if isinstance(kid, str) else None)
            if key is None:
                raise LookupError("no single key for the token's kid")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=CLOCK_LEEWAY_S,
                options={"require": ["exp", "iss", "aud", self._holder_claim]},
            )
        except (jwt.PyJWTError, LookupError):
            raise NotSignedIn("The bearer token is not valid.") from None
        kind = ActorKind.ADMIN if self._is_admin(claims) else ActorKind.CUSTOMER
        try:
            return Actor(kind=kind, id=_identifier(claims.get(self._holder_claim)))
        except (ValidationError, TypeError):
            raise NotSignedIn("The bearer token names no usable id.") from None

    def _is_admin(self, claims: dict[str, Any]) -> bool:
        if self._admin_role is None:
            return False
        value: Any = claims
        for step in self._roles_claim.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        roles = value.split() if isinstance(value, str) else value
        return isinstance(roles, list) and self._admin_role in roles


class _CustomerId(BaseModel):
    id: Identifier


def _identifier(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return _CustomerId(id=value).id
