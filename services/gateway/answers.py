"""What a command's result or a query's reply becomes over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from contracts.envelope import RawEnvelope
from contracts.results import CommandResult, ResultStatus
from services.gateway.problems import problem, rejected

QUERY_FAILED = "QueryFailed"


def result_body(result: CommandResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "command_type": result.command_type,
        "command_id": str(result.command_id),
        "idempotency_key": result.idempotency_key,
        "produced": result.produced,
    }


def command_answer(result: CommandResult, status: int = 200) -> JSONResponse:
    """An accepted result as 200 (201 for a route that creates) with what it produced;
    a rejected one as the problem of its code."""
    if result.status is ResultStatus.ACCEPTED:
        return JSONResponse(result_body(result), status_code=status)
    return rejected(
        result.code or "internal_error",
        result.reason or "Refused.",
        result.retryable,
        command_id=str(result.command_id),
        idempotency_key=result.idempotency_key,
    )


def pending_answer(operation: str) -> JSONResponse:
    """The result has not come within the wait: 202, and where to find it."""
    location = f"/v1/operations/{operation}"
    return JSONResponse(
        {"status": "pending", "operation": operation, "location": location},
        status_code=202,
        headers={"Location": location, "Retry-After": "1"},
    )


def reply_answer(reply: RawEnvelope) -> JSONResponse:
    if reply.type == QUERY_FAILED:
        code = str(reply.payload.get("code") or "internal_error")
        return rejected(code, str(reply.payload.get("reason") or "The query failed."), False)
    return JSONResponse(reply.payload)


def timed_out(what: str) -> JSONResponse:
    return problem(
        504,
        "gateway_timeout",
        f"No answer to {what} in time; nothing was changed by asking: ask again.",
        retryable=True,
    )
