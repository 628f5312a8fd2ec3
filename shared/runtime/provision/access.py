"""Kafka users and ACLs from the access table (``contracts.access``), idempotently.

Each principal of the environment (``STORECREDIT_TOPIC_PREFIX``) gets a SCRAM user
named ``<prefix>storecredit-<name>`` with its password, and exactly the ACLs the table
gives it: Write (and Describe) on the topics it writes, Read (and Describe) on those it
reads, Read on its own consumer groups (a prefixed pattern), Describe alone on the
topics and the groups it observes (the gateway's consumer lag). Run as a principal allowed
to alter users and ACLs (a super user). Uses confluent-kafka's admin client: aiokafka
has no CreateAcls or AlterUserScramCredentials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from contracts.access import PRINCIPALS, Principal
from shared.runtime.provision.errors import ProvisionError
from shared.runtime.settings import Settings

logger = logging.getLogger(__name__)

SCRAM_ITERATIONS = 4096
SCRAM_MECHANISM_BITS = 256


def admin_config(settings: Settings) -> dict[str, Any]:
    """confluent-kafka's configuration for the settings' own (admin) identity."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
        "log_level": 3,
    }
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        config.update(
            {
                "sasl.mechanism": settings.kafka_sasl_mechanism or "PLAIN",
                "sasl.username": settings.kafka_sasl_username or "",
                "sasl.password": password.get_secret_value() if password else "",
            }
        )
    return config


def bindings(principal: Principal, prefix: str) -> list[AclBinding]:
    """The ACLs of one principal in the environment of ``prefix``."""
    user = f"User:{principal.user(prefix)}"

    def allow(
        kind: ResourceType, name: str, pattern: ResourcePatternType, op: AclOperation
    ) -> AclBinding:
        return AclBinding(kind, name, pattern, user, "*", op, AclPermissionType.ALLOW)

    topic, literal = ResourceType.TOPIC, ResourcePatternType.LITERAL
    found = [allow(topic, prefix + t.name, literal, AclOperation.WRITE) for t in principal.writes]
    found += [allow(topic, prefix + t.name, literal, AclOperation.READ) for t in principal.reads]
    found += [
        allow(topic, prefix + t.name, literal, AclOperation.DESCRIBE) for t in principal.observes
    ]
    found += [
        allow(ResourceType.GROUP, group, ResourcePatternType.PREFIXED, AclOperation.DESCRIBE)
        for group in principal.observed_group_prefixes(prefix)
    ]
    found.append(
        allow(
            ResourceType.GROUP,
            principal.group_prefix(prefix),
            ResourcePatternType.PREFIXED,
            AclOperation.READ,
        )
    )
    return found


def ensure_access(
    admin_config: Mapping[str, Any],
    prefix: str,
    passwords: Mapping[str, str],
    principals: Iterable[Principal] = PRINCIPALS,
) -> int:
    """Users (with ``passwords``, by principal name) and ACLs for ``prefix``; how many ACL
    bindings were asked for. Raises ProvisionError naming what the cluster refused."""
    chosen = [p for p in principals if p.name in passwords]
    admin = AdminClient(dict(admin_config))
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            p.user(prefix),
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, SCRAM_ITERATIONS),
            passwords[p.name].encode(),
        )
        for p in chosen
    ]
    acls = [binding for p in chosen for binding in bindings(p, prefix)]
    try:
        for future in admin.alter_user_scram_credentials(upserts).values():
            future.result()
        for future in admin.create_acls(acls).values():
            future.result()
    except Exception as error:  # confluent-kafka raises KafkaException with the cause
        raise ProvisionError(f"Kafka users and ACLs for prefix {prefix!r}: {error}") from error
    if chosen:
        _wait_until_usable(admin_config, chosen[-1].user(prefix), passwords[chosen[-1].name])
    logger.info("kafka users and ACLs ready (%d users, %d bindings)", len(upserts), len(acls))
    return len(acls)


def _wait_until_usable(
    admin_config: Mapping[str, Any], user: str, password: str, within_s: float = 30.0
) -> None:
    """Until the broker takes the newest user's login: a new credential reaches the
    broker's metadata a moment after the controller committed it, and a service started
    at once would be refused. All were written together, so one answering is enough."""
    config = {
        **admin_config,
        "sasl.mechanism": f"SCRAM-SHA-{SCRAM_MECHANISM_BITS}",
        "sasl.username": user,
        "sasl.password": password,
        "log_level": 0,  # the refusals while it propagates are expected
    }
    deadline = time.monotonic() + within_s
    while True:
        try:
            AdminClient(config).list_topics(timeout=2)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise ProvisionError(f"the new Kafka user {user} cannot log in") from None
            time.sleep(0.2)
