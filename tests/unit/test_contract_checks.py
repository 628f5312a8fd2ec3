"""An answer off its contract fails loudly where the tests run, and is logged anywhere."""

from __future__ import annotations

import logging

import pytest

from shared.runtime.contract_checks import ContractBreach, check_code, check_produced
from shared.runtime.settings import Settings


def test_the_tests_run_with_strict_contracts() -> None:
    assert Settings().strict_contracts


def test_an_unlisted_code_is_a_breach() -> None:
    check_code("CreatePointTransaction", "insufficient_funds", strict=True)
    check_code("CreatePointTransaction", "forbidden", strict=True)  # every command's
    with pytest.raises(ContractBreach, match="does not list"):
        check_code("CreatePointTransaction", "no_such_code", strict=True)
    with pytest.raises(ContractBreach):
        check_code("NoSuchCommand", "forbidden", strict=True)


def test_produced_off_its_model_is_a_breach(caplog: pytest.LogCaptureFixture) -> None:
    check_produced("CreateOrder", _create_order(), strict=True)
    with pytest.raises(ContractBreach, match="off its contract"):
        check_produced("CreateOrder", {**_create_order(), "surprise": 1}, strict=True)
    caplog.set_level(logging.ERROR)
    check_produced("CreateOrder", {"nothing": "expected"}, strict=False)  # logged only
    assert any("off its contract" in r.getMessage() for r in caplog.records)


def _create_order() -> dict[str, object]:
    return {"order_id": "ord-1", "number": "1001", "expires_at": "2026-12-02T12:00:00+00:00"}
