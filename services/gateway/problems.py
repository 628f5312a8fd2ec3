"""HTTP answers for the contract's codes: a status each, and problem details (RFC 9457).

A rejected command or a failed query answers ``application/problem+json``::

    {"type": "https://storecredit.dev/problems/insufficient_funds", "title": "...",
     "status": 409, "detail": "<the service's reason>", "code": "insufficient_funds",
     "retryable": false}

``title`` is the code's sentence from ``contracts/rejections.py``, ``detail`` the
reason the service gave. The status follows from the code alone (``status_for``):
401 unauthenticated, 403 forbidden, 404 anything not found, 422 what is wrong with
the request itself (invalid input, a reused idempotency key), 429 a lock-out, 503
what a retry with the same idempotency key may cure (with Retry-After), 500 a bug,
and 409 every other refusal: a rule of the domain said no in the state things are in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.responses import JSONResponse

from contracts.rejections import CODES, Rejection

GATEWAY_CODES: dict[str, Rejection] = {
    rejection.code: rejection
    for rejection in (
        Rejection(
            "invalid_request",
            False,
            "The request does not match the contract (each field named in errors); "
            "correct it before sending it again.",
        ),
        Rejection(
            "body_too_large",
            False,
            "The request body is over STORECREDIT_GATEWAY_MAX_BODY_BYTES; nothing was read.",
        ),
        Rejection(
            "gateway_timeout",
            True,
            "No reply came in the bounded wait; asking changed nothing: ask again.",
        ),
        Rejection(
            "operation_not_found",
            False,
            "No operation of yours has this id (it is signed for the caller that sent it).",
        ),
        Rejection("not_found", False, "There is no such resource."),
        Rejection(
            "not_redrivable",
            False,
            "This dead letter cannot be re-driven from the gateway (the detail says why); "
            "an operator may send a corrected message instead.",
        ),
        Rejection("method_not_allowed", False, "The resource does not take this method."),
    )
}
"""The codes the gateway answers itself, besides the contract's (contracts/codes.md)."""

PROBLEM_BASE = "https://storecredit.dev/problems/"
PROBLEM_TYPE = "application/problem+json"
RETRY_AFTER_S = 1

_UNPROCESSABLE = frozenset(
    {
        "idempotency_key_reused",
        "invalid_amount",
        "invalid_code",
        "invalid_command",
        "invalid_cursor",
        "invalid_dates",
        "invalid_envelope",
        "invalid_expiry",
        "invalid_query",
        "invalid_sealed_code",
        "code_not_sealed",
        "message_too_large",
        "amount_too_large",
        "reserved_account_id",
        "use_reverse_command",
    }
)


def status_for(code: str, retryable: bool = False) -> int:
    if code == "unauthenticated":
        return 401
    if code in ("forbidden", "other_customer"):
        return 403
    if code.endswith("_not_found") or code == "order_not_known":
        return 404
    if code in _UNPROCESSABLE:
        return 422
    if code == "locked_out":
        return 429
    if code == "internal_error":
        return 500
    if retryable:
        return 503
    return 409


def problem(
    status: int, code: str, detail: str, *, retryable: bool = False, **extra: Any
) -> JSONResponse:
    known = CODES.get(code) or GATEWAY_CODES.get(code)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": known.sentence if known is not None else detail,
        "status": status,
        "detail": detail,
        "code": code,
        "retryable": retryable,
        **extra,
    }
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status in (429, 503) or retryable else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def rejected(code: str, detail: str, retryable: bool, **extra: Any) -> JSONResponse:
    return problem(status_for(code, retryable), code, detail, retryable=retryable, **extra)


def invalid_request(errors: Iterable[tuple[str | None, str]]) -> JSONResponse:
    """A request its contract refuses, as a 422 problem naming each field (``None``: the
    request as a whole)."""
    listed = [{"field": name or None, "message": message} for name, message in errors]
    return problem(
        422,
        "invalid_request",
        "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in listed),
        errors=listed,
    )
