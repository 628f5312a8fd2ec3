"""Run a coroutine to completion from synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run the coroutine; from inside a running loop, use a fresh thread.

    The stack API is synchronous. A caller that already runs an event loop
    (an async fixture, say) still gets an answer instead of "asyncio.run()
    cannot be called from a running event loop"; it blocks that loop meanwhile.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stack-sync") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
