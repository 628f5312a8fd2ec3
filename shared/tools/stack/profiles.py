"""Named sets of ports and names, so a test stack runs beside a dev stack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    kafka_port: int
    controller_port: int
    pg_cluster: str
    pg_port: int
    kafka_heap: str

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_server_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/postgres"


# Sized for the 2-core, 24 GiB development machine: Kafka idles well under 1 GiB.
_HEAP = "-Xms256m -Xmx1g"

DEV = Profile(
    name="dev",
    kafka_port=9092,
    controller_port=9093,
    pg_cluster="storecredit",
    pg_port=55432,
    kafka_heap=_HEAP,
)
TEST = Profile(
    name="test",
    kafka_port=19092,
    controller_port=19093,
    pg_cluster="storecredit-test",
    pg_port=55433,
    kafka_heap=_HEAP,
)

CHAOS = Profile(
    name="chaos",
    kafka_port=29092,
    controller_port=29093,
    pg_cluster="storecredit-chaos",
    pg_port=55434,
    kafka_heap=_HEAP,
)
"""The chaos run's own broker and database server: it restarts them, and nothing else
(a `make run`, the rest of the test session) should feel it."""

PROFILES: dict[str, Profile] = {p.name: p for p in (DEV, TEST, CHAOS)}
