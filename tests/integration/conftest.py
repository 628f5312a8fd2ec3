from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.ledger.app import definition as ledger_definition
from shared.service import ServiceRuntime
from shared.settings import Settings


@pytest.fixture(scope="session")
async def ledger(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    """The ledger service, running in this process against the real servers."""
    runtime = ServiceRuntime(ledger_definition, settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
