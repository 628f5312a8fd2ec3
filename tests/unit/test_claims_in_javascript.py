"""A claim made in another language verifies: docs/examples/claim.mjs signs with Node's
own crypto (no packages), as a JavaScript storefront would, and the services' verifier
takes it; a claim it makes for other bytes does not pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from contracts.envelope import Actor, ActorKind
from shared.runtime import claims

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "claim.mjs"
CUSTOMER = Actor(kind=ActorKind.CUSTOMER, id="cust-js")


def node_claim(private_key: str, value: bytes) -> str:
    node = shutil.which("node")
    assert node is not None, "Node.js is part of this machine (see the developers' guide)"
    done = subprocess.run(
        [node, str(EXAMPLE), private_key, "storefront", "customer:cust-js"],
        input=value,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode().strip()


def test_a_claim_made_with_nodes_crypto_verifies() -> None:
    keyset = claims.new_keyset([])
    verifier = claims.Verifier(claims.parse_signers(claims.signers_json(keyset)), 3600)
    value = b'{"an": "envelope"}'
    token = node_claim(keyset["storefront"]["private_key"], value)
    headers = [(claims.CLAIM_HEADER, token.encode())]
    assert verifier.verify(value, headers, CUSTOMER) == "storefront"
    try:
        verifier.verify(value + b"!", headers, CUSTOMER)
    except claims.ClaimError as error:
        assert error.code == "unauthenticated"
    else:
        raise AssertionError("a claim of other bytes verified")
