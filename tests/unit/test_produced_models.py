"""contracts/produced.py against the services: a model for every command the four
services route and for nothing else, each with a JSON Schema, and the produced dicts
their handlers build (and what a retry is given instead) validating."""

from __future__ import annotations

import importlib
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from contracts.envelope import Part
from contracts.fulfillment import ReturnPartKind
from contracts.produced import PRODUCED
from contracts.store_credit import PointAccountStatus
from contracts.typed_results import result_model

SERVICES = ("fulfillment", "ledger", "order", "store_credit")

SEALED = "x" * 80  # stands for a sealed value (base64url); its content is not checked


def _routed() -> dict[str, str]:
    """Every command type routed by the four services, and the service routing it."""
    routed: dict[str, str] = {}
    for name in SERVICES:
        definition = importlib.import_module(f"services.{name}.app").definition
        for command_type, route in definition.routes.items():
            assert route.model.message_type == command_type
            assert command_type not in routed, f"{command_type} is routed twice"
            routed[command_type] = name
    return routed


def test_a_model_for_every_routed_command_and_no_other() -> None:
    routed = _routed()
    assert len(routed) == 30
    assert set(PRODUCED) == set(routed)


@pytest.mark.parametrize("command_type", sorted(PRODUCED))
def test_models_are_named_closed_and_described(command_type: str) -> None:
    model = PRODUCED[command_type]
    assert model.__name__ == f"{command_type}Produced"
    assert issubclass(model, Part)
    assert model.model_config.get("extra") == "forbid"
    assert (model.__doc__ or "").strip()
    for name, field in model.model_fields.items():
        assert field.description, f"{command_type}.{name} has no description"


@pytest.mark.parametrize("command_type", sorted(PRODUCED))
def test_json_schema_generates(command_type: str) -> None:
    schema = PRODUCED[command_type].model_json_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["properties"]
    result_model(command_type).model_json_schema()


def test_fixed_values_follow_the_enums_they_come_from() -> None:
    parts = PRODUCED["ReturnItem"].model_fields["parts"].annotation
    (part,) = get_args(parts)
    assert set(get_args(part.model_fields["kind"].annotation)) == {k.value for k in ReturnPartKind}
    status = PRODUCED["UpdatePointAccount"].model_fields["status"].annotation
    assert set(get_args(status)) == {s.value for s in PointAccountStatus}


_BALANCES = {"balance": 400, "holds": 20, "available": 380}

VALID: list[tuple[str, dict[str, Any]]] = [
    # services/ledger/handlers.py: open_account, both paths
    ("OpenLedgerAccount", {"account_id": "acct-1", "balance": 0, "holds": 0, "available": 0}),
    ("OpenLedgerAccount", {"account_id": "acct-1", "already_open": True}),
    ("CloseLedgerAccount", {"account_id": "acct-1", "status": "closed"}),
    ("CloseLedgerAccount", {"account_id": "acct-1", "already_closed": True}),
    (
        "CreatePointTransaction",
        {"transaction_id": "tx-1", "account_id": "acct-1", "status": "pending", **_BALANCES},
    ),
    (
        "CommitPointTransaction",
        {"transaction_id": "tx-1", "committed": -15, "released": -5, **_BALANCES},
    ),
    ("VoidPointTransaction", {"transaction_id": "tx-1", "status": "voided", **_BALANCES}),
    *(
        (
            "BindPointTransaction",
            {
                "transaction_id": "tx-1",
                "account_id": "acct-1",
                "order_id": "order-1",
                "amount": -20,
                "already_bound": already,
            },
        )
        for already in (False, True)
    ),
    (
        "ReplacePointTransaction",
        {
            "transaction_id": "tx-2",
            "replaced": "tx-1",
            "account_id": "acct-1",
            "amount": -30,
            "status": "pending",
            **_BALANCES,
        },
    ),
    (
        "ReversePointTransaction",
        {
            "transaction_id": "tx-1",
            "reversal_transaction_id": "rt-1",
            "amount": 100,
            "reversible_rest": 100,
            **_BALANCES,
        },
    ),
    # services/store_credit/
    ("CreatePointAccountTemplate", {"template_id": "tpl-1", "version": 1}),
    ("UpdatePointAccountTemplate", {"template_id": "tpl-1", "version": 2, "accounts_updated": 3}),
    ("CreatePointAccount", {"account_id": "pa-1", "customer_id": "cust-1", "status": "active"}),
    ("UpdatePointAccount", {"account_id": "pa-1", "status": "suspended", "version": 2}),
    # credits.create_store_credit: what the requester gets, without a key, and a retry
    *(
        (
            "CreateStoreCredit",
            {
                "store_credit_id": "sc-1",
                "code": "******5744",
                "sealed_code": sealed,
                "sealed_token": sealed,
                "external_id": external_id,
                "ledger_account_id": "sc-0123456789abcdef0123456789abcdef",
            },
        )
        for sealed in (SEALED, None)
        for external_id in ("ext-1", None)
    ),
    ("UpdateStoreCredit", {"store_credit_id": "sc-1", "version": 2, "amount": 5000}),
    *(
        (
            "AuthorizeStoreCredit",
            {
                "store_credit_id": "sc-1",
                "name": "Gift",
                "code": "******5744",
                "ledger_account_id": "sc-0123456789abcdef0123456789abcdef",
                "currency": "USD",
                "available": 2500,
                "allow_balance_owing": False,
                "expiry_date": expiry,
            },
        )
        for expiry in ("2030-01-31T23:59:59+00:00", None)
    ),
    # services/order/
    (
        "CreateOrder",
        {"order_id": "order-1", "number": "0D138546", "expires_at": "2030-01-01T12:00:00+00:00"},
    ),
    ("AddProductLineItem", {"line_item_id": "li-1"}),
    ("AddDepositLineItem", {"line_item_id": "li-2"}),
    ("AddPointTransactionLineItem", {"line_item_id": "li-3", "amount": -150}),
    ("RemoveLineItem", {"line_item_id": "li-1"}),
    ("SetOrderCharges", {"order_id": "order-1"}),
    ("CancelOrder", {"order_id": "order-1", "status": "cancelled"}),
    ("ApplyStoreCredit", {"application_id": "app-1", "status": "requested", "requested": 1999}),
    ("RemoveStoreCredit", {"application_id": "app-1", "status": "removed"}),
    ("RemoveStoreCredit", {"application_id": "app-1", "status": "refused"}),
    *(
        (
            "CheckoutOrder",
            {
                "order_id": "order-1",
                "attempt": 1,
                "amount_due": 1000,
                "store_credit_applied": 500,
                "paid_externally": 1000,
                "balance_owing": 0,
                "status": status,
            },
        )
        for status in ("checking_out", "checked_out")
    ),
    *(
        (
            "SetOrderPaymentStatus",
            {"order_id": "order-1", "payment_status": "failed", "changed": changed},
        )
        for changed in (True, False)
    ),
    # services/fulfillment/
    ("FulfillItem", {"fulfillment_item_id": "fi-1", "status": "fulfilled"}),
    ("RetryFulfillmentItem", {"fulfillment_item_id": "fi-1", "status": "committing", "attempt": 2}),
    ("CancelFulfillment", {"order_id": "order-1", "status": "cancelled"}),
    ("CancelFulfillment", {"order_id": "order-1", "status": "cancelled", "captures_given_back": 2}),
    (
        "ReturnItem",
        {
            "return_id": "ret-1",
            "status": "in_progress",
            "parts": [
                {"kind": "restore_store_credit", "amount": 500},
                {"kind": "refund_due", "amount": 499},
                {"kind": "reverse_points_earned", "amount": 20},
            ],
        },
    ),
    ("ReturnItem", {"return_id": "ret-2", "status": "completed", "parts": []}),
]


@pytest.mark.parametrize(("command_type", "produced"), VALID)
def test_what_handlers_produce_validates(command_type: str, produced: dict[str, Any]) -> None:
    model: type[BaseModel] = PRODUCED[command_type]
    model.model_validate(produced)
    model.model_validate_json(model.model_validate(produced).model_dump_json())


INVALID: list[tuple[str, dict[str, Any]]] = [
    # a key no handler sets
    ("SetOrderCharges", {"order_id": "order-1", "status": "open"}),
    # a status value the handler never sets
    ("CancelOrder", {"order_id": "order-1", "status": "abandoned"}),
    (
        "CreatePointTransaction",
        {"transaction_id": "t", "account_id": "a", "status": "voided", **_BALANCES},
    ),
    # a key every path sets, missing
    ("CreateStoreCredit", {"store_credit_id": "sc-1", "code": "******5744"}),
    (
        "BindPointTransaction",
        {"transaction_id": "t", "account_id": "a", "order_id": "o", "amount": -1},
    ),
    # already_open is only ever True
    ("OpenLedgerAccount", {"account_id": "acct-1", "already_open": False}),
]


@pytest.mark.parametrize(("command_type", "produced"), INVALID)
def test_off_contract_produced_is_refused(command_type: str, produced: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PRODUCED[command_type].model_validate(produced)
