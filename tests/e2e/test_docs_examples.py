"""Every shell example of the docs runs, as written, against the running system, and
prints what the docs say it prints (``tests/docs_examples.py`` says how they are read
and what of them is adapted to this system: its broker, topic prefix and HTTP ports)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from shared.runtime.settings import Settings
from tests.docs_examples import DOCS, examples, run
from tests.e2e.conftest import System, own_system


def test_the_docs_have_examples_to_run_and_say_what_they_print() -> None:
    every = [e for doc in DOCS for e in examples(doc)]
    assert {e.doc for e in every} == set(DOCS)
    assert sum(1 for e in every if e.prints) >= 15, "most examples say what they print"


async def test_every_shell_example_of_the_docs_runs_as_written(
    settings: Settings, tmp_path: Path
) -> None:
    """On a system of its own: the examples park a message on purpose, and the seed
    stories' system parks nothing."""
    async with own_system(settings, tmp_path, "docs") as system:
        await _run_every_example(system)


async def _run_every_example(system: System) -> None:
    settings = system.settings
    env = {
        **os.environ,
        **settings.kafka_environment(),
        "STORECREDIT_TOPIC_PREFIX": settings.topic_prefix,
        "STORECREDIT_ACTOR_SIGNERS": settings.actor_signers or "{}",
        "STORECREDIT_ACTOR_KEYS": settings.actor_keys.get_secret_value()
        if settings.actor_keys
        else "{}",
        "STORECREDIT_CODE_SEAL_PUBLIC_KEY": settings.code_seal_public_key_hex(),
        "DATABASE_URL": settings.database_url.get_secret_value(),
        **{
            f"{service.upper()}_DATABASE_URL": settings.database_url_for(service)
            for service in system.services
        },
    }
    ports = {name: service.port for name, service in system.services.items()}
    outcomes, errors = await asyncio.to_thread(
        run, DOCS, env, settings.kafka_bootstrap_servers, settings.topic_prefix, ports
    )
    wrong = [
        f"{o.example.doc}:\n{o.example.code}\nmissing {o.missing}\nprinted:\n{o.output[-2000:]}"
        for o in outcomes
        if o.missing
    ]
    assert not wrong, "\n\n".join(wrong[:3]) + f"\n\nstderr:\n{errors[-2000:]}"
