"""Upstream customer events: published by the shop, read by the platform."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from contracts.envelope import Event, Identifier


class CustomerCreated(Event):
    """A customer was created upstream. Key: ``customer_id``.

    The store-credit service gives the customer one point account per active
    template. Fields the platform does not use are accepted and ignored.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    message_type: ClassVar[str] = "CustomerCreated"

    customer_id: Identifier
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)
