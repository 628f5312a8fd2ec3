"""Where a profile's Kafka keeps its files, and what its server.properties says.

Layout under `<root>/.local/kafka/`: `libs/` (jars, shared by profiles) and
`<profile>/` with `server.properties`, `cluster.id`, `kafka.pid`, `data/`
and `logs/` (`server.log` from log4j2, `kafka.out` for the JVM's own output).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.tools.stack.profiles import Profile


@dataclass(frozen=True)
class KafkaPaths:
    root: Path
    libs: Path
    home: Path

    @classmethod
    def of(cls, profile: Profile, root: Path) -> KafkaPaths:
        base = root / ".local" / "kafka"
        return cls(root=root, libs=base / "libs", home=base / profile.name)

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def properties(self) -> Path:
        return self.home / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def cluster_id_file(self) -> Path:
        return self.home / "cluster.id"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def console_log(self) -> Path:
        return self.logs / "kafka.out"


def server_properties(profile: Profile, data_dir: Path) -> str:
    """A single combined KRaft node with static voters, loopback only."""
    host = "127.0.0.1"
    lines = [
        "# Written by shared/tools/stack on every `up`; edits are overwritten.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{profile.controller_port}",
        f"listeners=PLAINTEXT://{host}:{profile.kafka_port},"
        f"CONTROLLER://{host}:{profile.controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{profile.kafka_port}",
        "inter.broker.listener.name=PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=1",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
    ]
    return "\n".join(lines) + "\n"
