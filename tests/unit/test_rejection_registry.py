"""contracts/rejections.py against the services: every code listed once, every domain
error's code listed with its retryable flag, and one entry per command and query the
four services route."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import services
import shared.runtime
from contracts import rejections
from contracts.rejections import (
    CODES,
    COMMAND_CODES,
    COMMON_COMMAND_CODES,
    COMMON_QUERY_CODES,
    QUERY_CODES,
    RETRYABLE_FOR,
    codes_of,
    is_retryable,
)
from contracts.results import RejectionCode
from shared.runtime.rules import BrokenRule, Rejected

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("fulfillment", "ledger", "order", "store_credit")
SEALED = RejectionCode.CODE_NOT_SEALED.value


def _all_modules() -> list[ModuleType]:
    """Every module of the services and of the shared runtime (not ``__main__``, which
    runs a service)."""
    found = []
    for package, prefix in ((services, "services."), (shared.runtime, "shared.runtime.")):
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            found.append(importlib.import_module(info.name))
    return found


def _definitions() -> dict[str, Any]:
    return {name: importlib.import_module(f"services.{name}.app").definition for name in SERVICES}


def _subclasses(cls: type[Rejected]) -> Iterator[type[Rejected]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _source() -> str:
    return "\n".join(
        path.read_text()
        for part in ("services", "shared")
        for path in sorted((ROOT / part).rglob("*.py"))
    )


def _instantiated(name: str, source: str) -> bool:
    """Whether ``Name(`` is called anywhere (a ``class X(Name)`` line is not a call)."""
    return re.search(rf"(?<![\w.])(?<!class )(?:\w+\.)*{name}\(", source) is not None


EXAMPLES: dict[str, Callable[[], Rejected]] = {
    "shared.runtime.outbox.MessageTooLarge": lambda: _message_too_large(),
}
"""Errors whose code is set when they are made, not on the class: one made for the test."""


def _message_too_large() -> Rejected:
    from shared.runtime.outbox import MessageTooLarge

    return MessageTooLarge(2_000_000)


def _rejection_classes() -> list[type[Rejected]]:
    _all_modules()
    return sorted(
        {
            cls
            for cls in _subclasses(Rejected)
            if cls.__module__.startswith(("services.", "shared."))
        },
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def _service_of(cls: type) -> str | None:
    parts = cls.__module__.split(".")
    return parts[1] if parts[0] == "services" else None


def _commands_of(service: str) -> set[str]:
    return set(_definitions()[service].routes)


def _queries_of(service: str) -> set[str]:
    return set(_definitions()[service].query_routes)


# --- (a) the registry holds together --------------------------------------------------------


def test_every_listed_code_is_a_known_code() -> None:
    listed = set(COMMON_COMMAND_CODES) | set(COMMON_QUERY_CODES)
    for codes in (*COMMAND_CODES.values(), *QUERY_CODES.values()):
        listed |= codes
    assert listed - set(CODES) == set()


def test_every_known_code_is_answered_by_something() -> None:
    """No stale entry: each code of CODES is listed for some command or query."""
    listed = set(COMMON_COMMAND_CODES) | set(COMMON_QUERY_CODES)
    for codes in (*COMMAND_CODES.values(), *QUERY_CODES.values()):
        listed |= codes
    assert set(CODES) - listed == set()


def test_each_entry_is_under_its_own_code_with_one_sentence() -> None:
    for code, rejection in CODES.items():
        assert rejection.code == code
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        sentence = rejection.sentence
        assert sentence[0].isupper() or sentence[0] == "`", code
        assert sentence.endswith("."), code
        assert "\n" not in sentence and "|" not in sentence, code  # one Markdown table cell


def test_own_codes_are_besides_the_common_ones() -> None:
    for command, codes in COMMAND_CODES.items():
        assert not codes & COMMON_COMMAND_CODES, command
    for query, codes in QUERY_CODES.items():
        assert not codes & COMMON_QUERY_CODES, query


def test_the_shared_runtime_codes_are_common() -> None:
    from shared.runtime import claims, codec, command_consumer, queries

    for code in RejectionCode:
        assert code.value in CODES
    assert {claims.FORBIDDEN, claims.UNAUTHENTICATED} <= COMMON_COMMAND_CODES
    assert {claims.FORBIDDEN, claims.UNAUTHENTICATED} <= COMMON_QUERY_CODES
    assert codec.NOT_SEALED == SEALED
    assert {queries.INVALID_QUERY, queries.INTERNAL_ERROR, queries.REPLY_TOO_LARGE} <= (
        COMMON_QUERY_CODES
    )
    assert "internal_error" in COMMON_COMMAND_CODES
    assert "internal_error" in Path(command_consumer.__file__).read_text()
    assert SEALED not in COMMON_COMMAND_CODES | COMMON_QUERY_CODES


def test_codes_of_is_common_and_own_and_refuses_an_unknown_type() -> None:
    for command, codes in COMMAND_CODES.items():
        assert codes_of(command) == COMMON_COMMAND_CODES | codes
    for query, codes in QUERY_CODES.items():
        assert codes_of(query) == COMMON_QUERY_CODES | codes
    assert not set(COMMAND_CODES) & set(QUERY_CODES)
    with pytest.raises(KeyError):
        codes_of("NoSuchCommand")


def test_codes_retryable_in_some_places_only_are_listed_for_those() -> None:
    for code, commands in RETRYABLE_FOR.items():
        assert not CODES[code].retryable, f"{code} is retryable everywhere: say so in CODES"
        assert commands, code
        for command in commands:
            assert code in COMMAND_CODES[command], (command, code)
            assert is_retryable(command, code)
    for code, rejection in CODES.items():
        for command, codes in COMMAND_CODES.items():
            if code in codes and command not in RETRYABLE_FOR.get(code, frozenset()):
                assert is_retryable(command, code) is rejection.retryable


# --- (b) every domain error's code, with its flag -------------------------------------------


def test_the_domain_errors_are_found() -> None:
    classes = _rejection_classes()
    services_seen = {_service_of(cls) for cls in classes}
    assert set(SERVICES) <= services_seen
    assert "MessageTooLarge" in {cls.__name__ for cls in classes}


def _code_and_flag(cls: type[Rejected], source: str) -> tuple[str, bool] | None:
    """The code and retryable flag an error of ``cls`` answers with; None for a base class
    that is never raised itself (a domain's ``LedgerError``, ``BrokenRule``)."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if name in EXAMPLES:
        example = EXAMPLES[name]()
        assert isinstance(example, cls)
        return example.code, example.retryable
    if cls.__subclasses__() and not _instantiated(cls.__name__, source):
        return None
    assert cls.code != Rejected.code, (
        f"{name} sets no code on the class: add an example of it to EXAMPLES"
    )
    return cls.code, cls.retryable


def test_every_domain_error_has_its_code_listed_with_its_retryable_flag() -> None:
    source = _source()
    flags: dict[tuple[str | None, str], set[bool]] = {}
    for cls in _rejection_classes():
        found = _code_and_flag(cls, source)
        if found is None:
            continue
        code, retryable = found
        name = f"{cls.__module__}.{cls.__qualname__}"
        assert code in CODES, f"{name}: {code!r} is not in contracts/rejections.py CODES"
        flags.setdefault((_service_of(cls), code), set()).add(retryable)
        if code not in RETRYABLE_FOR:
            assert retryable is CODES[code].retryable, (
                f"{name}: {code!r} is retryable={retryable} here, {CODES[code].retryable} in CODES"
            )
    for (service, code), seen in flags.items():
        assert len(seen) == 1, f"{service} raises {code!r} both retryable and not"
        if code not in RETRYABLE_FOR:
            continue
        assert service is not None, code
        answering = {c for c in _commands_of(service) if code in COMMAND_CODES[c]}
        retryable_here = RETRYABLE_FOR[code] & _commands_of(service)
        if seen == {True}:
            assert answering == retryable_here, (service, code)
        else:
            assert retryable_here == set(), (service, code)


def test_every_domain_error_is_listed_for_a_command_of_its_service() -> None:
    """A service's own codes are each answered by one of its commands at least."""
    source = _source()
    for cls in _rejection_classes():
        service = _service_of(cls)
        found = _code_and_flag(cls, source)
        if service is None or found is None:
            continue
        code = found[0]
        answered = set(COMMON_COMMAND_CODES)
        for command in _commands_of(service):
            answered |= COMMAND_CODES[command]
        assert code in answered, f"{cls.__module__}.{cls.__qualname__}: {code!r}"


def test_the_unusable_reasons_are_authorize_store_credits_codes() -> None:
    """AuthorizeStoreCredit raises ``Rejected(code, reason)`` with these codes (never
    retryable: a plain Rejected)."""
    from services.store_credit.authorization import UNUSABLE_REASONS

    assert not Rejected.retryable
    for code in UNUSABLE_REASONS:
        assert code in COMMAND_CODES["AuthorizeStoreCredit"], code
        assert not CODES[code].retryable, code


def test_codes_written_into_query_answers_are_listed_for_the_services_queries() -> None:
    """``QueryFailure("code", ...)`` and ``QueryFailed(code="code", ...)`` in a service are
    among the codes of that service's queries."""
    pattern = re.compile(r"QueryFailure\(\s*\"([a-z_]+)\"|QueryFailed\(\s*code=\"([a-z_]+)\"")
    for service in SERVICES:
        text = "\n".join(
            path.read_text() for path in sorted((ROOT / "services" / service).rglob("*.py"))
        )
        written = {a or b for a, b in pattern.findall(text)}
        listed = set(COMMON_QUERY_CODES)
        for query in _queries_of(service):
            listed |= QUERY_CODES[query]
        assert written - listed == set(), service


def test_base_classes_are_not_raised() -> None:
    """What the walk skips as a base is indeed never made itself."""
    source = _source()
    assert not _instantiated("BrokenRule", source)
    for cls in _subclasses(BrokenRule):
        if cls.__module__.startswith("services.") and _code_and_flag(cls, source) is None:
            assert cls.code not in CODES, cls


# --- (c) one entry per routed command and query ---------------------------------------------


def test_command_codes_cover_exactly_the_routed_commands() -> None:
    routed: list[str] = []
    for definition in _definitions().values():
        routed.extend(definition.routes)
    assert len(routed) == len(set(routed))
    assert set(COMMAND_CODES) == set(routed)


def test_query_codes_cover_exactly_the_routed_queries() -> None:
    routed: list[str] = []
    for definition in _definitions().values():
        routed.extend(definition.query_routes)
    assert len(routed) == len(set(routed))
    assert set(QUERY_CODES) == set(routed)


def test_code_not_sealed_is_listed_exactly_for_messages_with_a_sealed_field() -> None:
    for definition in _definitions().values():
        for name, route in definition.routes.items():
            assert (SEALED in COMMAND_CODES[name]) == bool(route.model.sealed_instead), name
        for name, query_route in definition.query_routes.items():
            assert (SEALED in QUERY_CODES[name]) == bool(query_route.model.sealed_instead), name


def test_the_module_is_pure() -> None:
    """Only the standard library and contracts: a client may import it alone."""
    text = Path(rejections.__file__).read_text()
    imported = re.findall(r"^(?:from|import) ([\w.]+)", text, flags=re.MULTILINE)
    assert imported, "no imports found"
    for module in imported:
        assert module == "__future__" or module.split(".")[0] in ("contracts", "dataclasses"), (
            module
        )


_CODE_TABLE_ROW = re.compile(r"^\| `(?P<type>\w+)` \|.*\| (?P<codes>[^|]*) \|$")


def test_the_service_readmes_code_tables_agree_with_the_registry() -> None:
    """A README row naming a command and its rejection codes lists exactly the command's
    own codes (common ones may be named too): prose never drifts from contracts/codes.md."""
    rows = 0
    for service in SERVICES:
        for line in (ROOT / "services" / service / "README.md").read_text().splitlines():
            row = _CODE_TABLE_ROW.match(line)
            if row is None or row["type"] not in COMMAND_CODES:
                continue
            rows += 1
            named = set(re.findall(r"`(\w+)`", row["codes"]))
            own = set(COMMAND_CODES[row["type"]])
            assert own <= named, f"{service}: {row['type']} lacks {sorted(own - named)}"
            unknown = named - own - set(COMMON_COMMAND_CODES)
            assert not unknown, f"{service}: {row['type']} names {sorted(unknown)}"
    assert rows >= 8  # the ledger's table at least
