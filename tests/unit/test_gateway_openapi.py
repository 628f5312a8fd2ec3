"""The gateway's OpenAPI document is made from the routes without a broker: a valid
OpenAPI 3.1 document (openapi-spec-validator), every route of routes.py in it with its
operation id, every reference resolving."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate

from services.gateway.app import create_app
from services.gateway.routes import ROUTES
from shared.runtime.settings import Settings


def test_the_document_has_every_route_and_resolves_every_reference() -> None:
    app = create_app(Settings(gateway_operation_key="k" * 40))
    document: dict[str, Any] = app.openapi()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises, naming the part that breaks the specification
    for route in ROUTES:
        assert document["paths"][route.path][route.method.lower()]["operationId"] == (
            route.operation_id
        )
    for path in (
        "/v1/operations/{operation_id}",
        "/v1/accounts/{account_id}/balance/stream",
        "/v1/dead-letters/{service}",
    ):
        assert path in document["paths"]
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node: Any = document
        for step in ref.removeprefix("#/").split("/"):
            node = node[step]
    commands = [r for r in ROUTES if not r.is_query]
    parameters = document["paths"][commands[0].path][commands[0].method.lower()]["parameters"]
    assert {"Idempotency-Key", "X-Correlation-ID"} <= {p["name"] for p in parameters}


def test_a_query_asked_by_post_takes_its_fields_from_the_body_never_the_url() -> None:
    document = create_app(Settings(gateway_operation_key="k" * 40)).openapi()
    lookup = document["paths"]["/v1/store-credits/lookup"]["post"]
    assert "requestBody" in lookup
    assert not [p for p in lookup.get("parameters", []) if p["in"] == "query"]
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        in_query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert not in_query or route.method == "GET", route.path
