"""Settings from the environment (pydantic-settings). Secrets never live in code.

Environment variables:

- ``KAFKA_BOOTSTRAP_SERVERS`` (default ``127.0.0.1:9092``)
- ``KAFKA_SECURITY_PROTOCOL``: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
- ``KAFKA_SASL_MECHANISM``: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
- ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``
- ``DATABASE_URL``: a PostgreSQL server URL; each service uses its own
  database on it, ``storecredit_<service>``, unless
- ``LEDGER_DATABASE_URL``, ``STORE_CREDIT_DATABASE_URL``, ``ORDER_DATABASE_URL``,
  ``FULFILLMENT_DATABASE_URL`` name a service's database exactly.
- ``STORECREDIT_TOPIC_REPLICATION_FACTOR``: replicas of the topics ``storecredit
  setup`` creates (default 1, for one broker; 3 on a production cluster, whose
  ``min.insync.replicas`` the services' ``acks=all`` writes then meet).
- ``STORECREDIT_TOPIC_PREFIX``: prepended to every topic name and consumer group
  id (default none), so several environments can share one Kafka cluster.
- ``STORECREDIT_LOG_LEVEL`` (INFO), ``STORECREDIT_LOG_FORMAT`` (``text`` or ``json``).
- ``STORECREDIT_OUTBOX_POLL_MS``: how often the outbox relay looks for rows
  when nothing woke it (default 500), doubling while nothing happens up to
  ``STORECREDIT_OUTBOX_IDLE_POLL_MS`` (default 5000); rows it sent wait as long
  at most for a look to mark them published.
- ``STORECREDIT_BATCH_SIZE``: the most records a command or event consumer
  takes from Kafka at once and handles in one database transaction (default
  500). ``1`` handles each message in a transaction of its own and commits its
  offset alone: the slow, simple way the benchmark compares against.
- ``STORECREDIT_HOLD_SWEEP_MS``: how often the ledger looks for expired holds
  to void (default 1000).
- ``STORECREDIT_MAX_POINT_ACCOUNTS``: how many open point accounts a customer
  may have (default 10, as the point-account seed says).
- ``STORECREDIT_CODE_HASH_KEY``: the secret (32 characters or more) that
  store-credit codes are hashed with (HMAC-SHA256). Required by store-credit.
- ``STORECREDIT_ACTOR_SIGNERS``, ``STORECREDIT_ACTOR_KEYS``,
  ``STORECREDIT_ACTOR_CLAIM_MAX_AGE_S``: who may vouch for which actors, the
  private keys this process signs with, and the oldest claim accepted
  (``shared.runtime.claims``).
- ``STORECREDIT_CRASH_AT``: fault injection for tests; a crash point name
  (``after_commit``) makes the process exit there once.
- ``STORECREDIT_HTTP_PORT``: the port of the service's HTTP endpoint
  (``/metrics``, ``/health/live``, ``/health/ready``). Unset, empty or ``off``:
  no HTTP endpoint (the default); ``0``: any free port (tests read the bound
  one from ``ServiceRuntime.http_port``). ``storecredit run`` sets 9181 to 9184.
- ``STORECREDIT_HTTP_HOST``: the address it listens on (default ``127.0.0.1``;
  a container sets ``0.0.0.0`` so the kubelet and Prometheus reach it).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from contracts.access import BY_NAME
from contracts.topics import TopicSpec
from shared.runtime.claims import (
    CLOCK_SKEW_S,
    Keyring,
    Signer,
    SignerSpec,
    Verifier,
    parse_keys,
    parse_signers,
    signer_named,
)

SERVICES = ("ledger", "store_credit", "order", "fulfillment")

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"),
        description="The Kafka brokers to connect to, host:port, comma-separated.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        validation_alias=_env("KAFKA_SECURITY_PROTOCOL"),
        description=(
            "How to talk to Kafka: in the clear, over TLS, and with or without SASL "
            "(the SASL ones need KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)."
        ),
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SASL_MECHANISM"),
        description="The SASL mechanism of a SASL security protocol; unset means PLAIN.",
    )
    kafka_sasl_username: str | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SASL_USERNAME"),
        description="The SASL user: a service's own principal, or an admin for setup.",
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SASL_PASSWORD"),
        description="The password of KAFKA_SASL_USERNAME.",
    )
    kafka_passwords: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_KAFKA_PASSWORDS"),
        description=(
            "JSON: principal name (contracts/access.py) to its SCRAM password. Setup makes "
            "those users and their ACLs (as the KAFKA_SASL_* admin); a service of that name "
            "in this process connects as <prefix>storecredit-<name> with it."
        ),
    )
    kafka_principal_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-256",
        validation_alias=_env("STORECREDIT_KAFKA_PRINCIPAL_MECHANISM"),
        description=(
            "The SASL mechanism a service connects with as its own principal, when "
            "STORECREDIT_KAFKA_PASSWORDS has its password."
        ),
    )
    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        validation_alias=_env("DATABASE_URL"),
        description=(
            "A PostgreSQL server URL; each service uses its own database on it, "
            "storecredit_<service>, unless its own *_DATABASE_URL is set."
        ),
    )
    ledger_database_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("LEDGER_DATABASE_URL"),
        description="Exactly the ledger service's database URL (overrides DATABASE_URL).",
    )
    store_credit_database_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORE_CREDIT_DATABASE_URL"),
        description="Exactly the store-credit service's database URL (overrides DATABASE_URL).",
    )
    order_database_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("ORDER_DATABASE_URL"),
        description="Exactly the order service's database URL (overrides DATABASE_URL).",
    )
    fulfillment_database_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("FULFILLMENT_DATABASE_URL"),
        description="Exactly the fulfillment service's database URL (overrides DATABASE_URL).",
    )
    topic_prefix: str = Field(
        default="",
        validation_alias=_env("STORECREDIT_TOPIC_PREFIX"),
        description=(
            "Prepended to every topic name, consumer group id and Kafka user, so several "
            "environments can share one Kafka cluster."
        ),
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        le=32,
        validation_alias=_env("STORECREDIT_TOPIC_REPLICATION_FACTOR"),
        description="Replicas of each topic `storecredit setup` creates (3 on a real cluster).",
    )
    log_level: str = Field(
        default="INFO",
        validation_alias=_env("STORECREDIT_LOG_LEVEL"),
        description="The level of the services' logs (DEBUG, INFO, WARNING, ERROR).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        validation_alias=_env("STORECREDIT_LOG_FORMAT"),
        description="Log lines as plain text, or one JSON object each.",
    )
    outbox_poll_ms: int = Field(
        default=500,
        ge=10,
        le=60_000,
        validation_alias=_env("STORECREDIT_OUTBOX_POLL_MS"),
        description=(
            "How often, in milliseconds, the outbox relay looks for unsent rows when "
            "nothing woke it; rows it sent are marked published by its next look, or "
            "after this long by a statement of their own."
        ),
    )
    outbox_idle_poll_ms: int = Field(
        default=5_000,
        ge=10,
        le=600_000,
        validation_alias=_env("STORECREDIT_OUTBOX_IDLE_POLL_MS"),
        description=(
            "The longest, in milliseconds, the outbox relay waits between looks while "
            "nothing happens: its wait doubles from STORECREDIT_OUTBOX_POLL_MS with each "
            "look that finds nothing, and a commit of its process brings it back."
        ),
    )
    idempotency_window_s: int = Field(
        default=8 * 86_400,
        ge=3_600,
        le=366 * 86_400,
        validation_alias=_env("STORECREDIT_IDEMPOTENCY_WINDOW_S"),
        description=(
            "How long, in seconds, a consumer keeps an idempotency key and its first result: "
            "a retry within it gets that result again, and after it the key is forgotten. "
            "Longer than STORECREDIT_ACTOR_CLAIM_MAX_AGE_S (a forgotten command redelivered "
            "is then refused for its claim's age) and than the topics' retention."
        ),
    )
    outbox_retention_s: int = Field(
        default=600,
        ge=60,
        le=366 * 86_400,
        validation_alias=_env("STORECREDIT_OUTBOX_RETENTION_S"),
        description=(
            "How long, in seconds, a published outbox row is kept (to look at what was just "
            "sent) before it is deleted; unpublished rows are always kept. A row is about "
            "2.5 kB, so keep this short."
        ),
    )
    retention_sweep_ms: int = Field(
        default=60_000,
        ge=100,
        le=3_600_000,
        validation_alias=_env("STORECREDIT_RETENTION_SWEEP_MS"),
        description=(
            "How often, in milliseconds, a service deletes the idempotency keys and "
            "published outbox rows it no longer keeps (STORECREDIT_IDEMPOTENCY_WINDOW_S, "
            "STORECREDIT_OUTBOX_RETENTION_S)."
        ),
    )
    strict_contracts: bool = Field(
        default=False,
        validation_alias=_env("STORECREDIT_STRICT_CONTRACTS"),
        description=(
            "An answer off its contract (a produced field or a rejection code its message "
            "does not list) fails the handler instead of only being logged as an error; "
            "the tests run so."
        ),
    )
    batch_size: int = Field(
        default=500,
        ge=1,
        le=5_000,
        validation_alias=_env("STORECREDIT_BATCH_SIZE"),
        description=(
            "The most records a command or event consumer takes from Kafka at once and "
            "handles in one database transaction; 1 handles each message on its own."
        ),
    )
    hold_sweep_ms: int = Field(
        default=1000,
        ge=50,
        le=600_000,
        validation_alias=_env("STORECREDIT_HOLD_SWEEP_MS"),
        description="How often, in milliseconds, the ledger looks for expired holds to void.",
    )
    max_point_accounts_per_customer: int = Field(
        default=10,
        ge=1,
        le=1000,
        validation_alias=_env("STORECREDIT_MAX_POINT_ACCOUNTS"),
        description="How many open point accounts one customer may have.",
    )
    cart_ttl_s: int = Field(
        default=86_400,
        ge=60,
        le=30 * 86_400,
        validation_alias=_env("STORECREDIT_CART_TTL_S"),
        description=(
            "How long, in seconds, a new cart (open order) lives before it expires and is "
            "abandoned, its holds released."
        ),
    )
    checkout_margin_s: int = Field(
        default=60,
        ge=0,
        le=3_600,
        validation_alias=_env("STORECREDIT_CHECKOUT_MARGIN_S"),
        description=(
            "Seconds a cart and the point holds that pay for it must still have to live at "
            "checkout, so fulfillment can commit the holds in time."
        ),
    )
    checkout_timeout_s: int = Field(
        default=30,
        ge=1,
        le=3_600,
        validation_alias=_env("STORECREDIT_CHECKOUT_TIMEOUT_S"),
        description=(
            "How long a checkout waits for the ledger to bind the order's spends and holds "
            "before it fails (checkout_timed_out) and the order is open again."
        ),
    )
    consumer_stuck_after_s: float = Field(
        default=60,
        ge=1,
        le=3_600,
        validation_alias=_env("STORECREDIT_CONSUMER_STUCK_AFTER_S"),
        description=(
            "A consumer on one poll for longer than this (blocked, or retrying a transient "
            "failure) makes /health/ready answer 503 until the poll ends."
        ),
    )
    query_reply_timeout_s: float = Field(
        default=5,
        gt=0,
        le=60,
        validation_alias=_env("STORECREDIT_QUERY_REPLY_TIMEOUT_S"),
        description=(
            "How long a query's reply may take to be confirmed by Kafka before it is dropped "
            "(logged and counted), so that one unwritable reply never holds up other queries."
        ),
    )
    cart_sweep_ms: int = Field(
        default=5_000,
        ge=50,
        le=600_000,
        validation_alias=_env("STORECREDIT_CART_SWEEP_MS"),
        description=(
            "How often, in milliseconds, the order service looks for expired carts to "
            "abandon and overdue checkouts to fail."
        ),
    )
    no_refund_policy: bool = Field(
        default=False,
        validation_alias=_env("STORECREDIT_NO_REFUND_POLICY"),
        description=(
            "Returns: what was paid by other means than store credit and points comes "
            "back as new store credit (true), or is reported as a refund due (false)."
        ),
    )
    guess_max_failures: int = Field(
        default=5,
        ge=1,
        le=1_000,
        validation_alias=_env("STORECREDIT_GUESS_MAX_FAILURES"),
        description=(
            "Wrong store-credit codes, tokens or external ids that one customer, order, actor "
            "or guessed value may try within STORECREDIT_GUESS_WINDOW_S before it is locked out."
        ),
    )
    guess_window_s: int = Field(
        default=900,
        ge=1,
        le=86_400 * 7,
        validation_alias=_env("STORECREDIT_GUESS_WINDOW_S"),
        description=(
            "The window, in seconds from the first failure, in which one subject's wrong "
            "guesses count against STORECREDIT_GUESS_MAX_FAILURES."
        ),
    )
    guess_lockout_s: int = Field(
        default=900,
        ge=1,
        le=86_400 * 7,
        validation_alias=_env("STORECREDIT_GUESS_LOCKOUT_S"),
        description=(
            "How long, in seconds, a subject over STORECREDIT_GUESS_MAX_FAILURES is locked "
            "out, even for a right code."
        ),
    )
    guess_principal_max_failures: int = Field(
        default=50,
        ge=1,
        le=1_000_000,
        validation_alias=_env("STORECREDIT_GUESS_PRINCIPAL_MAX_FAILURES"),
        description=(
            "Wrong guesses that came through one client principal (the signer of their "
            "actor claims: a storefront, a back office) within "
            "STORECREDIT_GUESS_PRINCIPAL_WINDOW_S, from all the customers it speaks for, "
            "before its look-ups are refused for STORECREDIT_GUESS_PRINCIPAL_LOCKOUT_S."
        ),
    )
    guess_principal_window_s: int = Field(
        default=60,
        ge=1,
        le=86_400,
        validation_alias=_env("STORECREDIT_GUESS_PRINCIPAL_WINDOW_S"),
        description=(
            "The window, in seconds, in which wrong guesses through one client principal "
            "count against STORECREDIT_GUESS_PRINCIPAL_MAX_FAILURES."
        ),
    )
    guess_principal_lockout_s: int = Field(
        default=60,
        ge=1,
        le=86_400,
        validation_alias=_env("STORECREDIT_GUESS_PRINCIPAL_LOCKOUT_S"),
        description=(
            "How long, in seconds, the look-ups through a client principal over "
            "STORECREDIT_GUESS_PRINCIPAL_MAX_FAILURES are refused."
        ),
    )
    guess_overall_max_failures: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        validation_alias=_env("STORECREDIT_GUESS_OVERALL_MAX_FAILURES"),
        description=(
            "Wrong guesses from everyone together within STORECREDIT_GUESS_OVERALL_WINDOW_S "
            "before every look-up by code, token or external id is refused for "
            "STORECREDIT_GUESS_OVERALL_LOCKOUT_S: the brake on enumeration across many "
            "customers and orders."
        ),
    )
    guess_overall_window_s: int = Field(
        default=60,
        ge=1,
        le=86_400,
        validation_alias=_env("STORECREDIT_GUESS_OVERALL_WINDOW_S"),
        description=(
            "The window, in seconds, in which everyone's wrong guesses together count "
            "against STORECREDIT_GUESS_OVERALL_MAX_FAILURES."
        ),
    )
    guess_overall_lockout_s: int = Field(
        default=60,
        ge=1,
        le=86_400,
        validation_alias=_env("STORECREDIT_GUESS_OVERALL_LOCKOUT_S"),
        description=(
            "How long, in seconds, every look-up by code, token or external id is refused "
            "once STORECREDIT_GUESS_OVERALL_MAX_FAILURES is reached."
        ),
    )
    code_hash_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_CODE_HASH_KEY"),
        description=(
            "The secret (32 characters or more) store-credit codes are hashed with "
            "(HMAC-SHA256). Required by the store-credit service."
        ),
    )
    code_hash_previous_keys: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_CODE_HASH_PREVIOUS_KEYS"),
        description=(
            "Retired code-hash keys, comma-separated, still accepted during a rotation: a "
            "code found under one is hashed again under STORECREDIT_CODE_HASH_KEY."
        ),
    )
    code_seal_private_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_CODE_SEAL_PRIVATE_KEY"),
        description=(
            "The store-credit service's X25519 private key (hex) that opens the codes shops "
            "seal for it. Required by the store-credit service."
        ),
    )
    code_seal_public_key: str | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_CODE_SEAL_PUBLIC_KEY"),
        description=(
            "The public key (64 hex) clients seal codes with; unset, it is derived from "
            "STORECREDIT_CODE_SEAL_PRIVATE_KEY when that is set."
        ),
    )
    actor_signers: str | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_ACTOR_SIGNERS"),
        description=(
            "JSON: signer name to {public_key (64 hex), may_claim [patterns]}; who may vouch "
            "for which actors (shared.runtime.claims). Unset: no command is accepted."
        ),
    )
    actor_keys: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_ACTOR_KEYS"),
        description="JSON: signer name to private key (64 hex): whom this process signs as.",
    )
    actor_claim_max_age_s: int = Field(
        default=7 * 86_400,
        ge=60,
        le=30 * 86_400,
        validation_alias=_env("STORECREDIT_ACTOR_CLAIM_MAX_AGE_S"),
        description=(
            "The oldest actor claim accepted: at least as long as a command may wait in Kafka "
            "(the topics' retention), or a backlog would be refused."
        ),
    )
    gateway_port: int = Field(
        default=8080,
        ge=0,
        le=65_535,
        validation_alias=_env("STORECREDIT_GATEWAY_PORT"),
        description="The port the HTTP gateway serves its API, docs and Dashboard on; 0: any.",
    )
    gateway_host: str = Field(
        default="127.0.0.1",
        validation_alias=_env("STORECREDIT_GATEWAY_HOST"),
        description="The address the HTTP gateway listens on (0.0.0.0 in a container).",
    )
    gateway_jwks: str | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_GATEWAY_JWKS"),
        description=(
            "The shop's identity provider's public keys: a JWKS document (JSON), the path of "
            "a file holding one, or its https:// URL (http:// for a loopback host only), "
            "fetched at start, every STORECREDIT_GATEWAY_JWKS_REFRESH_S and when a token "
            "names a key id not seen yet. Bearer tokens are verified against them. Unset: "
            "no one signs in with a token."
        ),
    )
    gateway_jwks_refresh_s: int = Field(
        default=300,
        ge=30,
        validation_alias=_env("STORECREDIT_GATEWAY_JWKS_REFRESH_S"),
        description="How often the keys at a JWKS URL are fetched again, in seconds.",
    )
    gateway_jwt_issuer: str | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_GATEWAY_JWT_ISSUER"),
        description="The iss a customer's token must have. Required with the JWKS.",
    )
    gateway_jwt_audience: str | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_GATEWAY_JWT_AUDIENCE"),
        description="The aud a customer's token must have. Required with the JWKS.",
    )
    gateway_jwt_algorithms: str = Field(
        default="RS256,ES256,EdDSA",
        validation_alias=_env("STORECREDIT_GATEWAY_JWT_ALGORITHMS"),
        description="The signature algorithms accepted on bearer tokens (never none or HS*).",
    )
    gateway_jwt_customer_claim: str = Field(
        default="sub",
        validation_alias=_env("STORECREDIT_GATEWAY_JWT_CUSTOMER_CLAIM"),
        description=(
            "The claim of a token that is its holder's id: the customer id, or an admin's "
            "id (admin:<id>) for a token with the admin role."
        ),
    )
    gateway_jwt_roles_claim: str = Field(
        default="roles",
        validation_alias=_env("STORECREDIT_GATEWAY_JWT_ROLES_CLAIM"),
        description=(
            "The claim holding a token's roles: a list, or a space-separated string; a dotted "
            "path reaches into objects (realm_access.roles)."
        ),
    )
    gateway_jwt_admin_role: str | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_GATEWAY_JWT_ADMIN_ROLE"),
        description=(
            "The role that makes a token's holder an admin (admin:<id>) rather than a "
            "customer. Unset: every token is a customer's, and admins use API keys."
        ),
    )
    gateway_api_keys: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_GATEWAY_API_KEYS"),
        description=(
            "JSON: API key id to {sha256 (hex of the SHA-256 of the key's secret), actor "
            "(admin:<id> or service:shop)}: how back offices, the Dashboard and the shop's "
            "back end sign in (X-API-Key: <id>.<secret>). Only hashes are kept "
            "(printf %s SECRET | sha256sum)."
        ),
    )
    gateway_operation_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_GATEWAY_OPERATION_KEY"),
        description=(
            "The secret (32 characters or more) the gateway signs the operation ids of slow "
            "commands with, the same on every gateway instance. Required by the gateway."
        ),
    )
    gateway_cors_origins: str = Field(
        default="",
        validation_alias=_env("STORECREDIT_GATEWAY_CORS_ORIGINS"),
        description="Comma-separated origins of the storefronts whose browsers may call the API.",
    )
    gateway_result_wait_s: float = Field(
        default=10,
        gt=0,
        le=120,
        validation_alias=_env("STORECREDIT_GATEWAY_RESULT_WAIT_S"),
        description=(
            "How long a command's HTTP request waits for its result before it answers 202 "
            "with the operation to poll."
        ),
    )
    gateway_query_wait_s: float = Field(
        default=10,
        gt=0,
        le=120,
        validation_alias=_env("STORECREDIT_GATEWAY_QUERY_WAIT_S"),
        description="How long a read waits for its query's reply before it answers 504.",
    )
    gateway_result_lookback_s: int = Field(
        default=3_600,
        ge=0,
        le=3 * 86_400,
        validation_alias=_env("STORECREDIT_GATEWAY_RESULT_LOOKBACK_S"),
        description=(
            "How far back a starting gateway reads the results topics, so an operation "
            "another instance answered 202 for can be polled here."
        ),
    )
    gateway_max_body_bytes: int = Field(
        default=65_536,
        ge=1_024,
        le=1_048_576,
        validation_alias=_env("STORECREDIT_GATEWAY_MAX_BODY_BYTES"),
        description="The largest request body the gateway reads; a larger one is refused 413.",
    )
    crash_at: str | None = Field(
        default=None,
        validation_alias=_env("STORECREDIT_CRASH_AT"),
        description=(
            "Fault injection for tests: the process exits the first time it reaches the "
            "crash point of this name (after_commit)."
        ),
    )
    http_port: int | None = Field(
        default=None,
        ge=0,
        le=65_535,
        validation_alias=_env("STORECREDIT_HTTP_PORT"),
        description=(
            "The port of the service's /metrics and /health endpoint; unset, empty or off: "
            "no HTTP endpoint, 0: any free port."
        ),
    )
    http_host: str = Field(
        default="127.0.0.1",
        validation_alias=_env("STORECREDIT_HTTP_HOST"),
        description="The address the HTTP endpoint listens on (0.0.0.0 in a container).",
    )

    @model_validator(mode="after")
    def _keys_outlive_claims(self) -> Settings:
        """A key forgotten before its command's claim is too old would let the command,
        redelivered, be applied again."""
        if self.idempotency_window_s <= self.actor_claim_max_age_s + CLOCK_SKEW_S:
            raise ValueError(
                f"STORECREDIT_IDEMPOTENCY_WINDOW_S ({self.idempotency_window_s}) must be longer "
                f"than STORECREDIT_ACTOR_CLAIM_MAX_AGE_S ({self.actor_claim_max_age_s}) and the "
                f"claims' clock skew ({CLOCK_SKEW_S} s): a command redelivered after its key "
                "is forgotten must be refused for its claim's age, not applied again."
            )
        return self

    @field_validator("http_port", mode="before")
    @classmethod
    def _http_port_off(cls, value: object) -> object:
        """``STORECREDIT_HTTP_PORT=off`` (or empty) turns the HTTP endpoint off."""
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    def code_hash_key_bytes(self) -> bytes:
        """The secret key of store-credit code hashes; the service cannot work without it."""
        if self.code_hash_key is None:
            raise ValueError(
                "STORECREDIT_CODE_HASH_KEY is not set: the store-credit service needs a secret "
                "of at least 32 characters to hash codes (`storecredit run` makes one for "
                "local use in .local/secrets/)."
            )
        return self.code_hash_key.get_secret_value().encode()

    def code_hash_previous_key_bytes(self) -> list[bytes]:
        """Retired code-hash keys, comma-separated, still accepted while codes are re-hashed.

        A code found under a retired key is hashed again under the current one;
        once no stored hash uses a retired key, drop it from the list.
        """
        if self.code_hash_previous_keys is None:
            return []
        raw = self.code_hash_previous_keys.get_secret_value()
        return [key.strip().encode() for key in raw.split(",") if key.strip()]

    def code_seal_private_key_hex(self) -> str:
        """The store-credit service's key to open the codes shops seal for it."""
        if self.code_seal_private_key is None:
            raise ValueError(
                "STORECREDIT_CODE_SEAL_PRIVATE_KEY is not set: the store-credit service needs "
                "it to read the codes shops seal for it (`storecredit keys` makes a "
                "pair; `storecredit run` makes one for local use in .local/secrets/)."
            )
        return self.code_seal_private_key.get_secret_value()

    def code_seal_public_key_hex(self) -> str:
        """The key clients seal codes with (derived from the private key when only that
        is set, as in a local run; in production a shop is given only this one)."""
        if self.code_seal_public_key is not None:
            return self.code_seal_public_key
        if self.code_seal_private_key is not None:
            from shared.runtime.sealing import public_key_for

            return public_key_for(self.code_seal_private_key.get_secret_value())
        raise ValueError(
            "STORECREDIT_CODE_SEAL_PUBLIC_KEY is not set: a client needs the "
            "store-credit service's public key to seal codes for it."
        )

    def signers(self) -> dict[str, SignerSpec]:
        return parse_signers(self.actor_signers)

    def keyring(self) -> Keyring:
        """The signers this process may sign as (``STORECREDIT_ACTOR_KEYS``)."""
        raw = self.actor_keys.get_secret_value() if self.actor_keys else None
        return Keyring(parse_keys(raw), self.signers())

    def verifier(self) -> Verifier:
        return Verifier(self.signers(), self.actor_claim_max_age_s)

    def service_signer(self, service: str) -> Signer:
        """The key a service signs what it sends with: its own signer's, by its name."""
        return signer_named(
            self.actor_keys.get_secret_value() if self.actor_keys else None, service
        )

    def principal_passwords(self) -> dict[str, str]:
        raw = self.kafka_passwords.get_secret_value() if self.kafka_passwords else "{}"
        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise ValueError("STORECREDIT_KAFKA_PASSWORDS must be a JSON object")
        return {str(name): str(password) for name, password in loaded.items()}

    def as_principal(self, name: str) -> Settings:
        """These settings, connecting to Kafka as the principal ``name`` when
        STORECREDIT_KAFKA_PASSWORDS has its password (else unchanged)."""
        password = self.principal_passwords().get(name)
        if password is None:
            return self
        user = BY_NAME[name].user(self.topic_prefix)
        return self.model_copy(
            update={
                "kafka_sasl_mechanism": self.kafka_principal_mechanism,
                "kafka_sasl_username": user,
                "kafka_sasl_password": SecretStr(password),
            }
        )

    def kafka_environment(self) -> dict[str, str]:
        """The environment variables that connect a process as these settings do."""
        found = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            found["KAFKA_SASL_MECHANISM"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            found["KAFKA_SASL_USERNAME"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            found["KAFKA_SASL_PASSWORD"] = self.kafka_sasl_password.get_secret_value()
        return found

    def actor_environment(self, service: str) -> dict[str, str]:
        """What one service's process needs of the claim settings: every signer's public
        key and grants, and its own private key alone."""
        signer = self.service_signer(service)
        return {
            "STORECREDIT_ACTOR_SIGNERS": self.actor_signers or "{}",
            "STORECREDIT_ACTOR_KEYS": json.dumps({signer.name: signer.private_key_hex}),
        }

    def database_url_for(self, service: str) -> str:
        """The database URL of one service (its own database)."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        explicit: SecretStr | None = getattr(self, f"{service}_database_url")
        if explicit is not None:
            return explicit.get_secret_value()
        url = make_url(self.database_url.get_secret_value())
        return url.set(database=database_name_for(service)).render_as_string(hide_password=False)

    def topic(self, spec: TopicSpec) -> str:
        """The real topic name of a registry entry, with the prefix."""
        return f"{self.topic_prefix}{spec.name}"


def database_name_for(service: str) -> str:
    return f"storecredit_{service}"
