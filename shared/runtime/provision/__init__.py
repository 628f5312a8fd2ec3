"""Provisioning a deployment: databases, migrations and topics. Safe to run again.

What ``storecredit setup`` (and the Kubernetes setup Job) runs; the local stack
(``shared.tools.stack``) uses the same pieces for its own servers."""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url

from contracts.topics import ALL_TOPICS
from shared.runtime.broker import kafka_client_options
from shared.runtime.provision.databases import ensure_databases
from shared.runtime.provision.migrations import upgrade
from shared.runtime.provision.topics import ensure_topics
from shared.runtime.settings import SERVICES, Settings

log = logging.getLogger(__name__)


def prepare(settings: Settings) -> None:
    """Create each service's database if missing, migrate it to head, create topics."""
    by_server: dict[str, list[str]] = {}
    for service in SERVICES:
        url = make_url(settings.database_url_for(service))
        server = url.set(database="postgres").render_as_string(hide_password=False)
        by_server.setdefault(server, []).append(str(url.database))
    for server, names in by_server.items():
        created = ensure_databases(server, names)
        if created:
            log.info("databases created: %s", ", ".join(created))
    for service in SERVICES:
        upgrade(service, settings.database_url_for(service))
    log.info("migrations applied: %s", ", ".join(SERVICES))
    created_topics = ensure_topics(
        settings.kafka_bootstrap_servers,
        ALL_TOPICS,
        prefix=settings.topic_prefix,
        replication_factor=settings.topic_replication_factor,
        **kafka_client_options(settings),
    )
    log.info("topics ready (%d created)", len(created_topics))
    passwords = settings.principal_passwords()
    if passwords:
        from shared.runtime.provision.access import admin_config, ensure_access

        ensure_access(admin_config(settings), settings.topic_prefix, passwords)
