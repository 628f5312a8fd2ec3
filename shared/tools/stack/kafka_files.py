"""Where a profile's Kafka keeps its files, and what its server.properties says.

Layout under `<root>/.local/kafka/`: `libs/` (jars, shared by profiles) and
`<profile>/` with `server.properties`, `cluster.id`, `kafka.pid`, `data/`
and `logs/` (`server.log` from log4j2, `kafka.out` for the JVM's own output).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings
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
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    @property
    def kcat_config(self) -> Path:
        """kcat's configuration (``KCAT_CONFIG``) to connect as the stack's admin."""
        return self.home / "kcat.conf"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def console_log(self) -> Path:
        return self.logs / "kafka.out"


@dataclass(frozen=True)
class BrokerCredentials:
    """The broker's own user and the stack's admin (both super users, SASL PLAIN): made
    once per profile, kept in its ``credentials.json`` (0600). Every other principal is
    a SCRAM user that ``storecredit setup`` makes, with its ACLs."""

    broker_password: str
    admin_password: str

    ADMIN = "admin"

    @classmethod
    def of(cls, paths: KafkaPaths) -> BrokerCredentials:
        path = paths.credentials_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            made = {"broker": secrets.token_urlsafe(24), "admin": secrets.token_urlsafe(24)}
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                json.dump(made, out)
        loaded = json.loads(path.read_text())
        return cls(broker_password=loaded["broker"], admin_password=loaded["admin"])

    def client_environment(self) -> dict[str, str]:
        """What a client of the stack sets to connect as its admin."""
        if plaintext():
            return {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": self.ADMIN,
            "KAFKA_SASL_PASSWORD": self.admin_password,
        }


PLAINTEXT_VARIABLE = "STORECREDIT_STACK_PLAINTEXT"


def plaintext() -> bool:
    """The explicit opt-out (``STORECREDIT_STACK_PLAINTEXT=1``): a broker without SASL or
    ACLs, where anyone may do anything. Never the default."""
    return os.environ.get(PLAINTEXT_VARIABLE) == "1"


SETTINGS_OF_VARIABLES = {
    "KAFKA_SECURITY_PROTOCOL": "kafka_security_protocol",
    "KAFKA_SASL_MECHANISM": "kafka_sasl_mechanism",
    "KAFKA_SASL_USERNAME": "kafka_sasl_username",
    "KAFKA_SASL_PASSWORD": "kafka_sasl_password",
}


def settings_fields(environment: dict[str, str]) -> dict[str, Any]:
    """The Settings fields of a client environment (``client_environment()``)."""
    return {
        field: environment[variable]
        for variable, field in SETTINGS_OF_VARIABLES.items()
        if variable in environment
    }


def admin_options(paths: KafkaPaths) -> dict[str, Any]:
    """aiokafka's options to connect as the stack's admin."""
    fields = settings_fields(BrokerCredentials.of(paths).client_environment())
    return kafka_client_options(Settings(**fields))


def kcat_config(credentials: BrokerCredentials) -> str:
    if plaintext():
        return "security.protocol=plaintext\n"
    return (
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanism=PLAIN\n"
        f"sasl.username={BrokerCredentials.ADMIN}\n"
        f"sasl.password={credentials.admin_password}\n"
    )


def _plain_users(credentials: BrokerCredentials, *, admin: bool) -> str:
    users = f'user_broker="{credentials.broker_password}"'
    if admin:
        users += f' user_admin="{credentials.admin_password}"'
    return (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="broker" password="{credentials.broker_password}" {users};'
    )


def server_properties(profile: Profile, data_dir: Path, credentials: BrokerCredentials) -> str:
    """A single combined KRaft node with static voters, loopback only, SASL everywhere and
    the standard authorizer: nobody without an ACL may do anything. The broker and the
    admin log in with PLAIN (static, so no SCRAM seeding at format time); every other
    principal with SCRAM-SHA-256."""
    host = "127.0.0.1"
    if plaintext():
        return _plaintext_properties(profile, data_dir)
    lines = [
        "# Written by shared/tools/stack on every `up`; edits are overwritten.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{profile.controller_port}",
        f"listeners=SASL_PLAINTEXT://{host}:{profile.kafka_port},"
        f"CONTROLLER://{host}:{profile.controller_port}",
        f"advertised.listeners=SASL_PLAINTEXT://{host}:{profile.kafka_port}",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={_plain_users(credentials, admin=False)}",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config="
        + _plain_users(credentials, admin=True),
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        "super.users=User:broker;User:admin",
        *_node_properties(data_dir),
    ]
    return "\n".join(lines) + "\n"


def _node_properties(data_dir: Path) -> list[str]:
    """What one node needs whatever its listeners: its data, no topic made by accident,
    internal topics on one replica."""
    return [
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


def _plaintext_properties(profile: Profile, data_dir: Path) -> str:
    host = "127.0.0.1"
    lines = [
        "# Written by shared/tools/stack on every `up` (STORECREDIT_STACK_PLAINTEXT=1: no",
        "# SASL, no ACLs; anyone may do anything). Edits are overwritten.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{profile.controller_port}",
        f"listeners=PLAINTEXT://{host}:{profile.kafka_port},"
        f"CONTROLLER://{host}:{profile.controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{profile.kafka_port}",
        "inter.broker.listener.name=PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        *_node_properties(data_dir),
    ]
    return "\n".join(lines) + "\n"
