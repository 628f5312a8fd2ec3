"""Route tables: a service's routes (commands, events of a subscription, queries) by the
message type each handles."""

from __future__ import annotations

from typing import Protocol, TypeVar

from contracts.envelope import Message


class Route(Protocol):
    @property
    def model(self) -> type[Message]: ...


R = TypeVar("R", bound=Route)


def by_type(*routes: R) -> dict[str, R]:
    """``{message type: route}``; two routes for one type are a wiring mistake."""
    table = {route.model.message_type: route for route in routes}
    if len(table) != len(routes):
        raise ValueError("two routes for one message type")
    return table
