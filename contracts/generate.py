"""Write the JSON Schema of every message and the AsyncAPI document from the registry.

Usage::

    python -m contracts.generate          # (re)write contracts/schemas/*.json, asyncapi.json
    python -m contracts.generate --check  # write nothing; exit 1 if any file is stale

Each ``contracts/schemas/<Type>.json`` describes the whole Kafka message value:
the envelope with ``type`` and ``schema_version`` fixed to the message's, and
``payload`` the message's own schema. Schema files of message types that no
longer exist are removed. Output is deterministic (sorted keys, two-space
indent, trailing newline), so regenerating without a change changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.access_docs import access_table, kafka_users
from contracts.asyncapi import (
    all_specs,
    build_document,
    check_registry,
    constrain_envelope,
    envelope_model,
    schema_mode,
    spec_name,
)
from contracts.registry import MessageSpec
from contracts.typed_results import codes_page

CONTRACTS_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = CONTRACTS_DIR / "schemas"
ASYNCAPI_PATH = CONTRACTS_DIR / "asyncapi.json"
ACCESS_PATH = CONTRACTS_DIR / "access.md"
CODES_PATH = CONTRACTS_DIR / "codes.md"
KAFKA_USERS_PATH = CONTRACTS_DIR.parent / "deploy" / "k8s" / "kafka-users.yaml"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE = "https://storecredit.dev/contracts/schemas/"


def dumps(document: Any) -> str:
    """The one JSON formatting of every generated file."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def message_schema(spec: MessageSpec) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one message on the wire: envelope plus typed payload."""
    schema = envelope_model(spec).model_json_schema(mode=schema_mode(spec))
    schema = constrain_envelope(schema, spec)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"{SCHEMA_ID_BASE}{spec_name(spec)}.json"
    return schema


def expected_files() -> dict[Path, str]:
    """Every generated file and its exact content."""
    check_registry()
    files = {
        SCHEMAS_DIR / f"{spec_name(spec)}.json": dumps(message_schema(spec)) for spec in all_specs()
    }
    files[CODES_PATH] = codes_page()
    files[ASYNCAPI_PATH] = dumps(build_document())
    files[ACCESS_PATH] = access_table()
    files[KAFKA_USERS_PATH] = kafka_users()
    return files


@dataclass(frozen=True)
class Differences:
    stale: list[Path]
    missing: list[Path]
    extra: list[Path]

    def __bool__(self) -> bool:
        return bool(self.stale or self.missing or self.extra)

    def lines(self, labels: tuple[str, str, str] = ("stale", "missing", "extra")) -> list[str]:
        """One line per file, labelled (by default) stale, missing or extra."""
        groups = zip(labels, (self.stale, self.missing, self.extra), strict=True)
        return [f"{label}: {_relative(path)}" for label, paths in groups for path in paths]


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(CONTRACTS_DIR.parent))
    except ValueError:
        return str(path)


def differences(expected: dict[Path, str]) -> Differences:
    """How the files on disk differ from ``expected``."""
    on_disk = sorted(SCHEMAS_DIR.glob("*.json")) if SCHEMAS_DIR.is_dir() else []
    stale, missing = [], []
    for path, content in sorted(expected.items()):
        if not path.is_file():
            missing.append(path)
        elif path.read_text(encoding="utf-8") != content:
            stale.append(path)
    extra = [path for path in on_disk if path not in expected]
    return Differences(stale=stale, missing=missing, extra=extra)


def write(expected: dict[Path, str], found: Differences) -> None:
    SCHEMAS_DIR.mkdir(parents=True, exist_ok=True)
    for path in [*found.stale, *found.missing]:
        path.write_text(expected[path], encoding="utf-8", newline="\n")
    for path in found.extra:
        path.unlink()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.generate",
        description="Generate contracts/schemas/*.json and contracts/asyncapi.json.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 listing stale, missing and extra files",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    expected = expected_files()
    found = differences(expected)
    if args.check:
        if found:
            print("Generated contracts are out of date; run `make contracts`:", file=sys.stderr)
            for line in found.lines():
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"contracts up to date ({len(expected)} files)")
        return 0
    write(expected, found)
    changes = found.lines(("updated", "created", "removed"))
    for line in changes:
        print(line)
    print(f"contracts generated: {len(expected)} files, {len(changes)} changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
