"""The security options the tools without FastStream (setup, the client, the CLI) give
aiokafka: nothing for PLAINTEXT, SASL credentials and TLS when the settings ask."""

from __future__ import annotations

import ssl

import pytest
from pydantic import SecretStr

from shared.runtime.broker import kafka_client_options
from shared.runtime.settings import Settings


def test_plaintext_needs_no_options() -> None:
    assert kafka_client_options(Settings(kafka_security_protocol="PLAINTEXT")) == {}


def test_sasl_over_tls_gives_the_mechanism_credentials_and_a_tls_context() -> None:
    options = kafka_client_options(
        Settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="storecredit",
            kafka_sasl_password=SecretStr("s3cret"),
        )
    )
    assert isinstance(options.pop("ssl_context"), ssl.SSLContext)
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "storecredit",
        "sasl_plain_password": "s3cret",
    }


def test_tls_alone_has_no_credentials() -> None:
    options = kafka_client_options(Settings(kafka_security_protocol="SSL"))
    assert set(options) == {"security_protocol", "ssl_context"}


def test_sasl_without_credentials_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        kafka_client_options(Settings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_the_replication_factor_of_new_topics_is_a_setting() -> None:
    assert Settings().topic_replication_factor == 1
    assert Settings(STORECREDIT_TOPIC_REPLICATION_FACTOR="3").topic_replication_factor == 3
