"""docs/configuration.md is the Settings model, rendered: up to date, complete and
the same on every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.runtime.settings import Settings
from shared.tools import settings_reference
from shared.tools.settings_reference import COMMAND, PAGE_PATH, env_names, main, render

ROOT = Path(__file__).resolve().parents[2]


def rows_of(page: str) -> dict[str, str]:
    """Each table row of the page, by the first environment variable it names."""
    found: dict[str, str] = {}
    for line in page.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1].strip().split("`")[1]
            assert first not in found, f"{first} has two rows"
            found[first] = line
    return found


def expected_default(value: object) -> str:
    """What the row must show of a default, worked out apart from the renderer."""
    if value is None:
        return "none"
    if isinstance(value, SecretStr):
        return f"`{value.get_secret_value()}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def test_the_committed_page_is_up_to_date() -> None:
    assert PAGE_PATH == ROOT / "docs" / "configuration.md"
    committed = PAGE_PATH.read_text() if PAGE_PATH.exists() else ""
    assert committed == render(), f"docs/configuration.md is out of date: run `{COMMAND}`"


def test_check_answers_1_with_one_line_when_the_page_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "docs" / "configuration.md"
    stale.parent.mkdir()
    stale.write_text("# Configuration reference\n\nold\n")
    monkeypatch.setattr(settings_reference, "ROOT", tmp_path)
    monkeypatch.setattr(settings_reference, "PAGE_PATH", stale)
    assert main(["--check"]) == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and COMMAND in message
    assert main([]) == 0
    assert stale.read_text() == render()
    assert main(["--check"]) == 0


def test_every_setting_appears_with_its_variable_and_default() -> None:
    rows = rows_of(PAGE_PATH.read_text())
    assert len(rows) == len(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        names = env_names(name, field)
        assert names, name
        row = rows.get(names[0])
        assert row is not None, f"{name} ({names[0]}) is missing from docs/configuration.md"
        for env in names:
            assert f"`{env}`" in row, (name, env)
        default_cell = row.split("|")[3]
        assert expected_default(field.default) in default_cell, (name, row)
        if field.description:
            assert " ".join(field.description.split())[:20].replace("*", "\\*") in row, name


def test_variables_come_from_the_aliases_without_their_lower_case_twin() -> None:
    field = Settings.model_fields["kafka_bootstrap_servers"]
    assert env_names("kafka_bootstrap_servers", field) == ["KAFKA_BOOTSTRAP_SERVERS"]
    rows = rows_of(render())
    assert "`500` ms" in rows["STORECREDIT_OUTBOX_POLL_MS"]
    assert "`86400` s (1 day)" in rows["STORECREDIT_CART_TTL_S"]
    assert "none (secret; required by store-credit)" in rows["STORECREDIT_CODE_HASH_KEY"]
    assert "none (secret)" in rows["KAFKA_SASL_PASSWORD"]


def test_the_page_is_the_same_every_time_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = render()
    monkeypatch.setenv("STORECREDIT_BATCH_SIZE", "7")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "elsewhere:9092")
    assert render() == first
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    rendered = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from shared.tools.settings_reference import render; "
            "sys.stdout.write(render())",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert rendered == first
