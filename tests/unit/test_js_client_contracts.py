"""The JavaScript client reads from the contracts what the Python side knows: the key of every
command and query (the AsyncAPI's ``x-key-field``), and it refuses a number JavaScript would
round rather than pass it on."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from contracts.registry import MESSAGES

CLIENT_DIR = Path(__file__).parents[2] / "clients" / "js"

SCRIPT = """
import { Contracts } from "./contracts.mjs";
import { checkExactNumbers } from "./client.mjs";
const [contractsDir, asked] = process.argv.slice(1);
const contracts = new Contracts(contractsDir);
const keys = {};
for (const [type, payload] of Object.entries(JSON.parse(asked))) {
  try { keys[type] = contracts.keyOf(type, payload); } catch (error) { keys[type] = null; }
}
const exact = (text) => { try { checkExactNumbers(JSON.parse(text)); return true; }
  catch { return false; } };
console.log(JSON.stringify({
  keys,
  safe: exact('{"balance": 9007199254740991, "rate": "0.01", "list": [1, -2]}'),
  unsafe: exact('{"payload": {"produced": {"balance": 9223372036854775807}}}'),
}));
"""


def run_client(asked: dict[str, dict[str, str]]) -> dict[str, object]:
    node = shutil.which("node")
    assert node is not None, "Node.js is part of this machine (see the developers' guide)"
    assert (CLIENT_DIR / "node_modules" / "ajv").is_dir(), "`make venv` installs it (npm ci)"
    done = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            SCRIPT,
            "--",
            str(CLIENT_DIR.parent.parent / "contracts"),
            json.dumps(asked),
        ],
        capture_output=True,
        check=True,
        timeout=60,
        cwd=CLIENT_DIR,
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_the_js_client_keys_every_command_and_query_as_the_python_contracts_do() -> None:
    asked: dict[str, dict[str, str]] = {}
    expected: dict[str, str | None] = {}
    for spec in MESSAGES:
        if spec.role not in ("command", "query"):
            continue
        fields = [name for name in spec.model.model_fields if name.endswith("_id")]
        asked[spec.model.message_type] = {name: f"{name}-value" for name in fields}
        field = spec.model.key_field
        expected[spec.model.message_type] = None if field is None else f"{field}-value"
    answer = run_client(asked)
    assert answer["keys"] == expected
    assert answer["safe"] is True
    assert answer["unsafe"] is False
