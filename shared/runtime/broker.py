"""The Kafka broker every service uses: idempotent producer, acks from all replicas."""

from __future__ import annotations

import dataclasses
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.runtime.settings import Settings


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


LONG_POLL_MS = 5_000
"""How long an idle consumer waits before it looks again, at every level: a poll
(``getmany``), a fetch the broker holds open (``fetch.max.wait.ms``; aiokafka's default
is 500 ms) and aiokafka's background fetch loop (``consumer_timeout_ms``, 200 ms by
default). Each of them answers as soon as a record comes or the assignment changes, so a
long wait adds no latency to the first message after a pause; an idle consumer is
woken about once every five seconds instead of seven times a second. What waits longer
is the re-read after a seek (a poll retried after a transient failure): the fetch
already open for the later offsets is answered first, within this wait."""


class ConsumerWaits(TypedDict):
    fetch_max_wait_ms: int
    consumer_timeout_ms: int


RESTING_CONSUMER = ConsumerWaits(fetch_max_wait_ms=LONG_POLL_MS, consumer_timeout_ms=LONG_POLL_MS)
"""Options of every long-lived consumer (services' subscribers, the gateway's readers):
see :data:`LONG_POLL_MS`."""


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """The security options of a plain aiokafka client (admin, producer, consumer), for the
    tools that talk to Kafka without FastStream: setup, the platform client, the CLI."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context()
    if protocol.startswith("SASL"):
        if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
            raise ValueError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def _readable(record: ConsumerRecord[bytes, bytes]) -> ConsumerRecord[bytes, bytes]:
    headers = [
        (name, (value or b"").decode("utf-8", "replace").encode()) for name, value in record.headers
    ]
    return dataclasses.replace(record, headers=headers)


async def parse_any_headers(
    record: ConsumerRecord[bytes, bytes] | tuple[ConsumerRecord[bytes, bytes], ...],
    parse: Callable[[Any], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """FastStream's parser, given header values it can decode.

    It decodes every header value as strict UTF-8, so a null or non-UTF-8 value (any
    producer may send one) failed the message (or the whole batch, for a batch
    subscriber) before a handler saw it, and the consumer read it again forever. It
    gets a copy whose values are readable; the handlers get the records as they were
    (``raw_message``), to dead-letter them unchanged.
    """
    if isinstance(record, tuple):
        message = await parse(tuple(_readable(one) for one in record))
    else:
        message = await parse(_readable(record))
    message.raw_message = record
    return message


async def keep_bytes(message: StreamMessage[Any]) -> Any:
    """No decoding by FastStream: the handlers decode the bytes themselves (shared.runtime.codec).

    FastStream's own decoder would read the body as JSON or text per a content-type
    header a producer chose, and fail the message (forever) on a body that is neither.
    """
    return message.body


def create_broker(settings: Settings, *, client_id: str) -> KafkaBroker:
    """A broker whose producer is idempotent (no duplicates from its own retries), and
    whose consumers take any bytes and headers to the handlers (who park what is bad)."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        security=security_from(settings),
        graceful_timeout=15.0,
        parser=parse_any_headers,
        decoder=keep_bytes,
        logger=logging.getLogger("faststream"),  # our handlers and format, not FastStream's own
    )
