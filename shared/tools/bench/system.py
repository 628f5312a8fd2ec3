"""The whole system for the benchmark: the four services as a deployment runs them
(``python -m services.<name>``, each its own process), on the run's scratch databases
and topic prefix, migrated, ready when every ``/health/ready`` says so.

The settings are made here, once, and ``shared.runtime.provision.prepare`` creates and migrates
the databases, as ``storecredit setup`` does. Each process gets only the secrets its
service reads: the code-hash key and the sealing private key to store-credit, each
its own signing key. Only the processes started here are ever stopped, by
their handles.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contracts.topics import ALL_TOPICS
from shared.runtime import claims, sealing
from shared.runtime.broker import kafka_client_options
from shared.runtime.provision import prepare
from shared.runtime.settings import SERVICES, Settings
from shared.tools.bench.envelopes import KAFKA_PASSWORDS, KEYSET
from shared.tools.bench.ledger_process import READY_WITHIN_S, LedgerProcess, free_port
from shared.tools.bench.servers import Scratch, Servers, database_url, kafka_settings
from shared.tools.stack import ensure_topics


@dataclass
class ServiceProcess(LedgerProcess):
    """One service's process: the ledger's handle (ready, log tail, stop), with a name."""

    name: str


@dataclass
class System:
    services: dict[str, ServiceProcess]
    settings: Settings
    logs: Path

    def stop(self) -> None:
        """Every process asked to stop at once, then each waited for (killed if stuck)."""
        for service in self.services.values():
            if service.process.poll() is None:
                service.process.terminate()
        for service in self.services.values():
            service.stop()


def scratch_settings(servers: Servers, scratch: Scratch) -> Settings:
    """Settings of the run's own system: a database per service, the run's topic prefix,
    fresh secrets (no store-credit code exists before the run)."""
    databases: dict[str, Any] = {
        f"{service}_database_url": database_url(servers, scratch.database(service))
        for service in SERVICES
    }
    return Settings(
        kafka_bootstrap_servers=servers.bootstrap_servers,
        database_url=database_url(servers, "postgres"),
        topic_prefix=scratch.topic_prefix,
        code_hash_key=secrets.token_hex(32),
        code_seal_private_key=sealing.new_private_key(),
        actor_signers=claims.signers_json(KEYSET),
        actor_keys=claims.keys_json(KEYSET),
        kafka_passwords=KAFKA_PASSWORDS,
        **kafka_settings(servers),
        **databases,
    )


def _prepare(settings: Settings, scratch: Scratch) -> None:
    """Topics first, so the scratch knows every one created even if a migration fails."""
    scratch.topics.extend(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            ALL_TOPICS,
            settings.topic_prefix,
            **kafka_client_options(settings),
        )
    )
    prepare(settings)


def _secrets(settings: Settings, service: str) -> dict[str, str]:
    claimed = settings.actor_environment(service)
    if service == "store_credit":
        return {
            **claimed,
            "STORECREDIT_CODE_HASH_KEY": settings.code_hash_key_bytes().decode(),
            "STORECREDIT_CODE_SEAL_PRIVATE_KEY": settings.code_seal_private_key_hex(),
        }
    return claimed


def environment(
    settings: Settings, service: str, port: int, extra: dict[str, str]
) -> dict[str, str]:
    """What one service process reads (shared/runtime/settings.py), then ``extra`` over it."""
    environment = {
        **os.environ,
        **_secrets(settings, service),
        "PYTHONUNBUFFERED": "1",
        **settings.as_principal(service).kafka_environment(),
        "DATABASE_URL": settings.database_url.get_secret_value(),
        f"{service.upper()}_DATABASE_URL": settings.database_url_for(service),
        "STORECREDIT_TOPIC_PREFIX": settings.topic_prefix,
        "STORECREDIT_LOG_FORMAT": "json",
        "STORECREDIT_HTTP_PORT": str(port),
        **extra,
    }
    if "STORECREDIT_CRASH_AT" not in extra:
        environment.pop("STORECREDIT_CRASH_AT", None)  # a fault left in the shell, not asked for
    return environment


def _launch(settings: Settings, service: str, logs: Path, extra: dict[str, str]) -> ServiceProcess:
    port = free_port()
    log = logs / f"{service}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"],
            env=environment(settings, service, port, extra),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(process, port, log, service)


class Probed(Protocol):
    """A service process that says whether it is ready (a ServiceProcess, a test's Service)."""

    @property
    def process(self) -> subprocess.Popen[bytes]: ...

    def ready(self) -> bool: ...

    def log_tail(self, lines: int = ...) -> str: ...


async def wait_until_ready(services: Mapping[str, Probed]) -> None:
    """Until every ``/health/ready`` answers 200; RuntimeError at once if a process exits,
    or if one is not ready within READY_WITHIN_S."""
    deadline = asyncio.get_running_loop().time() + READY_WITHIN_S
    waiting = dict(services)
    while waiting:
        for name, service in list(waiting.items()):
            if service.process.poll() is not None:
                code = service.process.returncode
                raise RuntimeError(f"{name} exited with {code}:\n{service.log_tail()}")
            if await asyncio.to_thread(service.ready):
                del waiting[name]
        if waiting and asyncio.get_running_loop().time() > deadline:
            tails = "\n\n".join(f"{n}:\n{s.log_tail()}" for n, s in sorted(waiting.items()))
            raise RuntimeError(f"not ready in {READY_WITHIN_S:.0f}s: {sorted(waiting)}\n{tails}")
        if waiting:
            await asyncio.sleep(0.2)


async def start(
    servers: Servers, scratch: Scratch, settings: dict[str, str] | None = None
) -> System:
    """Databases, migrations and topics of the run, then the four services, ready.

    ``settings`` are extra environment variables for every process
    (``{"STORECREDIT_BATCH_SIZE": "100"}``, say). Logs go to a new
    temporary directory, named in errors and kept after the run.
    """
    configured = scratch_settings(servers, scratch)
    await asyncio.to_thread(_prepare, configured, scratch)
    logs = Path(tempfile.mkdtemp(prefix=f"storecredit-{scratch.name}-"))
    system = System(
        {name: _launch(configured, name, logs, settings or {}) for name in SERVICES},
        configured,
        logs,
    )
    try:
        await wait_until_ready(system.services)
    except BaseException:
        await asyncio.to_thread(system.stop)
        raise
    return system
