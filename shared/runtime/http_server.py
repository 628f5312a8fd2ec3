"""A very small HTTP/1.1 server on asyncio, for metrics scrapes and health probes.

Why not a web framework: three GET endpoints for Prometheus and an
orchestrator's probes do not need one, and running on the service's own event
loop is the point of a liveness probe (it answers only while the loop does).
Each request gets one response and the connection is closed; request bodies
are not read. Unknown paths answer 404, other methods than GET and HEAD 405.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

log = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 5.0
MAX_HEADER_LINES = 100


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Awaitable[Response]]


class HttpServer:
    """Serves ``routes`` (path to handler) on ``host``:``port`` (0: any free port)."""

    def __init__(self, routes: Mapping[str, Route], *, host: str, port: int) -> None:
        self._routes = routes
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (the one chosen when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the HTTP server is not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._requested_port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            response, head_only = await self._respond(reader)
            writer.write(_encode(response, head_only))
            await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent something unreadable: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[Response, bool]:
        request_line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_SECONDS)
        await asyncio.wait_for(_skip_headers(reader), READ_TIMEOUT_SECONDS)
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return Response(400, b"bad request\n"), False
        method, target = parts[0], parts[1]
        route = self._routes.get(target.split("?", 1)[0])
        if route is None:
            return Response(404, b"not found\n"), False
        if method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed\n"), False
        try:
            return await route(), method == "HEAD"
        except Exception:
            log.exception("HTTP handler failed", extra={"path": target[:200]})
            return Response(500, b"internal error\n"), False


async def _skip_headers(reader: asyncio.StreamReader) -> None:
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return
    raise ValueError("too many header lines")


def _encode(response: Response, head_only: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase
    head = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n"
    )
    if response.status == 405:
        head += "Allow: GET, HEAD\r\n"
    return (head + "\r\n").encode("latin-1") + (b"" if head_only else response.body)
