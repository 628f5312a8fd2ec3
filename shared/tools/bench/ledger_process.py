"""The ledger as a deployment runs it: ``python -m services.ledger`` in its own process,
on the run's scratch database and topic prefix, ready when ``/health/ready`` says so.

Only the process started here is ever stopped, by its handle.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from contracts.topics import ALL_TOPICS
from shared.runtime import claims
from shared.runtime.provision.access import admin_config, ensure_access
from shared.runtime.provision.migrations import upgrade
from shared.runtime.settings import Settings
from shared.tools.bench.envelopes import KAFKA_PASSWORDS, KEYSET
from shared.tools.bench.servers import (
    Scratch,
    Servers,
    create_database,
    database_url,
    kafka_settings,
)
from shared.tools.stack import ensure_topics

READY_WITHIN_S = 90.0
STOP_WITHIN_S = 30.0


@dataclass
class LedgerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/health/ready"
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def prepare_ledger(servers: Servers, scratch: Scratch) -> str:
    """A fresh, migrated ledger database and the run's own topics; returns the database URL."""
    url = database_url(servers, scratch.database("ledger"))
    await create_database(servers, url.rsplit("/", 1)[-1])
    await asyncio.to_thread(upgrade, "ledger", url)
    created = await asyncio.to_thread(
        ensure_topics, servers.bootstrap_servers, ALL_TOPICS, scratch.topic_prefix, **servers.kafka
    )
    scratch.topics.extend(created)
    settings = _settings(servers, scratch)
    passwords = settings.principal_passwords()
    await asyncio.to_thread(ensure_access, admin_config(settings), scratch.topic_prefix, passwords)
    return url


def _settings(servers: Servers, scratch: Scratch) -> Settings:
    """The run's settings as far as Kafka goes: its servers, admin and principals."""
    return Settings(
        kafka_bootstrap_servers=servers.bootstrap_servers,
        topic_prefix=scratch.topic_prefix,
        kafka_passwords=KAFKA_PASSWORDS,
        **kafka_settings(servers),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(
    servers: Servers,
    scratch: Scratch,
    ledger_url: str,
    log: Path,
    settings: dict[str, str] | None = None,
) -> LedgerProcess:
    """Start one ledger process; ``settings`` are extra environment variables
    (``STORECREDIT_BATCH_SIZE``, say)."""
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        **_settings(servers, scratch).as_principal("ledger").kafka_environment(),
        "DATABASE_URL": database_url(servers, "postgres"),
        "LEDGER_DATABASE_URL": ledger_url,
        "STORECREDIT_TOPIC_PREFIX": scratch.topic_prefix,
        "STORECREDIT_LOG_FORMAT": "json",
        "STORECREDIT_HTTP_PORT": str(port),
        "STORECREDIT_ACTOR_SIGNERS": claims.signers_json(KEYSET),
        "STORECREDIT_ACTOR_KEYS": claims.keys_json(KEYSET, ["ledger"]),
        **(settings or {}),
    }
    environment.pop("STORECREDIT_CRASH_AT", None)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.ledger"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return LedgerProcess(process, port, log)


async def wait_until_ready(ledger: LedgerProcess) -> None:
    deadline = asyncio.get_running_loop().time() + READY_WITHIN_S
    while not await asyncio.to_thread(ledger.ready):
        if ledger.process.poll() is not None:
            code = ledger.process.returncode
            raise RuntimeError(f"the ledger exited with {code}:\n{ledger.log_tail()}")
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the ledger was not ready in {READY_WITHIN_S:.0f}s")
        await asyncio.sleep(0.2)
