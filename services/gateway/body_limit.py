"""Bodies beyond ``STORECREDIT_GATEWAY_MAX_BODY_BYTES`` are refused 413 before they are read."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM = {
    "type": "https://storecredit.dev/problems/body_too_large",
    "title": "The request body is too large.",
    "status": 413,
    "code": "body_too_large",
    "retryable": False,
}


class BodyLimit:
    """Pure ASGI: a declared Content-Length above the limit is refused at once; a body
    that grows past it while streaming is cut off the same way."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, self.max_bytes)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _refuse(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _refuse(send: Send, max_bytes: int) -> None:
    body: dict[str, Any] = {**PROBLEM, "detail": f"At most {max_bytes} bytes are read."}
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(raw)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
