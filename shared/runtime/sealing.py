"""Sealed codes: a store-credit code encrypted so that only the store-credit service
can read it.

A customer may give the order service a store-credit code; only the
store-credit service can check it. Between the two the code travels through
the order service's outbox (a database table) and a Kafka topic, where it must
never be in clear. The order service therefore holds only a public key and
seals the code; the store-credit service holds the private key and opens it.

The construction is ECIES, like libsodium's sealed boxes: a fresh X25519 key
pair per code, its shared secret with the recipient's key through
HKDF-SHA256, then AES-256-GCM. ``context`` (the application id) is bound as
associated data, so a sealed code copied into another request does not open.

Text form: ``v1.`` + base64url(ephemeral public key 32 bytes, nonce 12 bytes,
ciphertext and tag). Keys are 32 bytes written as 64 hex characters.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERSION = "v1."
_INFO = b"storecredit sealed code v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed code that does not open: wrong key, wrong context, damaged or forged."""


def order_context(order_id: str, application_id: str) -> str:
    """What a code applied to an order is sealed for: that order's one application."""
    return f"{order_id}/{application_id}"


def new_private_key() -> str:
    """A new private key, as 64 hex characters."""
    return secrets.token_hex(_KEY_BYTES)


def public_key_for(private_key_hex: str) -> str:
    """The public key (64 hex characters) of a private key."""
    private = _private(private_key_hex)
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def seal(code: str, public_key_hex: str, context: str) -> str:
    """``code`` sealed for the holder of the private key of ``public_key_hex``."""
    recipient = _public(public_key_hex)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = _derive(ephemeral.exchange(recipient), ephemeral_public, recipient)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, code.encode("utf-8"), context.encode("utf-8"))
    return VERSION + base64.urlsafe_b64encode(ephemeral_public + nonce + sealed).decode("ascii")


def open_sealed(sealed: str, private_key_hex: str, context: str) -> str:
    """The code inside ``sealed``, or :class:`SealError`."""
    if not isinstance(sealed, str) or not sealed.startswith(VERSION):
        raise SealError("not a sealed code")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(VERSION) :].encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise SealError("a sealed code is base64url") from error
    if len(raw) <= _KEY_BYTES + _NONCE_BYTES + 16:
        raise SealError("a sealed code is too short")
    ephemeral_public = raw[:_KEY_BYTES]
    nonce = raw[_KEY_BYTES : _KEY_BYTES + _NONCE_BYTES]
    private = _private(private_key_hex)
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        key = _derive(shared, ephemeral_public, private.public_key())
        clear = AESGCM(key).decrypt(
            nonce, raw[_KEY_BYTES + _NONCE_BYTES :], context.encode("utf-8")
        )
    except (InvalidTag, ValueError) as error:
        raise SealError("the sealed code does not open with this key and context") from error
    return clear.decode("utf-8")


def _derive(shared: bytes, ephemeral_public: bytes, recipient: X25519PublicKey) -> bytes:
    recipient_bytes = recipient.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_public + recipient_bytes,
        info=_INFO,
    ).derive(shared)


def _private(hex_key: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_key_bytes(hex_key, "private"))


def _public(hex_key: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_key_bytes(hex_key, "public"))


def _key_bytes(hex_key: str, which: str) -> bytes:
    try:
        raw = bytes.fromhex(hex_key.strip())
    except ValueError as error:
        raise ValueError(f"a {which} sealing key is 64 hex characters") from error
    if len(raw) != _KEY_BYTES:
        raise ValueError(f"a {which} sealing key is 64 hex characters")
    return raw
