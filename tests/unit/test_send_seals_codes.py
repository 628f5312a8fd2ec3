"""``storecredit send`` and ``storecredit seal`` never let a code leave in clear: a clear
``code`` is sealed as the request's actor sends it, and opens for that actor only."""

from __future__ import annotations

import io
import sys

import pytest

from contracts.envelope import Actor, ActorKind
from shared.runtime import sealing
from shared.tools import cli
from shared.tools.operator.errors import OperatorError
from shared.tools.operator.send import Request, prepare

PRIVATE = sealing.new_private_key()
PUBLIC = sealing.public_key_for(PRIVATE)
SHOPPER = Actor(kind=ActorKind.CUSTOMER, id="cust-1")


def request(payload: dict[str, object]) -> Request:
    return Request.model_validate(
        {"type": "FindStoreCredit", "payload": payload, "actor": "customer:cust-1", "key": "k"}
    )


def test_a_clear_code_is_sealed_before_it_is_sent() -> None:
    outbound = prepare(request({"code": "4000123456789010"}), seal_key=PUBLIC)
    sealed_code = outbound.envelope.payload.model_dump()["sealed_code"]
    assert "4000123456789010" not in outbound.envelope.model_dump_json()
    assert sealing.open_sealed(sealed_code, PRIVATE, SHOPPER) == "4000123456789010"


def test_without_a_key_nothing_is_sent() -> None:
    with pytest.raises(OperatorError, match="STORECREDIT_CODE_SEAL_PUBLIC_KEY"):
        prepare(request({"code": "4000123456789010"}))


def test_the_cli_seals_for_an_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORECREDIT_CODE_SEAL_PUBLIC_KEY", PUBLIC)
    # cli.main fills in the local system's settings (os.environ): another broker's
    # address keeps a local dev stack's credentials out of the other tests' environment
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setattr(sys, "stdin", io.StringIO("4000123456789010\n"))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["seal", "customer:cust-1"]) == 0
    assert sealing.open_sealed(out.getvalue().strip(), PRIVATE, SHOPPER) == "4000123456789010"
