"""Sealed codes: a store-credit code encrypted so that only its reader can open it.

A store-credit code is a bearer secret. It never travels in clear: the shop
seals a customer's code (``ApplyStoreCredit``, ``FindStoreCredit``, a supplied
code in ``CreateStoreCredit``) with the store-credit service's public key
before it publishes it; the order service passes it on sealed; only the
store-credit service, holding the private key, opens it. A new code goes back
sealed to a public key its requester names (``reply_public_key``).

The construction is libsodium's **sealed box** (``crypto_box_seal``: an
ephemeral X25519 key, XSalsa20-Poly1305), through PyNaCl; any language's
libsodium binding makes and opens the same (``sodium.crypto_box_seal`` in
JavaScript's libsodium-wrappers, ``box.SealAnonymous`` in Go's x/crypto/nacl,
``sodium_crypto_box_seal`` in PHP, LazySodium in Java). Keys are X25519 keys
of 32 bytes, written as 64 hex characters; a sealed value is written in
base64url without padding (libsodium's ``URLSAFE_NO_PADDING``; padding and
standard base64 are taken too).

What is sealed **for the store-credit service** is the UTF-8 JSON object
``{"actor": "<kind>:<id>", "code": "<code>"}``: the actor is who sends the code
(the customer applying it, the admin looking it up), so a sealed code copied
from a topic into another actor's command does not open for them. What is
sealed **for a requester** is the code's UTF-8 bytes alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from contracts.envelope import Actor

_KEY_BYTES = 32
_SEAL_OVERHEAD = 48  # the ephemeral public key and the Poly1305 tag
MAX_SEALED_CHARS = 700
"""A sealed code's longest text form: a code of 40 characters (each escaped in JSON at
worst) and an actor id of 128, with the box's 48 bytes, in base64."""


class SealError(ValueError):
    """A sealed code that does not open: wrong key, sealed for another actor, damaged or
    forged."""


def actor_binding(actor: Actor) -> str:
    """What a sealed code names as its sender: ``customer:cust-1``, ``admin:admin-1``."""
    return f"{actor.kind.value}:{actor.id}"


def new_private_key() -> str:
    """A new private key, as 64 hex characters."""
    return secrets.token_hex(_KEY_BYTES)


def public_key_for(private_key_hex: str) -> str:
    """The public key (64 hex characters) of a private key."""
    return bytes(_private(private_key_hex).public_key).hex()


def seal(code: str, public_key_hex: str, actor: Actor) -> str:
    """``code``, sent by ``actor``, sealed for the store-credit service (its public key)."""
    clear = json.dumps({"actor": actor_binding(actor), "code": code}, separators=(",", ":"))
    return seal_bytes(clear.encode("utf-8"), public_key_hex)


def open_sealed(sealed: str, private_key_hex: str, actor: Actor) -> str:
    """The code inside ``sealed`` if ``actor`` sealed it, or :class:`SealError`."""
    clear = open_bytes(sealed, private_key_hex)
    try:
        opened = json.loads(clear.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SealError('a sealed code holds the JSON {"actor": ..., "code": ...}') from None
    if not isinstance(opened, dict) or not isinstance(opened.get("code"), str):
        raise SealError('a sealed code holds the JSON {"actor": ..., "code": ...}')
    if opened.get("actor") != actor_binding(actor):
        raise SealError("the code was sealed by another actor")
    code: str = opened["code"]
    return code


def seal_for_requester(code: str, public_key_hex: str) -> str:
    """A new code for its requester alone: its UTF-8 bytes sealed to their key."""
    return seal_bytes(code.encode("utf-8"), public_key_hex)


def open_for_requester(sealed: str, private_key_hex: str) -> str:
    """What :func:`seal_for_requester` sealed, with the requester's private key."""
    try:
        return open_bytes(sealed, private_key_hex).decode("utf-8")
    except UnicodeDecodeError:
        raise SealError("a sealed code is UTF-8 text") from None


def seal_bytes(clear: bytes, public_key_hex: str) -> str:
    sealed = SealedBox(_public(public_key_hex)).encrypt(clear)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def open_bytes(sealed: str, private_key_hex: str) -> bytes:
    if not isinstance(sealed, str) or len(sealed) > MAX_SEALED_CHARS:
        raise SealError("not a sealed code")
    raw = _base64(sealed)
    if len(raw) <= _SEAL_OVERHEAD:
        raise SealError("a sealed code is too short")
    try:
        return SealedBox(_private(private_key_hex)).decrypt(raw)
    except CryptoError:
        raise SealError("the sealed code does not open with this key") from None


def _base64(text: str) -> bytes:
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise SealError("a sealed code is base64url") from None


def _private(hex_key: str) -> PrivateKey:
    return PrivateKey(_key_bytes(hex_key, "private"))


def _public(hex_key: str) -> PublicKey:
    return PublicKey(_key_bytes(hex_key, "public"))


def _key_bytes(hex_key: str, which: str) -> bytes:
    try:
        raw = bytes.fromhex(hex_key.strip())
    except (ValueError, AttributeError):
        raise ValueError(f"a {which} sealing key is 64 hex characters") from None
    if len(raw) != _KEY_BYTES:
        raise ValueError(f"a {which} sealing key is 64 hex characters")
    return raw
