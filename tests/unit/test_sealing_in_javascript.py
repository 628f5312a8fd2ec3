"""A code sealed in another language opens: docs/examples/seal/seal.mjs seals and opens with
libsodium-wrappers, as a JavaScript storefront would, and the services' sealing takes what it
seals and makes what it opens, both ways."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from contracts.envelope import Actor, ActorKind
from shared.runtime import sealing

EXAMPLE_DIR = Path(__file__).parents[2] / "docs" / "examples" / "seal"
EXAMPLE = EXAMPLE_DIR / "seal.mjs"
CUSTOMER = Actor(kind=ActorKind.CUSTOMER, id="cust-js")
OTHER = Actor(kind=ActorKind.CUSTOMER, id="cust-other")
CODE = "SC-JS-ÄÖ-0001"


def run_example(*args: str, stdin: str = "") -> str:
    """What ``node seal.mjs <args>`` prints, without its final newline."""
    node = shutil.which("node")
    assert node is not None, "Node.js is part of this machine (see the developers' guide)"
    library = EXAMPLE_DIR / "node_modules" / "libsodium-wrappers"
    assert library.is_dir(), f"{library} is missing: `make venv` installs it (npm ci)"
    done = subprocess.run(
        [node, str(EXAMPLE), *args],
        input=stdin.encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8").removesuffix("\n")


def test_a_code_sealed_in_javascript_opens_for_its_actor_alone() -> None:
    private_key = sealing.new_private_key()
    public_key = sealing.public_key_for(private_key)
    sealed = run_example("seal", public_key, sealing.actor_binding(CUSTOMER), stdin=CODE + "\n")
    assert sealing.open_sealed(sealed, private_key, CUSTOMER) == CODE
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(sealed, private_key, OTHER)


def test_a_code_sealed_for_a_javascript_requester_opens_in_javascript() -> None:
    keypair: dict[str, str] = json.loads(run_example("keypair"))
    assert set(keypair) == {"public_key", "private_key"}
    assert sealing.public_key_for(keypair["private_key"]) == keypair["public_key"]
    sealed = sealing.seal_for_requester(CODE, keypair["public_key"])
    assert run_example("open", keypair["private_key"], stdin=sealed + "\n") == CODE


def test_a_code_sealed_in_python_for_the_service_opens_in_javascript() -> None:
    private_key = sealing.new_private_key()
    sealed = sealing.seal(CODE, sealing.public_key_for(private_key), CUSTOMER)
    opened = run_example("open", private_key, stdin=sealed)
    assert json.loads(opened) == {"actor": "customer:cust-js", "code": CODE}
    assert list(json.loads(opened)) == ["actor", "code"]
