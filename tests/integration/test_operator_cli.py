"""The operator's command line (storecredit topics, tail, send, dead-letters) against
the real broker, each test on topics and consumer groups of its own (``isolated``).

The commands run through ``main([...])`` in a thread, with the environment an
operator would set, so argument parsing, settings and exit codes are tested too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts import dead_letters as dlt
from contracts.envelope import Message, new_envelope
from contracts.ledger import (
    CloseLedgerAccount,
    CreatePointTransaction,
    OpenLedgerAccount,
    PointTransactionKind,
)
from contracts.registry import MESSAGES
from contracts.topics import LEDGER_COMMAND_RESULTS, LEDGER_COMMANDS, LEDGER_DEAD_LETTERS
from services.ledger.app import definition as ledger_definition
from shared.runtime.broker import kafka_client_options
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import Settings
from shared.tools.cli import main
from shared.tools.operator.keys import CUSTOM_KEYS, natural_key
from shared.tools.operator.redrive import REDRIVEN_FROM
from shared.tools.operator.tail import Filters, Window, tail
from tests.integration.conftest import running
from tests.kafka_tools import ADMIN, command, is_result_of, read_all, send, send_envelope
from tests.processes import client_keys
from tests.random_refs import random_id

Captured = tuple[int, str, str]


@pytest.fixture
def storecredit(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Awaitable[Captured]]:
    """``await storecredit("tail", ...)`` runs the command line as an operator would,
    pointed at this test's topics, and answers its exit code, stdout and stderr."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", isolated.kafka_bootstrap_servers)
    monkeypatch.setenv("STORECREDIT_TOPIC_PREFIX", isolated.topic_prefix)
    for name, value in {**client_keys(isolated), **isolated.kafka_environment()}.items():
        monkeypatch.setenv(name, value)

    async def run(*argv: str) -> Captured:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def deposit(account_id: str, amount: int = 5) -> CreatePointTransaction:
    return CreatePointTransaction(
        account_id=account_id,
        transaction_id=random_id("tx"),
        amount=amount,
        kind=PointTransactionKind.DEPOSIT,
    )


def lag_of(output: str, group: str, topic: str) -> int:
    """The LAG column of the group's row for ``topic`` in ``storecredit topics``."""
    [row] = [line for line in output.splitlines() if line.startswith(f"{group} ") and topic in line]
    return int(row.split()[-1])


def topic_row(output: str, topic: str) -> list[str]:
    [row] = [line.split() for line in output.splitlines() if line.split()[:1] == [topic]]
    return row


async def test_topics_lists_partitions_and_a_lag_that_drops_to_zero_once_consumed(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any, storecredit: Any
) -> None:
    commands = isolated.topic(LEDGER_COMMANDS)
    group = f"{isolated.topic_prefix}storecredit-ledger"
    watcher = await watch(isolated.topic(LEDGER_COMMAND_RESULTS))
    account_id = random_id("acct")
    opening = command(OpenLedgerAccount(account_id=account_id, unit="points:loyalty"))
    async with running(ledger_definition, settings=isolated):
        await send_envelope(producer, commands, account_id, opening)
        await watcher.wait_for(is_result_of(opening))
    # The ledger is stopped: two deposits wait for it.
    waiting = [command(deposit(account_id)) for _ in range(2)]
    for envelope in waiting:
        await send_envelope(producer, commands, account_id, envelope)

    code, out, _ = await storecredit("topics")
    assert code == 0
    assert topic_row(out, commands) == [commands, "6", "3"]
    assert topic_row(out, isolated.topic(LEDGER_DEAD_LETTERS)) == [
        isolated.topic(LEDGER_DEAD_LETTERS),
        "1",
        "0",
    ]
    assert lag_of(out, group, commands) == 2

    code, out, _ = await storecredit("topics", "--group", "storecredit-ledger", "-v")
    per_partition = [line.split() for line in out.splitlines() if line.startswith(f"{group} ")]
    assert len([row for row in per_partition if commands in row]) == 6
    assert sorted(int(row[-1]) for row in per_partition if commands in row) == [0] * 5 + [2]
    assert all(not line.startswith(f"{group}-") for line in out.splitlines())  # one group only

    async with running(ledger_definition, settings=isolated):
        for envelope in waiting:
            await watcher.wait_for(is_result_of(envelope))
        deadline = asyncio.get_running_loop().time() + 30
        while lag_of(
            (await storecredit("topics", "--group", "storecredit-ledger"))[1], group, commands
        ):
            assert asyncio.get_running_loop().time() < deadline, "the lag never dropped to 0"
            await asyncio.sleep(0.2)

    code, _, err = await storecredit("topics", "--group", "storecredit-nobody")
    assert code == 1 and "no consumer group" in err


async def test_tail_decodes_the_envelope_and_shows_exactly_the_records_that_match(
    isolated: Settings, producer: AIOKafkaProducer, storecredit: Any, capsys: Any
) -> None:
    commands = isolated.topic(LEDGER_COMMANDS)
    mine, other = random_id("acct"), random_id("acct")
    opening = command(OpenLedgerAccount(account_id=mine, unit="points:loyalty"))
    flow = random_id("flow")
    raise_it = deposit(mine, 7)
    raised = new_envelope(raise_it, actor=ADMIN, idempotency_key="raise-1", correlation_id=flow)
    elsewhere = command(OpenLedgerAccount(account_id=other, unit="points:loyalty"))
    for key, envelope in ((mine, opening), (mine, raised), (other, elsewhere)):
        await send_envelope(producer, commands, key, envelope)
    await send(producer, commands, mine, b"\xff\xfe not json", {"type": "Nonsense"})

    code, out, _ = await storecredit("tail", "ledger.commands", "--key", mine, "--json")
    assert code == 0
    shown = [json.loads(line) for line in out.splitlines()]
    assert [r["message_id"] for r in shown[:2]] == [str(opening.message_id), str(raised.message_id)]
    assert shown[2]["type"] == "Nonsense" and shown[2]["message_id"] is None
    assert shown[2]["problem"].startswith("undecodable")
    second = shown[1]
    assert second["topic"] == commands and second["key"] == mine
    assert (second["type"], second["idempotency_key"], second["correlation_id"]) == (
        "CreatePointTransaction",
        "raise-1",
        flow,
    )
    assert second["actor"] == "admin:admin-1"
    assert second["payload"]["amount"] == 7 and second["payload"]["account_id"] == mine
    assert second["timestamp"] and isinstance(second["offset"], int)

    code, out, _ = await storecredit(
        "tail", "ledger.commands", "--type", "CreatePointTransaction", "--correlation-id", flow
    )
    blocks = [block for block in out.strip().split("\n\n") if block]
    assert code == 0 and len(blocks) == 1
    assert f"key          {mine}" in blocks[0]
    assert "idempotency  raise-1" in blocks[0] and f"correlation  {flow}" in blocks[0]
    assert "actor        admin:admin-1" in blocks[0] and '"amount":7' in blocks[0]

    code, out, _ = await storecredit("tail", "ledger.commands")
    assert code == 0 and out.count("UNDECODABLE") == 1 and out.count("\n\n") == 4
    # The newest of the key's partition (across partitions, records sent within one
    # millisecond have no order to tell).
    code, out, _ = await storecredit(
        "tail", "ledger.commands", "--last", "1", "--key", mine, "--json"
    )
    [newest] = [json.loads(line) for line in out.splitlines()]
    assert newest["type"] == "Nonsense"
    code, _, err = await storecredit("tail", "ledger.nowhere")
    assert code == 2 and "not a platform topic" in err

    # --from-beginning --follow prints the backlog, then what comes, with the same filters.
    following = asyncio.create_task(
        tail(
            isolated,
            "ledger.commands",
            window=Window(from_beginning=True),
            filters=Filters(key=other),
            follow=True,
            as_lines=True,
        )
    )
    try:
        seen = ""
        later = command(deposit(other))
        deadline = asyncio.get_running_loop().time() + 30
        sent = False
        while str(later.message_id) not in seen:
            assert asyncio.get_running_loop().time() < deadline, seen
            captured = capsys.readouterr()
            seen += captured.out
            if not sent and "records read" in captured.err:
                await send_envelope(producer, commands, other, later)
                await send_envelope(producer, commands, mine, command(deposit(mine)))
                sent = True
            await asyncio.sleep(0.1)
        followed = [json.loads(line) for line in seen.splitlines()]
        assert [r["message_id"] for r in followed] == [
            str(elsewhere.message_id),
            str(later.message_id),
        ]
    finally:
        following.cancel()
        with pytest.raises(asyncio.CancelledError):
            await following


async def test_send_refuses_an_invalid_payload_and_waits_for_the_ledgers_result(
    isolated: Settings, storecredit: Any, tmp_path: Path
) -> None:
    commands = isolated.topic(LEDGER_COMMANDS)

    def file(name: str, content: dict[str, Any]) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(content))
        return str(path)

    bad = file("bad.json", {"type": "OpenLedgerAccount", "payload": {"account_id": "no spaces"}})
    code, _, err = await storecredit("send", bad)
    assert code == 2 and "invalid OpenLedgerAccount payload" in err and "unit" in err
    event = file("event.json", {"type": "LedgerAccountClosed", "payload": {}})
    code, _, err = await storecredit("send", event)
    assert code == 2 and "not a command or query" in err
    unkeyed = file("unkeyed.json", {"type": "FindStoreCredit", "payload": {"token": "t" * 20}})
    code, _, err = await storecredit("send", unkeyed)
    assert code == 2 and "--key" in err
    assert (
        await read_all(isolated.kafka_bootstrap_servers, commands, **kafka_client_options(isolated))
        == []
    )  # nothing sent

    account_id = random_id("acct")
    opening = file(
        "open.json",
        {
            "type": "OpenLedgerAccount",
            "payload": {"account_id": account_id, "unit": "points:loyalty"},
            "idempotency_key": f"open-{account_id}",
            "correlation_id": "operator-test",
        },
    )
    closing_missing = file(
        "close.json", {"type": "CloseLedgerAccount", "payload": {"account_id": random_id("acct")}}
    )
    balance = file(
        "balance.json", {"type": "GetAccountBalances", "payload": {"account_id": account_id}}
    )
    async with running(ledger_definition, settings=isolated):
        code, out, err = await storecredit("send", opening, "--wait", "60")
        result = json.loads(out)
        assert code == 0, (out, err)
        assert (result["status"], result["command_type"]) == ("accepted", "OpenLedgerAccount")
        assert result["produced"]["account_id"] == account_id
        assert f"key={account_id}" in err

        code, out, _ = await storecredit("send", closing_missing, "--wait", "60")
        assert code == 1 and json.loads(out)["code"] == "account_not_found"

        code, out, _ = await storecredit("send", balance, "--wait", "60")
        assert code == 0 and json.loads(out)["type"] == "AccountBalances"

    everything = await read_all(
        isolated.kafka_bootstrap_servers, commands, **kafka_client_options(isolated)
    )
    [sent] = [r for r in everything if r.headers["type"] == "OpenLedgerAccount"]
    body = sent.json()
    assert sent.key == account_id.encode()  # the natural key: the account
    assert (body["idempotency_key"], body["correlation_id"]) == (
        f"open-{account_id}",
        "operator-test",
    )
    assert body["actor"] == {"kind": "admin", "id": "storecredit-cli"}
    assert sent.headers["type"] == "OpenLedgerAccount"


def test_every_command_and_query_has_a_key_rule_or_asks_for_one() -> None:
    """Every command and query is keyed by its contract's key field, or is known to need --key."""
    needs_key = {"FindStoreCredit"}
    ids = {
        name: f"{name}-1"
        for name in ("account_id", "order_id", "customer_id", "template_id", "store_credit_id")
    }
    for spec in MESSAGES:
        if spec.role not in ("command", "query"):
            continue
        fields = {name: value for name, value in ids.items() if name in spec.model.model_fields}
        payload: Message = spec.model.model_construct(None, **fields)
        key = natural_key(spec.topics[0].name, payload)
        if spec.model.message_type in needs_key:
            assert key is None, spec.model.message_type
        elif spec.model in CUSTOM_KEYS:
            assert key == CUSTOM_KEYS[spec.model]
            assert f"`{key}`" in (spec.model.key_hint or ""), spec.model.message_type
        else:
            assert spec.model.key_field is not None, spec.model.message_type
            assert key == ids[spec.model.key_field], spec.model.message_type


def parked(envelope_bytes: bytes, headers: dict[str, str], original: str) -> dict[str, str]:
    """The headers the ledger writes when it parks a message (shared/runtime/dead_letters.py)."""
    return {
        **headers,
        dlt.REASON: "handler_failed",
        dlt.DETAIL: "RuntimeError('the ledger had a bug')",
        dlt.ORIGINAL_TOPIC: original,
        dlt.ORIGINAL_PARTITION: "0",
        dlt.ORIGINAL_OFFSET: "0",
        dlt.CONSUMER_GROUP: "storecredit-ledger",
        dlt.FAILED_AT: datetime.now(UTC).isoformat(),
    }


async def test_dead_letters_are_listed_and_a_fixable_one_is_redriven_but_never_a_redacted_one(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any, storecredit: Any
) -> None:
    commands = isolated.topic(LEDGER_COMMANDS)
    dead_letters = isolated.topic(LEDGER_DEAD_LETTERS)
    watcher = await watch(dead_letters, isolated.topic(LEDGER_COMMAND_RESULTS))
    garbage_key, fixable_id, redacted_id = random_id("acct"), random_id("acct"), random_id("acct")
    fixable = command(OpenLedgerAccount(account_id=fixable_id, unit="points:loyalty"))
    redacted = command(CloseLedgerAccount(account_id=redacted_id))

    async with running(ledger_definition, settings=isolated):
        await send(producer, commands, garbage_key, b"\x00 garbage", {"type": "Nonsense"})
        await watcher.wait_for(lambda r: r.topic == dead_letters and r.key == garbage_key.encode())
        fixed_headers = parked(encode(fixable), headers_for(fixable), commands)
        await send(producer, dead_letters, fixable_id, encode(fixable), fixed_headers)
        masked = parked(encode(redacted), headers_for(redacted), commands) | {dlt.REDACTED: "true"}
        await send(producer, dead_letters, redacted_id, encode(redacted), masked)

        code, out, _ = await storecredit("dead-letters", "list", "ledger", "--json")
        listed = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and len(listed) == 3
        garbage, fix, secret = listed
        assert (garbage["reason"], garbage["type"], garbage["redacted"]) == (
            "undecodable",
            None,
            False,
        )
        assert garbage["detail"] == "value is not UTF-8 JSON"
        assert (garbage["original_topic"], garbage["key"]) == (commands, garbage_key)
        assert garbage["consumer_group"] == f"{isolated.topic_prefix}storecredit-ledger"
        assert isinstance(garbage["original_offset"], int) and garbage["timestamp"]
        assert (fix["reason"], fix["type"], fix["message_id"]) == (
            "handler_failed",
            "OpenLedgerAccount",
            str(fixable.message_id),
        )
        assert secret["redacted"] is True

        code, out, _ = await storecredit("dead-letters", "list")
        assert code == 0 and "3 dead letter(s) on ledger, store-credit, order, fulfillment" in out
        assert "undecodable" in out and "yes (cannot be re-driven)" in out

        code, out, _ = await storecredit("tail", "ledger.dead-letters", "--key", garbage_key)
        fields = [line.split(maxsplit=1) for line in out.splitlines()[1:] if line.strip()]
        assert code == 0 and ["UNDECODABLE", "undecodable: value is not UTF-8 JSON"] in fields
        assert ["dlt-original-topic", commands] in fields and [
            "dlt-reason",
            "undecodable",
        ] in fields

        before = len(
            await read_all(
                isolated.kafka_bootstrap_servers, commands, **kafka_client_options(isolated)
            )
        )
        code, out, _ = await storecredit(
            "dead-letters", "redrive", "ledger", "--offset", str(fix["offset"]), "--dry-run"
        )
        assert code == 0 and "would send" in out and fixable_id in out
        code, out, _ = await storecredit(
            "dead-letters", "redrive", "ledger", "--offset", str(secret["offset"])
        )
        assert code == 1 and "refused" in out and "redacted" in out
        code, _, err = await storecredit("dead-letters", "redrive", "ledger", "--offset", "999")
        assert code == 2 and "999" in err
        assert (
            len(
                await read_all(
                    isolated.kafka_bootstrap_servers, commands, **kafka_client_options(isolated)
                )
            )
            == before
        )

        code, out, _ = await storecredit(
            "dead-letters", "redrive", "ledger", "--offset", str(fix["offset"])
        )
        assert code == 0 and f"sent  {dead_letters}/0@{fix['offset']} -> {commands}" in out
        [result] = await watcher.wait_for(is_result_of(fixable))
        assert result.json()["payload"]["status"] == "accepted"

    everything = await read_all(
        isolated.kafka_bootstrap_servers, commands, **kafka_client_options(isolated)
    )
    [redriven] = [r for r in everything if r.key == fixable_id.encode()]
    assert redriven.value == encode(fixable)  # the original bytes
    assert redriven.headers[REDRIVEN_FROM] == f"{dead_letters}/0@{fix['offset']}"
    assert not [name for name in redriven.headers if name.startswith("dlt-")]
    assert redriven.headers["type"] == "OpenLedgerAccount"
