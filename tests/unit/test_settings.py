from __future__ import annotations

import pytest

from contracts.topics import LEDGER_BALANCES
from shared.runtime.settings import Settings


def test_each_service_gets_its_own_database_on_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app:s3cret@db.internal:5432/postgres")
    settings = Settings()
    assert settings.database_url_for("ledger") == (
        "postgresql+asyncpg://app:s3cret@db.internal:5432/storecredit_ledger"
    )
    assert "s3cret" not in repr(settings)  # secrets are not printed


def test_a_service_database_url_overrides_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_DATABASE_URL", "postgresql+asyncpg://o@h/orders")
    assert Settings().database_url_for("order") == "postgresql+asyncpg://o@h/orders"
    with pytest.raises(ValueError, match="unknown service"):
        Settings().database_url_for("billing")


def test_topic_prefix_applies_to_every_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORECREDIT_TOPIC_PREFIX", "staging.")
    assert Settings().topic(LEDGER_BALANCES) == "staging.ledger.balances"


def test_sasl_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.runtime.broker import security_from

    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValueError, match="KAFKA_SASL_USERNAME"):
        security_from(Settings())
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    security = security_from(Settings())
    assert type(security).__name__ == "SASLScram512"


def test_idempotency_keys_outlive_the_oldest_claim_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key forgotten while its command's claim still verifies would let that command,
    redelivered, be applied twice: such a window is refused, saying why."""
    assert Settings().idempotency_window_s > Settings().actor_claim_max_age_s
    monkeypatch.setenv("STORECREDIT_ACTOR_CLAIM_MAX_AGE_S", "86400")
    monkeypatch.setenv("STORECREDIT_IDEMPOTENCY_WINDOW_S", "86400")
    with pytest.raises(ValueError, match="refused for its claim's age"):
        Settings()
    monkeypatch.setenv("STORECREDIT_IDEMPOTENCY_WINDOW_S", str(86400 + 301))
    assert Settings().idempotency_window_s == 86701
