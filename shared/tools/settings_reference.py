"""The configuration reference, ``docs/configuration.md``, rendered from ``Settings`` itself.

Usage::

    python -m shared.tools.settings_reference          # (re)write docs/configuration.md
    python -m shared.tools.settings_reference --check  # write nothing; exit 1 if it is stale

Every field of ``shared.runtime.settings.Settings`` is one row: its environment
variable (from the field's ``validation_alias``), its type in words (with the unit
its name ends in, ``_ms`` or ``_s``, and its bounds), its default and its
``description``. The rows are grouped by the first environment variable's name, by
the first rule of ``GROUPS`` that matches it:

1. Kafka and topics: starts with ``KAFKA_``, or contains ``_KAFKA_`` or ``_TOPIC_``;
2. Databases: ends with ``DATABASE_URL``;
3. Store-credit codes and guesses: contains ``_CODE_`` or ``_GUESS_``;
4. Actor claims: contains ``_ACTOR_``;
5. The HTTP gateway: contains ``_GATEWAY_``;
6. Logging and the HTTP endpoint: contains ``_LOG_`` or ``_HTTP_``;
7. Timing and sweeps: ends with ``_MS`` or ``_S``;
8. Other: matches none of the rules above.

Groups come in that order, rows in the order the fields are declared, so the page
depends on nothing but the model. Importing this module reads no environment and
writes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, AliasPath, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shared.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE_PATH = ROOT / "docs" / "configuration.md"
COMMAND = ".venv/bin/python -m shared.tools.settings_reference"

# A field's description saying "Required by the store-credit service." makes its
# default read "none (required by store-credit)".
REQUIRED_BY = re.compile(r"\bRequired by (?:the )?(?P<who>[\w-]+)(?: service)?\b")


@dataclass(frozen=True)
class Group:
    title: str
    rule: str
    matches: Callable[[str], bool]


GROUPS: tuple[Group, ...] = (
    Group(
        "Kafka and topics",
        "starts with `KAFKA_`, or contains `_KAFKA_` or `_TOPIC_`",
        lambda env: env.startswith("KAFKA_") or "_KAFKA_" in env or "_TOPIC_" in env,
    ),
    Group("Databases", "ends with `DATABASE_URL`", lambda env: env.endswith("DATABASE_URL")),
    Group(
        "Store-credit codes and guesses",
        "contains `_CODE_` or `_GUESS_`",
        lambda env: "_CODE_" in env or "_GUESS_" in env,
    ),
    Group("Actor claims", "contains `_ACTOR_`", lambda env: "_ACTOR_" in env),
    Group("The HTTP gateway", "contains `_GATEWAY_`", lambda env: "_GATEWAY_" in env),
    Group(
        "Logging and the HTTP endpoint",
        "contains `_LOG_` or `_HTTP_`",
        lambda env: "_LOG_" in env or "_HTTP_" in env,
    ),
    Group(
        "Timing and sweeps",
        "ends with `_MS` or `_S`",
        lambda env: env.endswith("_MS") or env.endswith("_S"),
    ),
    Group("Other", "matches none of the rules above", lambda env: True),
)


# --- one field -------------------------------------------------------------------------------


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The environment variables of a field, as its alias names them. Environment names
    are case-insensitive, so ``_env``'s lower-case twin of each name is left out."""
    alias = field.validation_alias
    if alias is None:
        prefix = str(Settings.model_config.get("env_prefix", ""))
        choices: list[str | AliasPath] = [field.alias or f"{prefix}{name}"]
    elif isinstance(alias, AliasChoices):
        choices = list(alias.choices)
    else:
        choices = [alias]
    found: list[str] = []
    for choice in choices:
        text = choice if isinstance(choice, str) else str(choice.path[0])
        if text.upper() not in found:
            found.append(text.upper())
    return found


def unit_of(name: str) -> str | None:
    if name.endswith("_ms"):
        return "milliseconds"
    if name.endswith("_s"):
        return "seconds"
    return None


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return annotation


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bounds_of(field: FieldInfo) -> str:
    """``ge``/``gt``/``le``/``lt`` in words: "10 to 60000", "above 0, up to 60"."""
    low = high = ""
    for item in field.metadata:
        if getattr(item, "ge", None) is not None:
            low = _number(item.ge)
        elif getattr(item, "gt", None) is not None:
            low = f"above {_number(item.gt)}"
        if getattr(item, "le", None) is not None:
            high = _number(item.le)
        elif getattr(item, "lt", None) is not None:
            high = f"below {_number(item.lt)}"
    if low and high:
        joiner = ", up to " if low.startswith("above") or high.startswith("below") else " to "
        return f"{low}{joiner}{high}"
    if low:
        return low if low.startswith("above") else f"at least {low}"
    if high:
        return high if high.startswith("below") else f"at most {high}"
    return ""


def type_words(name: str, field: FieldInfo) -> str:
    """The type in plain words: "integer (milliseconds), 10 to 60000"."""
    annotation = _without_none(field.annotation)
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(annotation))
    words = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "`true` or `false`",
        SecretStr: "text (secret)",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))
    unit = unit_of(name)
    if unit:
        words = f"{words} ({unit})"
    bounds = bounds_of(field)
    return f"{words}, {bounds}" if bounds else words


def _duration(value: float, unit: str) -> str:
    """A long duration in larger words too: 86400 s is "1 day"."""
    seconds = value / 1000 if unit == "milliseconds" else value
    for size, word in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0 and (size > 1 or unit == "milliseconds"):
            count = int(seconds // size)
            return f"{count} {word}{'' if count == 1 else 's'}"
    return ""


def default_words(name: str, field: FieldInfo) -> str:
    """The default as one would set it: numbers with their unit, ``none`` for unset."""
    if field.default_factory is not None:
        return "computed at start-up"
    default = field.default
    if default is PydanticUndefined:
        return "required"
    secret = _without_none(field.annotation) is SecretStr
    if default is None:
        notes = ["secret"] if secret else []
        found = REQUIRED_BY.search(field.description or "")
        if found:
            notes.append(f"required by {found.group('who')}")
        return f"none ({'; '.join(notes)})" if notes else "none"
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, int | float):
        unit = unit_of(name)
        if unit is None:
            return f"`{_number(default)}`"
        symbol = "ms" if unit == "milliseconds" else "s"
        longer = _duration(default, unit)
        return f"`{_number(default)}` {symbol}" + (f" ({longer})" if longer else "")
    if default == "":
        return "empty"
    return f"`{default}`"


def plain(text: str) -> str:
    """Prose for one table cell: one line, with Markdown's table and HTML characters
    escaped."""
    text = " ".join(text.split())
    for char in ("\\", "|", "<", "*"):
        text = text.replace(char, "\\" + char)
    return text


# --- the page --------------------------------------------------------------------------------


def group_of(env: str) -> Group:
    return next(group for group in GROUPS if group.matches(env))


def row(name: str, field: FieldInfo) -> str:
    names = " or ".join(f"`{env}`" for env in env_names(name, field))
    cells = (names, type_words(name, field), default_words(name, field))
    return "| " + " | ".join((*cells, plain(field.description or ""))) + " |"


def render() -> str:
    """The whole page, from the model's fields alone."""
    rows: dict[str, list[str]] = {group.title: [] for group in GROUPS}
    for name, field in Settings.model_fields.items():
        rows[group_of(env_names(name, field)[0]).title].append(row(name, field))
    lines = [
        "# Configuration reference",
        "",
        f"Generated by `{COMMAND}` from the `Settings` model in",
        "[shared/runtime/settings.py](../shared/runtime/settings.py): do not edit this page.",
        "Change a field there (its `description=` is the last column) and run the command",
        "again; `--check`, and a unit test, fail while this page is out of date.",
        "",
        "Every setting is an environment variable (names are case-insensitive). Unset,",
        "a setting has its default; `none` means unset, with nothing in its place.",
        "Settings are grouped by the variable's name, by the first rule that matches it.",
    ]
    for group in GROUPS:
        if not rows[group.title]:
            continue
        lines += [
            "",
            f"## {group.title}",
            "",
            f"The variable's name {group.rule}.",
            "",
            "| Variable | Type | Default | Description |",
            "|---|---|---|---|",
            *rows[group.title],
        ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m shared.tools.settings_reference",
        description="Write docs/configuration.md from the Settings model.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the page is stale"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    page = render()
    current = PAGE_PATH.read_text() if PAGE_PATH.exists() else None
    relative = PAGE_PATH.relative_to(ROOT)
    if args.check:
        if current != page:
            print(f"{relative} is out of date; run `{COMMAND}`", file=sys.stderr)
            return 1
        print(f"{relative} is up to date")
        return 0
    if current != page:
        PAGE_PATH.write_text(page)
        print(f"wrote {relative}")
    else:
        print(f"{relative} unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
