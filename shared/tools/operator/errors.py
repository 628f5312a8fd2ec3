"""What an operator command says when it cannot do what was asked."""

from __future__ import annotations

import sys
from collections.abc import Callable

USAGE = 2
"""The exit code of a request that was refused before anything was read or sent."""


class OperatorError(Exception):
    """A sentence for the operator and the exit code; no traceback is shown."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def reported(command: Callable[[], int]) -> int:
    """Run ``command``; an OperatorError becomes a line on stderr and its exit code."""
    try:
        return command()
    except OperatorError as error:
        print(f"storecredit: {error}", file=sys.stderr)
        return error.exit_code
