"""The Kafka broker every service uses: idempotent producer, acks from all replicas."""

from __future__ import annotations

import logging
import ssl

from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import Settings


def security_from(settings: Settings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol in ("SSL", "SASL_SSL")
    context = ssl.create_default_context() if use_ssl else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = settings.kafka_sasl_username
    password = settings.kafka_sasl_password
    if not username or password is None:
        raise ValueError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
    secret = password.get_secret_value()
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    if mechanism == "SCRAM-SHA-256":
        return SASLScram256(username, secret, ssl_context=context, use_ssl=use_ssl)
    if mechanism == "SCRAM-SHA-512":
        return SASLScram512(username, secret, ssl_context=context, use_ssl=use_ssl)
    return SASLPlaintext(username, secret, ssl_context=context, use_ssl=use_ssl)


def create_broker(settings: Settings, *, client_id: str) -> KafkaBroker:
    """A broker whose producer is idempotent (no duplicates from its own retries)."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        security=security_from(settings),
        graceful_timeout=15.0,
        logger=logging.getLogger("faststream"),  # our handlers and format, not FastStream's own
    )
