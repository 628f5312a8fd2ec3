"""The whole system for end-to-end tests: the four services as separate processes
(``python -m services.<name>``, as ``make run`` and a deployment start them) that
talk only through topics, each with its own database, on the session's Kafka and
PostgreSQL. They get topics and databases of their own (a prefix, fresh names), so
no in-process service of another test reads their messages.

A service is ready when its ``/health/ready`` answers 200 (its consumers own
partitions, the broker and database answer). One that exits or never gets ready
fails the session with the end of its log.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from contracts.topics import ALL_TOPICS
from shared.settings import SERVICES, Settings
from shared.setup import prepare
from tests.integration.conftest import delete_topics, drop_database
from tests.random_refs import random_id

READY_WITHIN_S = 90.0
STOP_WITHIN_S = 30.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in str(item.path):
            item.add_marker(pytest.mark.integration)


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """The service's /metrics, as samples by name."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
        return samples

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/health/ready", timeout=2
            ) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False


@dataclass
class System:
    settings: Settings
    services: dict[str, Service]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(settings: Settings, service: str, port: int) -> dict[str, str]:
    secrets = {
        "STORECREDIT_CODE_HASH_KEY": settings.code_hash_key_bytes().decode(),
        "STORECREDIT_CODE_SEAL_PRIVATE_KEY": settings.code_seal_private_key_hex(),
    }
    return {
        **os.environ,
        **secrets,
        "PYTHONUNBUFFERED": "1",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url.get_secret_value(),
        f"{service.upper()}_DATABASE_URL": settings.database_url_for(service),
        "STORECREDIT_TOPIC_PREFIX": settings.topic_prefix,
        "STORECREDIT_OUTBOX_POLL_MS": "200",
        "STORECREDIT_HOLD_SWEEP_MS": "200",
        "STORECREDIT_LOG_FORMAT": "json",
        "STORECREDIT_HTTP_PORT": str(port),
    }


def start(settings: Settings, name: str, logs: Path) -> Service:
    port = free_port()
    log = logs / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=environment(settings, name, port),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Service(name, process, port, log)


async def wait_until_ready(services: dict[str, Service]) -> None:
    deadline = asyncio.get_running_loop().time() + READY_WITHIN_S
    waiting = dict(services)
    while waiting:
        for name, service in list(waiting.items()):
            if service.process.poll() is not None:
                code = service.process.returncode
                pytest.fail(f"{name} exited with {code}:\n{service.log_tail()}")
            if await asyncio.to_thread(service.ready):
                del waiting[name]
        if asyncio.get_running_loop().time() > deadline:
            tails = "\n\n".join(f"{n}:\n{s.log_tail()}" for n, s in waiting.items())
            pytest.fail(f"not ready within {READY_WITHIN_S:.0f}s: {sorted(waiting)}\n{tails}")
        await asyncio.sleep(0.2)


def stop(services: dict[str, Service]) -> None:
    for service in services.values():
        if service.process.poll() is None:
            service.process.terminate()
    for service in services.values():
        try:
            service.process.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


@pytest.fixture(scope="session")
async def system(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    name = random_id("e2e").replace("-", "_")
    server = make_url(settings.database_url_for("ledger")).set(database="postgres")
    own = settings.model_copy(
        update={
            "topic_prefix": f"{name}.",
            **{
                f"{service}_database_url": SecretStr(
                    server.set(database=f"{name}_{service}").render_as_string(hide_password=False)
                )
                for service in SERVICES
            },
        }
    )
    await asyncio.to_thread(prepare, own)
    logs = tmp_path_factory.mktemp("e2e-logs")
    services = {service: start(own, service, logs) for service in SERVICES}
    try:
        await wait_until_ready(services)
        yield System(own, services)
    finally:
        await asyncio.to_thread(stop, services)
        server_url = server.render_as_string(hide_password=False)
        for service in SERVICES:
            await drop_database(server_url, f"{name}_{service}")
        await delete_topics(
            settings.kafka_bootstrap_servers, [own.topic(spec) for spec in ALL_TOPICS]
        )
