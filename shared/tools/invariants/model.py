"""What a check finds (a :class:`Violation`) and the two kinds of check.

A :class:`LocalCheck` looks at one service's database at a time: everything it
compares was written together, so one snapshot of that database is enough and
whatever it finds is a violation at once.

A :class:`CrossCheck` compares two services' databases, which move
independently: a difference may only be a message still on its way. It
gathers *facts* from the service that acts first (the antecedent: the ledger
for a balance copy, the order service for a checkout) and *verifies* them
against the database of the service that must follow (the consequent). The
runner verifies the same facts again after the settle time against a fresh
snapshot of the consequent, and reports only what is still wrong: the facts
are as old as the first look, so a follower that has caught up with them (or
gone beyond) passes, however busy the system.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Text, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

Connections = Mapping[str, AsyncConnection]
"""One read-only connection per service, each inside its own snapshot."""

Facts = Mapping[str, Any]
"""What a cross check verifies, by subject (an account id, an order id, ...)."""

IdValue = str | int


@dataclass(frozen=True)
class Violation:
    """One broken invariant: a stable name, a sentence, and the ids involved."""

    name: str
    services: tuple[str, ...]
    message: str
    ids: dict[str, IdValue]
    subject: str | None = field(default=None, compare=False)
    """The fact a cross check looks at again after the settle time (not reported)."""

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What identifies the violation across two looks (not its sentence)."""
        return self.name, tuple(sorted((k, str(v)) for k, v in self.ids.items()))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "services": list(self.services),
            "message": self.message,
            "ids": self.ids,
        }


def violation(
    name: str,
    services: str | tuple[str, ...],
    message: str,
    *,
    subject: str | None = None,
    **ids: IdValue | None,
) -> Violation:
    """A violation; ids given as None are left out."""
    where = (services,) if isinstance(services, str) else services
    kept = {k: v for k, v in ids.items() if v is not None}
    return Violation(name, where, message, kept, subject)


@dataclass(frozen=True)
class Scope:
    """What a local check runs in: which service's database, and the settle time."""

    service: str
    settle_s: float


@dataclass(frozen=True)
class LocalCheck:
    names: tuple[str, ...]
    """The violation names it reports."""
    services: tuple[str, ...]
    """The databases it runs on, one at a time."""
    describes: str
    run: Callable[[AsyncConnection, Scope], Awaitable[list[Violation]]]


@dataclass(frozen=True)
class CrossCheck:
    names: tuple[str, ...]
    source: str
    """The service that acts first; ``facts`` reads it (and others, at the first look)."""
    target: str
    """The service that must follow; ``verify`` reads only its database."""
    describes: str
    facts: Callable[[Connections], Awaitable[Facts]]
    verify: Callable[[AsyncConnection, Facts], Awaitable[list[Violation]]]


def among(column: ColumnElement[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """``column = ANY(:values)``: one array parameter however many values there are."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(Text)))
