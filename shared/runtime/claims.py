"""Actor claims: proof, on every command and query, of who vouches for its actor.

Kafka does not tell a consumer who produced a record, so an envelope's
``actor`` alone proves nothing. Every command and query therefore carries, in
its ``actor-claim`` header, a compact JWS (a JWT signed with Ed25519, ``alg``
``EdDSA``) by a **signer**: the storefront, the back office, an upstream
system, one of the four services. Its payload::

    {"sub": "customer:cust-1", "dig": "<base64url SHA-256 of the record's value>",
     "iat": 1764672000}

and its header names the signer (``kid``). A consumer accepts the message only
when the signer is known (``STORECREDIT_ACTOR_SIGNERS``), the signature is
good, ``dig`` is the digest of exactly the bytes it received (so a claim
cannot be moved to another message, and a message cannot be changed under
its claim), ``iat`` is at most ``STORECREDIT_ACTOR_CLAIM_MAX_AGE_S`` old and
not in the future, ``sub`` is the envelope's actor, and the signer may claim
that actor (its ``may_claim`` patterns: ``customer``, ``admin``, ``system``,
``service:<id>``, ``service:*``, ``system:<id>``). A replayed message is the
same message id: the inbox ignores it.

The answer to a message that fails: ``unauthenticated`` (no claim, a claim
that does not verify, an unknown signer, a claim for other bytes or another
actor) or ``forbidden`` (a good claim by a signer that may not speak for that
kind of actor). It is never handled, and nothing of it is recorded under the
idempotency key it claims (so a forgery cannot take a real client's key).

Any language makes a claim with its usual JWT library (``jose`` in
JavaScript, ``golang-jwt`` in Go, ``nimbus-jose-jwt`` in Java,
``firebase/php-jwt`` in PHP): hash the value bytes it is about to produce,
sign the payload above with its Ed25519 key and put the token in the header.

Keys are 32 bytes written as 64 hex characters (the raw Ed25519 seed, and the
raw public key). ``STORECREDIT_ACTOR_KEYS`` holds the private keys a process
may sign with, by signer name; a service signs what it sends with the key of
the signer of its own name.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import HEADER_ACTOR_CLAIM, Actor
from contracts.results import RejectionCode
from shared.runtime.json_settings import named_specs

CLAIM_HEADER = HEADER_ACTOR_CLAIM
ALGORITHM = "EdDSA"
UNAUTHENTICATED = RejectionCode.UNAUTHENTICATED.value
FORBIDDEN = RejectionCode.FORBIDDEN.value
MAX_CLAIM_BYTES = 2_048
CLOCK_SKEW_S = 300
"""How far in the future a claim's ``iat`` may be: clocks differ."""


class ClaimError(Exception):
    """A message whose actor is not vouched for: ``code`` and a sentence for its sender."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def new_private_key() -> str:
    """A new Ed25519 private key, as 64 hex characters."""
    return secrets.token_hex(32)


def public_key_for(private_key_hex: str) -> str:
    """The public key (64 hex characters) of a private key."""
    return _private(private_key_hex).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _private(key_hex: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_hex))


def _public(key_hex: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))


def digest(value: bytes) -> str:
    """What ``dig`` says of a record's value: base64url SHA-256, no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(value).digest()).rstrip(b"=").decode()


def subject(actor: Actor) -> str:
    return f"{actor.kind.value}:{actor.id}"


def covers(pattern: str, actor: Actor) -> bool:
    """Whether a ``may_claim`` pattern covers ``actor``: a kind (``customer``, any id of
    it), ``kind:id``, or ``kind:*``."""
    kind, _, which = pattern.partition(":")
    if kind != actor.kind.value:
        return False
    return which in ("", "*") or which == actor.id


class SignerSpec(BaseModel):
    """One signer as the verifiers know it: its public key and whom it may speak for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    may_claim: tuple[str, ...] = Field(min_length=1)

    def may_speak_for(self, actor: Actor) -> bool:
        return any(covers(pattern, actor) for pattern in self.may_claim)


def parse_signers(raw: str | None) -> dict[str, SignerSpec]:
    """``STORECREDIT_ACTOR_SIGNERS``: a JSON object, signer name to its spec."""
    return named_specs(raw, SignerSpec, "STORECREDIT_ACTOR_SIGNERS")


def parse_keys(raw: str | None) -> dict[str, str]:
    """``STORECREDIT_ACTOR_KEYS``: a JSON object, signer name to its private key (hex)."""
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except ValueError:
        raise ValueError("STORECREDIT_ACTOR_KEYS is not a JSON object") from None
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in loaded.items()
    ):
        raise ValueError("STORECREDIT_ACTOR_KEYS must map signer names to 64 hex characters")
    return dict(loaded)


@dataclass(frozen=True)
class Signer:
    """One signer's private key: it signs claims about the bytes it is about to send."""

    name: str
    private_key_hex: str

    def claim(self, value: bytes, actor: Actor, now: float | None = None) -> str:
        """The ``actor-claim`` header value for a record of ``value`` by ``actor``."""
        payload = {
            "sub": subject(actor),
            "dig": digest(value),
            "iat": int(time.time() if now is None else now),
        }
        return jwt.encode(
            payload, _private(self.private_key_hex), algorithm=ALGORITHM, headers={"kid": self.name}
        )


@functools.lru_cache(maxsize=64)
def signer_named(raw_keys: str | None, name: str) -> Signer:
    """The signer ``name`` of ``STORECREDIT_ACTOR_KEYS`` (a service's own, to sign what it
    sends); ValueError, saying what to set, when there is no key for it."""
    keys = parse_keys(raw_keys)
    if name not in keys:
        raise ValueError(
            f"STORECREDIT_ACTOR_KEYS has no key for the signer {name!r}: the {name} service "
            "signs the commands it sends with it (storecredit keys makes a set)"
        )
    return Signer(name, keys[name])


class Keyring:
    """The signers a client may sign as, and which of them vouches for which actor."""

    def __init__(self, keys: Mapping[str, str], signers: Mapping[str, SignerSpec]) -> None:
        self._keys = dict(keys)
        self._signers = dict(signers)

    def signer_for(self, actor: Actor) -> Signer:
        """The first signer of ours that may speak for ``actor`` (the order of the keys)."""
        for name, key in self._keys.items():
            spec = self._signers.get(name)
            if spec is not None and spec.may_speak_for(actor):
                return Signer(name, key)
        raise LookupError(
            f"none of the signers with a key here ({', '.join(self._keys) or 'none'}) may claim "
            f"{subject(actor)}: set STORECREDIT_ACTOR_KEYS and STORECREDIT_ACTOR_SIGNERS"
        )

    def claim(self, value: bytes, actor: Actor) -> str:
        return self.signer_for(actor).claim(value, actor)

    def headers(self, value: bytes, actor: Actor) -> dict[str, str]:
        return {CLAIM_HEADER: self.claim(value, actor)}


class Verifier:
    """Checks the claim on a record against the signers it knows."""

    def __init__(self, signers: Mapping[str, SignerSpec], max_age_s: float) -> None:
        self._signers = dict(signers)
        self._keys = {name: _public(spec.public_key) for name, spec in signers.items()}
        self._max_age_s = max_age_s

    def verify(
        self, value: bytes, headers: Iterable[tuple[str, bytes | None]], actor: Actor
    ) -> str:
        """The signer's name if its claim vouches for ``actor`` sending ``value``; raises
        :class:`ClaimError` otherwise."""
        token = _claim_header(headers)
        try:
            name = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise ClaimError(UNAUTHENTICATED, "The actor-claim header is not a JWS.") from None
        key = self._keys.get(name) if isinstance(name, str) else None
        if key is None or not isinstance(name, str):
            raise ClaimError(UNAUTHENTICATED, "The actor claim's signer (kid) is not known here.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "dig", "iat"], "verify_iat": False},
            )
        except jwt.PyJWTError as error:
            raise ClaimError(
                UNAUTHENTICATED, f"The actor claim does not verify ({type(error).__name__})."
            ) from None
        self._check(claims, value, actor)
        if not self._signers[name].may_speak_for(actor):
            raise ClaimError(
                FORBIDDEN, f"The signer {name} may not speak for a {actor.kind.value} actor."
            )
        return str(name)

    def _check(self, claims: Mapping[str, Any], value: bytes, actor: Actor) -> None:
        if claims.get("dig") != digest(value):
            raise ClaimError(UNAUTHENTICATED, "The actor claim is for other bytes than these.")
        if claims.get("sub") != subject(actor):
            raise ClaimError(UNAUTHENTICATED, "The actor claim names another actor.")
        issued = claims.get("iat")
        now = time.time()
        if not isinstance(issued, int) or issued > now + CLOCK_SKEW_S:
            raise ClaimError(UNAUTHENTICATED, "The actor claim's iat is not a time of the past.")
        if issued < now - self._max_age_s:
            raise ClaimError(UNAUTHENTICATED, "The actor claim is too old.")


def _claim_header(headers: Iterable[tuple[str, bytes | None]]) -> str:
    found = [value for name, value in headers if name == CLAIM_HEADER]
    if not found or not found[0]:
        raise ClaimError(
            UNAUTHENTICATED,
            "No actor-claim header: sign the actor (see the README's section on security).",
        )
    if len(found) > 1:
        raise ClaimError(UNAUTHENTICATED, "More than one actor-claim header.")
    raw = found[0]
    if len(raw) > MAX_CLAIM_BYTES:
        raise ClaimError(UNAUTHENTICATED, "The actor-claim header is too long.")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise ClaimError(UNAUTHENTICATED, "The actor-claim header is not ASCII.") from None


def service_grants(service: str) -> list[str]:
    """What a service's own signer may claim: itself, and its timers (``system``)."""
    return [f"service:{service}", f"system:{service}"]


CLIENT_GRANTS: dict[str, list[str]] = {
    "storefront": ["customer"],
    "back-office": ["admin"],
    "shop": ["service:shop"],
}
"""The outside signers of a deployment: the storefront speaks for customers, the back
office for admins, the shop's own back end for itself (prices, charges, payments)."""

GATEWAY_SIGNERS = ("storefront", "back-office", "shop")
"""Whose keys the HTTP gateway signs with: the storefront's for customers, the back
office's for admins, the shop's for service:shop; never a service's."""


def new_keyset(services: Iterable[str]) -> dict[str, dict[str, Any]]:
    """New signers for a deployment: each outside client's and each service's, with
    their private keys (``signers_json`` and ``keys_json`` split them)."""
    grants = {**CLIENT_GRANTS, **{service: service_grants(service) for service in services}}
    return {
        name: {"private_key": new_private_key(), "may_claim": may_claim}
        for name, may_claim in grants.items()
    }


def signers_json(keyset: Mapping[str, Mapping[str, Any]]) -> str:
    """``STORECREDIT_ACTOR_SIGNERS`` of a keyset: public keys and grants only."""
    return json.dumps(
        {
            name: {
                "public_key": public_key_for(entry["private_key"]),
                "may_claim": list(entry["may_claim"]),
            }
            for name, entry in keyset.items()
        },
        separators=(",", ":"),
    )


def keys_json(keyset: Mapping[str, Mapping[str, Any]], names: Iterable[str] | None = None) -> str:
    """``STORECREDIT_ACTOR_KEYS`` of a keyset: the private keys of ``names`` (all if None)."""
    wanted = set(keyset) if names is None else set(names)
    keys = {n: e["private_key"] for n, e in keyset.items() if n in wanted}
    return json.dumps(keys, separators=(",", ":"))
