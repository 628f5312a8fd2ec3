"""What a handler answers is what its contract says: every accepted result's
``produced`` validates against its command's model (``contracts.produced``), and every
rejection code, of a command or a query, is one its message lists
(``contracts.rejections``).

An answer outside its contract is a bug of the service, not of the client: it is
logged as an error and counted; with ``STORECREDIT_STRICT_CONTRACTS`` (the tests run
so) it raises :class:`ContractBreach`, which the consumer treats like any handler
failure (the message is parked, its sender told ``internal_error``), so a test that
makes a handler answer off its contract fails.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from contracts.produced import PRODUCED
from contracts.rejections import codes_of

log = logging.getLogger(__name__)


class ContractBreach(Exception):
    """A handler answered something its message's contract does not list."""


def check_produced(message_type: str, produced: dict[str, Any], *, strict: bool) -> None:
    model = PRODUCED.get(message_type)
    if model is None:
        _breach(f"{message_type} has no produced model in contracts/produced.py", strict)
        return
    try:
        model.model_validate(produced)
    except ValidationError as error:
        _breach(f"{message_type} produced off its contract: {error}", strict)


def check_code(message_type: str, code: str, *, strict: bool) -> None:
    try:
        listed = codes_of(message_type)
    except KeyError:
        _breach(f"{message_type} has no rejection codes in contracts/rejections.py", strict)
        return
    if code not in listed:
        _breach(f"{message_type} answered {code!r}, a code its contract does not list", strict)


def _breach(what: str, strict: bool) -> None:
    log.error("answer off its contract", extra={"breach": what[:2000]})
    if strict:
        raise ContractBreach(what)
