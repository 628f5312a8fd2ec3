"""Every shell example of the docs runs, as written, against the running system, and
prints what the docs say it prints (``tests/docs_examples.py`` says how they are read
and what of them is adapted to this system: its broker, topic prefix and HTTP ports)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from shared.runtime.settings import Settings
from shared.tools.local_gateway import use_local_gateway
from tests.docs_examples import DOCS, examples, run
from tests.e2e.conftest import System, own_system
from tests.gateway_client import gateway_process


def test_the_docs_have_examples_to_run_and_say_what_they_print() -> None:
    every = [e for doc in DOCS for e in examples(doc)]
    assert {e.doc for e in every} == set(DOCS)
    assert sum(1 for e in every if e.prints) >= 15, "most examples say what they print"


async def test_every_shell_example_of_the_docs_runs_as_written(
    settings: Settings, tmp_path: Path
) -> None:
    """On a system of its own: the examples park a message on purpose, and the seed
    stories' system parks nothing."""
    local_sign_in: dict[str, str] = {}
    use_local_gateway(local_sign_in)  # what `storecredit token` prints is good here
    async with own_system(settings, tmp_path, "docs") as system:
        with gateway_process(system.settings, tmp_path, **local_sign_in) as gateway:
            await _run_every_example(system, int(gateway.url.rsplit(":", 1)[1]))


async def _run_every_example(system: System, gateway_port: int) -> None:
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
    ports["gateway"] = gateway_port
    outcomes, errors = await asyncio.to_thread(
        run, DOCS, env, settings.kafka_bootstrap_servers, settings.topic_prefix, ports
    )
    wrong = [
        f"{o.example.doc}:\n{o.example.code}\nmissing {o.missing}\nprinted:\n{o.output[-2000:]}"
        for o in outcomes
        if o.missing
    ]
    assert not wrong, "\n\n".join(wrong[:3]) + f"\n\nstderr:\n{errors[-2000:]}"
