"""The one exception the local stack raises: provisioning's, which it builds on."""

from __future__ import annotations

from shared.runtime.provision.errors import ProvisionError

StackError = ProvisionError
"""Installing, starting or stopping part of the local stack failed (or creating its
databases and topics)."""
