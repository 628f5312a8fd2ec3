"""Crash points for fault-injection tests.

``STORECREDIT_CRASH_AT=after_commit`` makes the process die (``os._exit``, no
clean-up, like a power cut) the first time it reaches that point. Tests use it
to prove that a crash between commit and publish loses nothing. The points:
``after_commit`` (a command handled and committed) and
``event_after_commit:<type>`` (an event of that type handled and committed).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

CRASH_EXIT_CODE = 70

_armed: set[str] = set()


def arm(point: str | None) -> None:
    if point:
        _armed.add(point)


def crash_point(point: str) -> None:
    if point in _armed:
        log.error("crash point reached, exiting now", extra={"crash_point": point})
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(CRASH_EXIT_CODE)
