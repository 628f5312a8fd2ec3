"""Codes as the tests hand them over: sealed for the session's store-credit service, by
the actor who sends them, and new ones opened with the tests' own requester key.

The session's settings (tests/conftest.py) give the store-credit service
``SERVICE_PRIVATE_KEY``; ``COURIER`` seals with its public key and is the
requester every test creation names (``reply_public_key``).
"""

from __future__ import annotations

from typing import Any

from contracts.envelope import Actor
from contracts.store_credit import FindStoreCredit
from shared.runtime import sealing
from shared.tools.code_courier import CodeCourier

SERVICE_PRIVATE_KEY = sealing.new_private_key()
COURIER = CodeCourier(sealing.public_key_for(SERVICE_PRIVATE_KEY))
REPLY_PUBLIC_KEY = COURIER.reply_public_key


def sealed(code: str, sender: Actor) -> str:
    """``code`` sealed by ``sender`` for the store-credit service."""
    return COURIER.seal(code, sender)


def opened(produced: dict[str, Any]) -> dict[str, Any]:
    """A creation's result with the code and token sealed to the tests opened."""
    return COURIER.opened(produced)


def find_by_code(code: str, sender: Actor, **fields: Any) -> FindStoreCredit:
    """FindStoreCredit by ``code``, sealed by ``sender`` (who must then ask it)."""
    return FindStoreCredit(sealed_code=sealed(code, sender), **fields)
