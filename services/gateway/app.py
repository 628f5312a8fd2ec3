"""The gateway's FastAPI application: the routes of ``routes.py``, operations, live
balances, health and metrics, over one ``Exchange`` with Kafka."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from typing import Annotated, Any
from uuid import uuid4

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CollectorRegistry, Counter, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from contracts.envelope import Message
from contracts.ledger import GetAccountBalances
from contracts.store_credit import CreateStoreCredit
from contracts.topics import LEDGER_QUERIES, LEDGER_QUERY_REPLIES
from services.gateway import answers, operations
from services.gateway.body_limit import BodyLimit
from services.gateway.consumer_lag import add_consumer_lag
from services.gateway.dashboard_files import add_dashboard
from services.gateway.dead_letters import add_dead_letters
from services.gateway.endpoints import Call, Route, make_endpoint, validation_problem
from services.gateway.exchange import Exchange
from services.gateway.identity import Caller, Identities, NotSignedIn
from services.gateway.problems import invalid_request, problem
from services.gateway.routes import ROUTES
from shared.runtime import sealing
from shared.runtime.settings import Settings

HEARTBEAT_S = 15.0
DESCRIPTION = """\
HTTP in front of the storecredit topics. Every request is signed in: customers with a
bearer token from the shop's identity provider, back offices and the shop's back end
with an API key (`X-API-Key: <id>.<secret>`). A command answers its result: 200 with what
it produced, or a problem (RFC 9457, `application/problem+json`) whose `code` is the
contract's (contracts/codes.md); a result slower than the bounded wait answers 202 with
an operation to poll. `Idempotency-Key` makes a command safe to send again.
"""


class Gateway:
    """The parts every request uses."""

    def __init__(self, settings: Settings) -> None:
        key = settings.gateway_operation_key
        if key is None or len(key.get_secret_value()) < 32:
            raise ValueError(
                "STORECREDIT_GATEWAY_OPERATION_KEY (32 characters or more) is required"
            )
        self.settings = settings
        self.operation_key = key.get_secret_value().encode()
        self.identities = Identities(settings)
        self.exchange = Exchange(settings)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "storecredit_gateway_requests",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )

    def seal_public_key(self) -> str:
        return self.settings.code_seal_public_key_hex()

    async def handle(self, call: Call) -> Response:
        response = await self._answer(call)
        self.requests.labels(call.route.operation_id, str(response.status_code)).inc()
        return response

    async def _answer(self, call: Call) -> Response:
        route, actor = call.route, call.caller.actor
        fields = dict(call.fields)
        if call.clear_code is not None:
            sealed_field = route.model.sealed_instead["code"]
            fields[sealed_field] = sealing.seal(call.clear_code, self.seal_public_key(), actor)
        reply_key = None
        if route.model is CreateStoreCredit and fields.get("reply_public_key") is None:
            reply_key = sealing.new_private_key()  # the new code comes back to this request
            fields["reply_public_key"] = sealing.public_key_for(reply_key)
        try:
            message: Message = route.model.model_validate(fields)
        except ValidationError as error:
            return validation_problem(error)
        if route.replies is not None:
            try:
                reply = await self.exchange.query(
                    route.topic, route.replies, message, actor, self.settings.gateway_query_wait_s
                )
            except TimeoutError:
                return answers.timed_out(route.model.message_type)
            return answers.reply_answer(reply)
        sent = await self.exchange.command(
            route.topic,
            message,
            actor,
            call.idempotency_key or str(uuid4()),
            self.settings.gateway_result_wait_s,
            call.correlation_id,
        )
        if sent.result is None:
            return answers.pending_answer(
                operations.operation_id(self.operation_key, sent.message_id, actor)
            )
        if reply_key is not None:
            _open_new_secrets(sent.result.produced, reply_key)
        response = answers.command_answer(sent.result, route.status)
        if reply_key is not None:
            response.headers["Cache-Control"] = "no-store"
        return response


def _open_new_secrets(produced: dict[str, Any], private_key: str) -> None:
    """A new credit's code and token, sealed to this request's key, opened for its caller
    (once: a replay's result has neither)."""
    for sealed, clear in (("sealed_code", "code"), ("sealed_token", "token")):
        value = produced.pop(sealed, None)
        if isinstance(value, str):
            produced[clear] = sealing.open_for_requester(value, private_key)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gateway.identities.jwks.fetch()
        await gateway.exchange.start()
        keeping_fresh = asyncio.create_task(gateway.identities.jwks.keep_fresh())
        try:
            yield
        finally:
            keeping_fresh.cancel()
            with suppress(asyncio.CancelledError):
                await keeping_fresh
            await gateway.exchange.stop()

    app = FastAPI(
        title="storecredit gateway",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.gateway = gateway
    _with_problem_schema(app)

    async def signed_in(
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Caller:
        try:
            return await gateway.identities.caller(authorization, x_api_key)
        except NotSignedIn as refusal:
            raise _Unauthorized(str(refusal)) from None

    for route in ROUTES:
        _add(app, route, signed_in, gateway)
    _add_operations(app, gateway, signed_in)
    add_dead_letters(app, settings, signed_in, gateway.exchange)
    add_consumer_lag(app, settings, signed_in)
    _add_balance_stream(app, gateway, signed_in)
    _add_health(app, gateway)
    add_dashboard(app)
    _add_error_handlers(app)
    origins = [o.strip() for o in settings.gateway_cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "Last-Event-ID",
                "X-Correlation-ID",
            ],
            expose_headers=["Location", "Retry-After"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.gateway_max_body_bytes)
    return app


class _Unauthorized(Exception):
    pass


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Problem details (RFC 9457) with the contract's code.",
    "required": ["type", "title", "status", "detail", "code", "retryable"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string", "description": "The code's sentence (contracts/codes.md)."},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What the service said of this request."},
        "code": {"type": "string", "description": "Machine-readable: act on it."},
        "retryable": {"type": "boolean"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                },
            },
        },
        "command_id": {"type": "string"},
        "idempotency_key": {"type": "string"},
    },
}


def _with_problem_schema(app: FastAPI) -> None:
    """The OpenAPI document, with the Problem schema the error responses refer to."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = plain()
            document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_SCHEMA
            )
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add(app: FastAPI, route: Route, signed_in: Any, gateway: Gateway) -> None:
    app.add_api_route(
        route.path,
        make_endpoint(route, signed_in, gateway.handle),
        methods=[route.method],
        summary=route.summary,
        tags=[route.tag],
        operation_id=route.operation_id,
        response_class=JSONResponse,
        responses=_responses(route),
    )


def _responses(route: Route) -> dict[int | str, dict[str, Any]]:
    problem_content = {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    found: dict[int | str, dict[str, Any]] = {
        401: {"description": "Not signed in", "content": problem_content},
        403: {"description": "Forbidden", "content": problem_content},
        404: {"description": "Not found", "content": problem_content},
        409: {"description": "Refused by a rule", "content": problem_content},
        422: {"description": "Invalid request", "content": problem_content},
    }
    if route.replies is None:
        found[202] = {"description": "Sent; the result is not in yet: poll the Location"}
    else:
        found[504] = {"description": "No reply in time", "content": problem_content}
    return found


def _add_operations(app: FastAPI, gateway: Gateway, signed_in: Any) -> None:
    @app.get(
        "/v1/operations/{operation_id}",
        tags=["Operations"],
        summary="The result of a command that answered 202",
        operation_id="GetOperation",
    )
    async def get_operation(
        operation_id: Annotated[str, Path(max_length=120)],
        caller: Annotated[Caller, Depends(signed_in)],
    ) -> Response:
        found = operations.read_operation(gateway.operation_key, operation_id, caller.actor)
        if found is None:
            return problem(404, "operation_not_found", "There is no such operation of yours.")
        result = gateway.exchange.results.get(found.message_id)
        if result is None:
            return answers.pending_answer(operation_id)
        return answers.command_answer(result)


def _add_balance_stream(app: FastAPI, gateway: Gateway, signed_in: Any) -> None:
    @app.get(
        "/v1/accounts/{account_id}/balance/stream",
        tags=["Point accounts and transactions"],
        summary="An account's balance as Server-Sent Events (event: balance, id: its version)",
        operation_id="StreamAccountBalance",
        response_class=StreamingResponse,
    )
    async def stream_balance(
        account_id: Annotated[str, Path(min_length=1, max_length=128)],
        caller: Annotated[Caller, Depends(signed_in)],
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> Response:
        seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
        following = AsyncExitStack()
        # Followed before the first read: no change slips past between the two.
        queue = await following.enter_async_context(gateway.exchange.balances_of(account_id))
        async with following:  # left here unless the stream below takes it over
            try:
                reply = await gateway.exchange.query(
                    LEDGER_QUERIES,
                    LEDGER_QUERY_REPLIES,
                    GetAccountBalances(account_id=account_id),
                    caller.actor,
                    gateway.settings.gateway_query_wait_s,
                )
            except TimeoutError:
                return answers.timed_out("GetAccountBalances")
            if reply.type == answers.QUERY_FAILED:
                return answers.reply_answer(reply)  # the ledger decides whose account it is
            stream = following.pop_all()

        async def events() -> AsyncIterator[str]:
            last = seen
            async with stream:
                pending: list[dict[str, Any]] = [reply.payload]
                while True:
                    for balance in pending:
                        version = int(balance.get("version", 0))
                        if version > last:
                            last = version
                            yield _sse(balance, version)
                    try:
                        pending = [await asyncio.wait_for(queue.get(), HEARTBEAT_S)]
                    except TimeoutError:
                        pending = []
                        yield ": still here\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _sse(balance: dict[str, Any], version: int) -> str:
    shown = {
        name: balance.get(name)
        for name in ("account_id", "unit", "balance", "holds", "available", "version")
    }
    return f"event: balance\nid: {version}\ndata: {json.dumps(shown)}\n\n"


def _add_health(app: FastAPI, gateway: Gateway) -> None:
    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> Response:
        if gateway.exchange.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "starting"}, status_code=503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(gateway.registry), media_type="text/plain; version=0.0.4")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(_Unauthorized)
    async def unauthorized(_: Request, error: _Unauthorized) -> Response:
        response = problem(401, "unauthenticated", str(error))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> Response:
        return invalid_request(
            (
                ".".join(str(part) for part in item.get("loc", ()) if part != "body"),
                str(item.get("msg", "")),
            )
            for item in error.errors()
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return problem(error.status_code, code, str(error.detail))
