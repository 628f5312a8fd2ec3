"""Service processes for tests that run the system as it runs in production: each service
started as ``python -m services.<name>``, ready when its ``/health/ready`` says so,
killed (``kill -9``) and started again by the chaos tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from shared.runtime.provision import prepare
from shared.runtime.settings import SERVICES, Settings
from shared.tools.bench import system
from shared.tools.bench.ledger_process import free_port

STOP_WITHIN_S = 30.0


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    settings: Settings

    def kill(self) -> None:
        """``kill -9``: no graceful stop, no last outbox pass, nothing flushed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        """A new process in place of a dead one (same port, same settings, same log)."""
        if self.process.poll() is None:
            raise RuntimeError(f"{self.name} is still running")
        self.process = _launch(self.settings, self.name, self.port, self.log)

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


def client_keys(settings: Settings) -> dict[str, str]:
    """The claim settings of a client that plays every signer (the tests' CLI runs)."""
    keys = settings.actor_keys.get_secret_value() if settings.actor_keys else "{}"
    return {
        "STORECREDIT_ACTOR_SIGNERS": settings.actor_signers or "{}",
        "STORECREDIT_ACTOR_KEYS": keys,
    }


def environment(settings: Settings, service: str, port: int) -> dict[str, str]:
    secrets = {
        "STORECREDIT_CODE_HASH_KEY": settings.code_hash_key_bytes().decode(),
        "STORECREDIT_CODE_SEAL_PRIVATE_KEY": settings.code_seal_private_key_hex(),
        **settings.actor_environment(service),
    }
    return {
        **os.environ,
        **secrets,
        "PYTHONUNBUFFERED": "1",
        **settings.as_principal(service).kafka_environment(),
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
    return Service(name, _launch(settings, name, port, log), port, log, settings)


def _launch(settings: Settings, name: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=environment(settings, name, port),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def start_service(
    settings: Settings, service: str, *, outbox_poll_ms: int = 200, crash_at: str | None = None
) -> subprocess.Popen[bytes]:
    """One service as its own process, on the test's topics and database (no HTTP port,
    output to the test's); dying at ``crash_at`` (``STORECREDIT_CRASH_AT``) when given."""
    env = dict(os.environ)
    env.update(
        {
            **settings.as_principal(service).kafka_environment(),
            f"{service.upper()}_DATABASE_URL": settings.database_url_for(service),
            "STORECREDIT_TOPIC_PREFIX": settings.topic_prefix,
            "STORECREDIT_OUTBOX_POLL_MS": str(outbox_poll_ms),
            **settings.actor_environment(service),
        }
    )
    env.pop("STORECREDIT_CRASH_AT", None)
    if crash_at:
        env["STORECREDIT_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-m", f"services.{service}"], env=env)


async def wait_for_exit(process: subprocess.Popen[bytes], timeout: float = 90.0) -> int:
    """The process's exit code, once it has ended (within ``timeout`` seconds)."""

    async def poll() -> int:
        while (code := process.poll()) is None:
            await asyncio.sleep(0.1)
        return code

    return await asyncio.wait_for(poll(), timeout)


async def wait_until_ready(services: dict[str, Service]) -> None:
    try:
        await system.wait_until_ready(services)
    except RuntimeError as error:
        pytest.fail(str(error))


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


def own_settings(
    settings: Settings, name: str, *, bootstrap_servers: str, database_server_url: str
) -> Settings:
    """``settings`` with topics (prefix ``name.``) and databases (``name_<service>``) of
    its own, on the given servers."""
    server = make_url(database_server_url).set(database="postgres")
    return settings.model_copy(
        update={
            "kafka_bootstrap_servers": bootstrap_servers,
            "database_url": SecretStr(server.render_as_string(hide_password=False)),
            "topic_prefix": f"{name}.",
            **{
                f"{service}_database_url": SecretStr(
                    server.set(database=f"{name}_{service}").render_as_string(hide_password=False)
                )
                for service in SERVICES
            },
        }
    )


async def start_all(settings: Settings, logs: Path) -> dict[str, Service]:
    """Databases, migrations and topics for ``settings``, then the four services, ready."""
    await asyncio.to_thread(prepare, settings)
    services = {service: start(settings, service, logs) for service in SERVICES}
    try:
        await wait_until_ready(services)
    except BaseException:
        await asyncio.to_thread(stop, services)
        raise
    return services
