"""Sealed codes: libsodium sealed boxes that open only with the private key, and only for
the actor who sealed them."""

from __future__ import annotations

import base64
import json

import pytest
from nacl.public import PrivateKey, SealedBox

from contracts.envelope import Actor, ActorKind
from shared.runtime import sealing

ALICE = Actor(kind=ActorKind.CUSTOMER, id="alice")
MALLORY = Actor(kind=ActorKind.CUSTOMER, id="mallory")


def test_a_sealed_code_opens_with_its_key_for_its_actor_only() -> None:
    private = sealing.new_private_key()
    public = sealing.public_key_for(private)
    sealed = sealing.seal("4000123456789010", public, ALICE)
    assert "4000123456789010" not in sealed
    assert sealing.seal("4000123456789010", public, ALICE) != sealed  # fresh each time
    assert sealing.open_sealed(sealed, private, ALICE) == "4000123456789010"
    with pytest.raises(sealing.SealError, match="another actor"):
        sealing.open_sealed(sealed, private, MALLORY)
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(sealed, sealing.new_private_key(), ALICE)


def test_it_is_a_plain_libsodium_sealed_box() -> None:
    """What any libsodium binding makes: crypto_box_seal over the JSON, base64 of it."""
    private = PrivateKey.generate()
    clear = json.dumps({"code": "4000123456789010", "actor": "customer:alice"}).encode()
    raw = SealedBox(private.public_key).encrypt(clear)
    for text in (
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.standard_b64encode(raw).decode(),
    ):
        assert sealing.open_sealed(text, bytes(private).hex(), ALICE) == "4000123456789010"
    assert bytes(private.public_key).hex() == sealing.public_key_for(bytes(private).hex())


def test_a_new_code_is_sealed_to_its_requester() -> None:
    mine = sealing.new_private_key()
    sealed = sealing.seal_for_requester("4000123456789010", sealing.public_key_for(mine))
    assert sealing.open_for_requester(sealed, mine) == "4000123456789010"
    with pytest.raises(sealing.SealError):
        sealing.open_for_requester(sealed, sealing.new_private_key())


@pytest.mark.parametrize(
    "damaged", ["", "abc", "!!!", "AAAA", "A" * 120, "A" * (sealing.MAX_SEALED_CHARS + 1)]
)
def test_damaged_or_forged_seals_are_refused(damaged: str) -> None:
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(damaged, sealing.new_private_key(), ALICE)


@pytest.mark.parametrize("inside", [b"4000123456789010", b"\xff\xfe", b"[1]", b'{"code": 5}'])
def test_a_box_that_holds_no_code_of_an_actor_is_refused(inside: bytes) -> None:
    private = sealing.new_private_key()
    sealed = sealing.seal_bytes(inside, sealing.public_key_for(private))
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(sealed, private, ALICE)


def test_a_flipped_bit_is_refused() -> None:
    private = sealing.new_private_key()
    sealed = sealing.seal("123456789012", sealing.public_key_for(private), ALICE)
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(flipped, private, ALICE)


def test_the_longest_code_of_the_longest_actor_fits() -> None:
    private = sealing.new_private_key()
    actor = Actor(kind=ActorKind.CUSTOMER, id="c" * 128)
    sealed = sealing.seal("\x01" * 40, sealing.public_key_for(private), actor)
    assert len(sealed) <= sealing.MAX_SEALED_CHARS
    assert sealing.open_sealed(sealed, private, actor) == "\x01" * 40


def test_keys_must_be_32_bytes_of_hex() -> None:
    with pytest.raises(ValueError):
        sealing.public_key_for("abcd")
    with pytest.raises(ValueError):
        sealing.seal("123456789012", "zz" * 32, ALICE)
