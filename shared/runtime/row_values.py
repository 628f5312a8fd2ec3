"""A row's values built from a mapping, read as a row of a query is read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RowValues:
    """Some columns of one table, from a statement that returns more than one table's
    row (a CTE's, an array of a row type): each column by attribute, and all of them
    as ``_mapping``, as SQLAlchemy's ``Row`` has them."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"RowValues({dict(self._mapping)!r})"
