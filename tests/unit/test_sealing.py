"""Sealed codes open only with the private key and the context they were sealed for."""

from __future__ import annotations

import pytest

from shared.runtime import sealing


def test_a_sealed_code_opens_with_its_key_and_context_only() -> None:
    private = sealing.new_private_key()
    public = sealing.public_key_for(private)
    sealed = sealing.seal("4000123456789010", public, "order-1/app-1")
    assert "4000123456789010" not in sealed and sealed.startswith("v1.")
    assert sealing.seal("4000123456789010", public, "order-1/app-1") != sealed  # fresh each time
    assert sealing.open_sealed(sealed, private, "order-1/app-1") == "4000123456789010"
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(sealed, private, "order-1/app-2")
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(sealed, sealing.new_private_key(), "order-1/app-1")


@pytest.mark.parametrize(
    "damaged",
    ["", "v0.abc", "v1.", "v1.!!!", "v1.AAAA", "v1." + "A" * 120],
)
def test_damaged_or_forged_seals_are_refused(damaged: str) -> None:
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(damaged, sealing.new_private_key(), "x")


def test_a_flipped_bit_is_refused() -> None:
    private = sealing.new_private_key()
    sealed = sealing.seal("123456789012", sealing.public_key_for(private), "c")
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(flipped, private, "c")


def test_keys_must_be_32_bytes_of_hex() -> None:
    with pytest.raises(ValueError):
        sealing.public_key_for("abcd")
    with pytest.raises(ValueError):
        sealing.seal("123456789012", "zz" * 32, "c")
