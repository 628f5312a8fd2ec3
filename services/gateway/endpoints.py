"""HTTP routes made from the contracts: one route sends one command or asks one query.

A route names its message type, its method and path; the path's ``{fields}`` are
the message's, and every other field of the message is the request's JSON body
(POST, PUT, PATCH) or its query string (GET), typed as the contract types it (the
body model is made from the message model's own fields, so the OpenAPI document
shows exactly what the services validate). The message itself is then built and
validated by its contract model, whose cross-field rules apply too: what fails is
a 422 problem naming the field.

A code a browser types (``code``, where the contract wants ``sealed_code``) is
sealed here, for the store-credit service and the signed-in actor, before it
leaves; it is never logged, and the sealed form is what the topic carries.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from contracts.envelope import IdempotencyKey, Identifier, Message
from contracts.topics import TopicSpec
from services.gateway.identity import Caller
from services.gateway.problems import invalid_request

PATH_FIELD = re.compile(r"\{(\w+)\}")
ClearCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="The code as the customer typed it: sealed by the gateway before it is sent.",
    ),
]

CorrelationId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
Handler = Callable[["Call"], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """One HTTP operation: ``method path`` sends ``model`` to ``topic``."""

    method: str
    path: str
    model: type[Message]
    topic: TopicSpec
    summary: str
    tag: str
    replies: TopicSpec | None = None
    """The replies topic of a query; None for a command."""
    status: int = 200
    hidden: tuple[str, ...] = field(default=())
    """Fields of the message the HTTP caller never sets (the gateway does)."""

    @property
    def is_query(self) -> bool:
        return self.replies is not None

    @property
    def in_query_string(self) -> bool:
        """A GET's fields are its query string; any other method's, its JSON body (a
        query asked by POST, as a look-up by code is, so the code is never in a URL)."""
        return self.method == "GET"

    @property
    def path_fields(self) -> list[str]:
        return PATH_FIELD.findall(self.path)

    @property
    def operation_id(self) -> str:
        return self.model.message_type


@dataclass
class Call:
    """One request to a route, verified and decoded."""

    route: Route
    request: Request
    caller: Caller
    fields: dict[str, Any]
    idempotency_key: str | None
    clear_code: str | None
    correlation_id: str | None = None


def _sealable(model: type[Message]) -> dict[str, str]:
    return dict(model.sealed_instead)


def input_model(route: Route) -> type[BaseModel] | None:
    """The body (command) or query-string (query) model of a route: the message's fields
    less the path's and the hidden ones; a clear ``code`` where the message seals one."""
    skipped = {*route.path_fields, *route.hidden}
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in route.model.model_fields.items()
        if name not in skipped
    }
    for clear, sealed in _sealable(route.model).items():
        if sealed in fields:
            fields[clear] = (ClearCode | None, None)
    if not fields:
        return None
    suffix = "Query" if route.in_query_string else "Body"
    made: type[BaseModel] = create_model(
        f"{route.model.__name__}{suffix}",
        __config__=ConfigDict(extra="forbid"),
        __doc__=route.model.__doc__,
        **fields,
    )
    return made


def make_endpoint(route: Route, signed_in: Any, handle: Handler) -> Callable[..., Any]:
    """A FastAPI endpoint for ``route``: its signature declares the caller, the path
    fields, the Idempotency-Key header (commands) and the body or query model."""
    model = input_model(route)

    async def endpoint(request: Request, **values: Any) -> Response:
        caller: Caller = values.pop("caller")
        key: str | None = values.pop("idempotency_key", None)
        correlation: str | None = values.pop("correlation_id", None)
        given = values.pop("given", None)
        fields = given.model_dump(exclude_unset=True) if given is not None else {}
        clear_code = None
        for clear in _sealable(route.model):
            clear_code = fields.pop(clear, None) or clear_code
        fields.update(values)  # the path's ids
        call = Call(route, request, caller, fields, key, clear_code, correlation)
        return await handle(call)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "caller", inspect.Parameter.KEYWORD_ONLY, annotation=Caller, default=Depends(signed_in)
        ),
    ]
    for name in route.path_fields:
        description = route.model.model_fields[name].description
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Identifier,
                default=Path(description=description),
            )
        )
    if not route.is_query:
        parameters.append(
            inspect.Parameter(
                "idempotency_key",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=IdempotencyKey | None,
                default=Header(
                    None,
                    alias="Idempotency-Key",
                    description=(
                        "The command's idempotency key: a replay gets the first response; "
                        "the same key with another body is refused 422. Default: a new one."
                    ),
                ),
            )
        )
        parameters.append(
            inspect.Parameter(
                "correlation_id",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=CorrelationId | None,
                default=Header(
                    None,
                    alias="X-Correlation-ID",
                    description=(
                        "The business flow the command belongs to (a checkout, a story): its "
                        "envelope's correlation_id, for tracing on the topics. Default: its "
                        "own message id."
                    ),
                ),
            )
        )
    if model is not None:
        where = Query() if route.in_query_string else Body()
        parameters.append(
            inspect.Parameter(
                "given", inspect.Parameter.KEYWORD_ONLY, annotation=model, default=where
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    endpoint.__name__ = route.operation_id
    return endpoint


def validation_problem(error: ValidationError) -> JSONResponse:
    """A message its contract refuses, as a 422 problem naming each field."""
    return invalid_request(
        (".".join(str(part) for part in item["loc"]), item["msg"])
        for item in error.errors(include_url=False, include_input=False)
    )
