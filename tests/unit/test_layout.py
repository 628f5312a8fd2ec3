"""The shape of the house: the services and the runtime they import never import the
tools (the command line, the local stack, the operator's commands, the invariant
checker, the bench, the demo, the workload, the clients), so the service image can
carry the runtime alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SIDE = ("contracts", "services", "shared/runtime")
FORBIDDEN = ("shared.tools", "tests")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function, and every module
    named to ``importlib.import_module``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def runtime_side_files() -> list[Path]:
    return sorted(p for part in RUNTIME_SIDE for p in (ROOT / part).rglob("*.py"))


@pytest.mark.parametrize("path", runtime_side_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_runtime_side_never_imports_the_tools(path: Path) -> None:
    wrong = {
        module
        for module in imported_modules(path)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import importlib\n"
        "def late():\n"
        "    from shared.tools.stack import up\n"
        "    importlib.import_module('shared.tools.bench')\n"
    )
    assert {"shared.tools.stack", "shared.tools.bench"} <= imported_modules(sample)


def test_the_service_image_carries_the_runtime_and_not_the_tools() -> None:
    copied = [
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert "shared/runtime" in copied
    assert not any(c == "shared" or c.startswith("shared/tools") for c in copied), copied
