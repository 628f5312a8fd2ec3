"""Where the benchmark runs: the servers, and the scratch names it creates and removes.

Kafka and PostgreSQL are those named by ``KAFKA_BOOTSTRAP_SERVERS`` and
``DATABASE_URL`` when both are set, else the native stack's "test" profile,
started if it is not running and never stopped here (it may be in use). Every
topic and database the run creates carries a random name, and only those are
removed at the end: nothing the user owns is touched.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from shared.runtime.broker import kafka_client_options
from shared.runtime.provision.databases import asyncpg, asyncpg_dsn, quote_ident
from shared.runtime.settings import Settings
from shared.tools.stack.kafka_files import settings_fields


@dataclass(frozen=True)
class Servers:
    bootstrap_servers: str
    database_server_url: str
    source: str
    kafka: dict[str, Any] = field(default_factory=dict)
    """aiokafka's security options, to connect as the servers' admin."""
    kafka_environment: dict[str, str] = field(default_factory=dict)
    """The same as environment variables (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*)."""


@dataclass
class Scratch:
    """The run's random name, and what it created, so only that is removed."""

    name: str = field(default_factory=lambda: f"bench_{uuid.uuid4().hex[:10]}")
    databases: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    @property
    def topic_prefix(self) -> str:
        return f"{self.name}."

    def database(self, purpose: str) -> str:
        name = f"{self.name}_{purpose}"
        self.databases.append(name)
        return name


def announce(run: str, servers: Servers, scratch: Scratch) -> float:
    """Print which run goes on which servers, with the load average at the start (other
    work on the machine skews every figure: say so); return that load average."""
    load = os.getloadavg()[0]
    print(
        f"{run} {scratch.name} on {servers.source} ({servers.bootstrap_servers}), "
        f"load average {load:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    return load


def find_servers() -> Servers:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if bootstrap and database:
        settings = Settings()
        return Servers(
            bootstrap,
            database,
            "environment",
            kafka_client_options(settings),
            {
                k: v
                for k, v in settings.kafka_environment().items()
                if k != "KAFKA_BOOTSTRAP_SERVERS"
            },
        )
    from shared.tools import stack

    endpoints = stack.up(stack.PROFILES["test"])
    environment = {k: v for k, v in endpoints.kafka_environment.items() if k.startswith("KAFKA_")}
    return Servers(
        endpoints.bootstrap_servers,
        endpoints.database_server_url,
        "test stack",
        endpoints.kafka_options(),
        environment,
    )


def kafka_settings(servers: Servers) -> dict[str, Any]:
    """Settings fields that connect as the servers' admin."""
    return settings_fields(servers.kafka_environment)


def database_url(servers: Servers, database: str) -> str:
    """A SQLAlchemy (asyncpg) URL of one database on the server."""
    url = make_url(servers.database_server_url).set(drivername="postgresql+asyncpg")
    return url.set(database=database).render_as_string(hide_password=False)


def _admin_dsn(servers: Servers) -> str:
    return asyncpg_dsn(database_url(servers, "postgres"))


async def create_database(servers: Servers, name: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(servers))
    try:
        await connection.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await connection.close()


async def durability_settings(servers: Servers) -> str:
    """fsync and synchronous_commit: they decide what one commit costs, so they go in notes."""
    connection = await asyncpg.connect(_admin_dsn(servers))
    try:
        fsync = await connection.fetchval("SHOW fsync")
        synchronous = await connection.fetchval("SHOW synchronous_commit")
    finally:
        await connection.close()
    return f"fsync={fsync}, synchronous_commit={synchronous}"


async def settle(servers: Servers) -> None:
    """A CHECKPOINT: what an earlier part of the run left to write goes to disk now,
    not in the middle of the next part's measurement."""
    connection = await asyncpg.connect(_admin_dsn(servers))
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def remove(servers: Servers, scratch: Scratch) -> None:
    """Drop the run's databases and delete its topics; nothing else."""
    if scratch.databases:
        connection = await asyncpg.connect(_admin_dsn(servers))
        try:
            for name in scratch.databases:
                await connection.execute(
                    f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)"
                )
        finally:
            await connection.close()
    if scratch.topics:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers.bootstrap_servers, **servers.kafka)
        await admin.start()
        try:
            await admin.delete_topics(scratch.topics)
        finally:
            await admin.close()
