"""A shop integrates in a second language from the contracts alone: the JavaScript client of
``clients/js/`` (JSON Schema-validated envelopes, kafkajs, actor claims, sealed codes, no
Python) plays the store-credit seed story against the four services, on a system of its
own, and says each step it saw: as the environment's admin (as the docs' examples connect),
then, when Kafka authenticates, as the back office's own principal (SCRAM-SHA-256, only its
ACLs and consumer groups)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

from shared.runtime.settings import Settings
from tests.e2e.conftest import own_system

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"
STEPS = (
    "admin creates a store credit",
    "the credit's balance is in the ledger",
    "CreateOrder by the customer",
    "AddProductLineItem by service:shop",
    "SetOrderCharges by service:shop",
    "ApplyStoreCredit by the customer with the sealed code",
    "Order event on order.events: the applied credit is held",
    "GetOrder query on order.queries",
    "CheckoutOrder by the customer",
    "OrderCheckedOut on order.events",
    "seed story: OK",
)
PRINCIPAL = "back-office"
"""The one client principal that may write and read every topic of the story."""


async def test_the_js_client_plays_the_store_credit_seed_story(
    settings: Settings, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed: `make venv` installs it"
    assert (CLIENT / "node_modules").is_dir(), (
        "clients/js/node_modules is missing: `make venv` installs it (npm ci --prefix clients/js)"
    )
    async with own_system(settings, tmp_path, "js") as system:
        own = system.settings
        await _play(node, own, own.kafka_environment())
        if own.kafka_security_protocol.startswith("SASL"):
            assert PRINCIPAL in own.principal_passwords(), "SASL, but no principals' passwords"
            principal = own.as_principal(PRINCIPAL).kafka_environment()
            assert principal["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-256", principal.keys()
            groups = {"STORECREDIT_CONSUMER_GROUP_PREFIX": f"{own.topic_prefix}{PRINCIPAL}-"}
            await _play(node, own, {**principal, **groups})


async def _play(node: str, settings: Settings, kafka: dict[str, str]) -> None:
    env = {
        **os.environ,
        **kafka,
        "STORECREDIT_TOPIC_PREFIX": settings.topic_prefix,
        "STORECREDIT_ACTOR_KEYS": settings.actor_keys.get_secret_value()
        if settings.actor_keys
        else "{}",
        "STORECREDIT_CODE_SEAL_PUBLIC_KEY": settings.code_seal_public_key_hex(),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [node, str(CLIENT / "seed-story.mjs")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    print(done.stdout)  # each step, for `pytest -s`
    said = f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, said
    missing = [name for name in STEPS if name not in done.stdout]
    assert not missing, f"the story did not say {missing}\n{said}"
