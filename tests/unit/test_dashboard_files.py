"""The Dashboard's files as the gateway serves them, without a broker: the strict headers
on every answer, nothing outside its folder, every module it imports present, and no
call that would run text as markup or code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.dashboard_files import DASHBOARD
from shared.runtime.settings import Settings

MODULES = sorted(DASHBOARD.glob("*.mjs"))


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(gateway_operation_key="k" * 40)))


def test_the_address_without_a_slash_is_sent_to_the_one_with(client: TestClient) -> None:
    answer = client.get("/dashboard", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (308, "/dashboard/")


@pytest.mark.parametrize("path", ["", "dashboard.mjs", "chart.mjs", "dashboard.css"])
def test_every_file_has_a_strict_policy_and_is_never_stored(client: TestClient, path: str) -> None:
    answer = client.get(f"/dashboard/{path}")
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe" not in policy
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    expected = {"": "text/html", ".mjs": "text/javascript", ".css": "text/css"}
    kind = expected["" if not path else path[path.rindex(".") :]]
    assert answer.headers["content-type"].startswith(kind)


@pytest.mark.parametrize(
    "path", ["../app.py", "%2e%2e/app.py", "..%2fapp.py", "nothing.mjs", "../../pyproject.toml"]
)
def test_nothing_outside_the_folder_is_served(client: TestClient, path: str) -> None:
    answer = client.get(f"/dashboard/{path}")
    assert answer.status_code == 404 or "def create_app" not in answer.text


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_import_is_a_file_beside_it(module: Path) -> None:
    text = module.read_text()
    for imported in re.findall(r'from "\./([^"]+)"', text):
        assert (DASHBOARD / imported).is_file(), imported


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_text_is_ever_run_as_markup_or_code(module: Path) -> None:
    text = module.read_text()
    for call in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setTimeout("',
        "localStorage",
    ):
        assert call not in text, call
