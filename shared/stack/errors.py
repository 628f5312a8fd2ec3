"""The one exception the local stack raises."""

from __future__ import annotations


class StackError(RuntimeError):
    """Installing, starting or stopping part of the local stack failed.

    The message says what failed and, where there is one, ends with the tail
    of the log that explains why.
    """
