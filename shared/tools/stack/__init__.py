"""The local stack without Docker: Apache Kafka (KRaft, from Maven Central jars)
and a dedicated PostgreSQL cluster, per profile, on 127.0.0.1.

    from shared.tools.stack import PROFILES, up, down, status
    endpoints = up(PROFILES["test"])   # idempotent; blocks until both answer

Everything this package writes lives under `<root>/.local/`; `down` stops
only what it started. All functions are synchronous and safe to call from a
plain thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.runtime.broker import kafka_client_options
from shared.runtime.provision.databases import ensure_databases
from shared.runtime.provision.topics import ensure_topics
from shared.runtime.settings import Settings
from shared.tools.stack import kafka, postgres
from shared.tools.stack.errors import StackError
from shared.tools.stack.kafka_files import BrokerCredentials, KafkaPaths, settings_fields
from shared.tools.stack.processes import file_lock
from shared.tools.stack.profiles import PROFILES, Profile

__all__ = [
    "PROFILES",
    "Endpoints",
    "Profile",
    "StackError",
    "down",
    "ensure_databases",
    "ensure_topics",
    "status",
    "up",
]

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Endpoints:
    bootstrap_servers: str
    database_server_url: str
    kafka_environment: dict[str, str]
    """What a client sets to connect as the stack's admin (KAFKA_SECURITY_PROTOCOL, ...)
    and kcat's configuration file (KCAT_CONFIG)."""

    def kafka_settings(self) -> dict[str, Any]:
        """The Settings fields that connect as the stack's admin."""
        return settings_fields(self.kafka_environment)

    def kafka_options(self) -> dict[str, Any]:
        """aiokafka's options to connect as the stack's admin."""
        return kafka_client_options(Settings(**self.kafka_settings()))


def client_environment(profile: Profile, root: Path | None = None) -> dict[str, str]:
    """How a client connects to the profile's Kafka as its admin, and kcat's configuration
    (empty before the stack first ran: nothing to connect to)."""
    paths = KafkaPaths.of(profile, _root(root))
    if not paths.credentials_file.exists():
        return {}
    return {
        "KAFKA_BOOTSTRAP_SERVERS": profile.bootstrap_servers,
        **BrokerCredentials.of(paths).client_environment(),
        "KCAT_CONFIG": str(paths.kcat_config),
    }


def _root(root: Path | None) -> Path:
    return (root or PROJECT_ROOT).resolve()


def _lock_path(profile: Profile, root: Path) -> Path:
    return root / ".local" / "state" / f"{profile.name}.lock"


def up(profile: Profile, root: Path | None = None) -> Endpoints:
    """Start Kafka and PostgreSQL for the profile (in parallel) unless running.

    Idempotent; returns once both accept clients. Raises StackError naming
    what failed and why.
    """
    base = _root(root)
    with file_lock(_lock_path(profile, base)), ThreadPoolExecutor(max_workers=2) as pool:
        kafka_job = pool.submit(kafka.start, profile, base)
        pg_job = pool.submit(postgres.start, profile, base)
        errors: list[str] = []
        results: dict[str, str] = {}
        for name, job in (("Kafka", kafka_job), ("PostgreSQL", pg_job)):
            try:
                results[name] = job.result()
            except StackError as exc:
                errors.append(str(exc))
            except Exception as exc:  # report both halves, then fail
                errors.append(f"{name}: unexpected {type(exc).__name__}: {exc}")
    if errors:
        raise StackError(f"stack `up` for profile {profile.name!r} failed:\n" + "\n\n".join(errors))
    paths = KafkaPaths.of(profile, base)
    environment = {
        **BrokerCredentials.of(paths).client_environment(),
        "KCAT_CONFIG": str(paths.kcat_config),
    }
    return Endpoints(
        bootstrap_servers=results["Kafka"],
        database_server_url=results["PostgreSQL"],
        kafka_environment=environment,
    )


def down(profile: Profile, root: Path | None = None) -> list[str]:
    """Stop what `up` started for the profile; say what was done."""
    base = _root(root)
    lines: list[str] = []
    errors: list[str] = []
    stops: list[Callable[[Profile, Path], list[str]]] = [kafka.stop, postgres.stop]
    with file_lock(_lock_path(profile, base)):
        for stop in stops:
            try:
                lines.extend(stop(profile, base))
            except StackError as exc:
                errors.append(str(exc))
    if errors:
        raise StackError("\n".join([*lines, *errors]))
    return lines


def status(profile: Profile, root: Path | None = None) -> list[str]:
    """Human-readable lines: what runs where, with pids, ports, data and logs."""
    base = _root(root)
    return [*kafka.describe(profile, base), *postgres.describe(profile, base)]
