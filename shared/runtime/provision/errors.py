"""The one exception provisioning raises (and the local stack, which builds on it)."""

from __future__ import annotations


class ProvisionError(RuntimeError):
    """Creating databases or topics, or starting or stopping a local server, failed.

    The message says what failed and, where there is one, ends with the tail of the
    log that explains why.
    """
