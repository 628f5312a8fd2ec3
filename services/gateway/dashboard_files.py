"""The Dashboard's files (``dashboard/``), served at ``/dashboard/`` by the gateway.

Static files, no build step: the page signs in in the browser and calls the same
``/v1`` API as everyone else. Every response carries a strict Content-Security-Policy
(scripts, styles and calls from this origin only; no inline script, no framing), so
nothing a customer or a shop wrote can run in an admin's page, and ``no-store``, so no
admin page lingers in a shared cache.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

DASHBOARD = Path(__file__).parent / "dashboard"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
mimetypes.add_type("text/javascript", ".mjs")


class DashboardFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def add_dashboard(app: FastAPI) -> None:
    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> Any:
        return RedirectResponse("/dashboard/", status_code=308)

    app.mount("/dashboard/", DashboardFiles(directory=DASHBOARD, html=True), name="dashboard")
