"""What a client needs to hand store-credit codes over sealed, and to read new ones.

A client seals every code it sends (``ApplyStoreCredit``, ``FindStoreCredit``, a
code of its own in ``CreateStoreCredit``) for the store-credit service, as the
actor who sends it; and names a key pair of its own (``reply_public_key``) when
it creates a credit, so the new code and token come back sealed to it alone
(``shared.runtime.sealing``). The demo, the workload, the bench and the tests
are such clients; a shop in another language does the same with its libsodium
binding (docs/examples/seal/seal.mjs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import Actor
from shared.runtime import sealing
from shared.runtime.settings import Settings


@dataclass(frozen=True)
class CodeCourier:
    service_public_key: str
    """The store-credit service's public key (STORECREDIT_CODE_SEAL_PUBLIC_KEY)."""
    private_key: str = field(default_factory=sealing.new_private_key, repr=False)
    """This client's own key, for what is sealed back to it."""

    @classmethod
    def of(cls, settings: Settings) -> CodeCourier:
        return cls(settings.code_seal_public_key_hex())

    @property
    def reply_public_key(self) -> str:
        return sealing.public_key_for(self.private_key)

    def seal(self, code: str, sender: Actor) -> str:
        """``code`` sealed for the store-credit service, sent by ``sender``."""
        return sealing.seal(code, self.service_public_key, sender)

    def opened(self, produced: dict[str, Any]) -> dict[str, Any]:
        """A creation's ``produced`` with its sealed code and token opened (``code`` and
        ``token`` in clear), for this client's own use; as it is when it has none."""
        found = dict(produced)
        for sealed, clear in (("sealed_code", "code"), ("sealed_token", "token")):
            if isinstance(found.get(sealed), str):
                found[clear] = sealing.open_for_requester(found[sealed], self.private_key)
        return found
