"""``storecredit check`` over real PostgreSQL, after a real flow through the four
services on real Kafka: it finds nothing on the healthy system, then finds each
invariant broken by hand in the databases (one corruption at a time, undone
before the next), by name and with the ids involved; it tolerates a difference
between services that goes away within the settle time; it says when it could
not check at all."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.fulfillment import FulfillItem, ReturnItem
from services.fulfillment.app import definition as fulfillment
from services.ledger.app import definition as ledger
from services.order.app import definition as order_service
from services.store_credit.app import definition as store_credit
from shared.runtime.db import create_engine
from shared.runtime.settings import SERVICES, Settings
from shared.tools.cli import build_parser
from shared.tools.invariants import cli as invariants_cli
from shared.tools.invariants.databases import open_engines, snapshot
from shared.tools.invariants.returns import reversal_id
from tests.integration.conftest import running
from tests.integration.shop import the_shop
from tests.integration.test_fulfillment import mixed_order

Found = list[dict[str, Any]]


async def checked(
    settings: Settings, settle_s: float = 0.0, pause: Any = None
) -> tuple[int, Found]:
    """``storecredit check --json``: its exit code and the violations it printed."""
    out = io.StringIO()
    extra = {} if pause is None else {"pause": pause}
    code = await invariants_cli.check(settings, settle_s, as_json=True, out=out, **extra)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def assert_reported(code: int, found: Found, *expected: tuple[str, dict[str, Any]]) -> None:
    """Exactly these violation names, each with (at least) these ids; exit code 1."""
    shown = json.dumps(found, indent=1)
    assert sorted(v["name"] for v in found) == sorted(name for name, _ in expected), shown
    for name, ids in expected:
        assert any(v["name"] == name and ids.items() <= v["ids"].items() for v in found), (
            f"{name} {ids} not in {shown}"
        )
    assert code == 1


class Databases:
    """The services' databases, written to directly (as an attacker or a bug would)."""

    def __init__(self, settings: Settings) -> None:
        self.engines: dict[str, AsyncEngine] = {
            service: create_engine(settings.database_url_for(service)) for service in SERVICES
        }

    async def execute(self, service: str, *statements: str, **params: Any) -> None:
        async with self.engines[service].begin() as connection:
            for statement in statements:
                await connection.execute(text(statement), params)

    async def rows(self, service: str, query: str, **params: Any) -> list[Any]:
        async with self.engines[service].connect() as connection:
            return list((await connection.execute(text(query), params)).all())

    async def scalar(self, service: str, query: str, **params: Any) -> Any:
        [row] = await self.rows(service, query, **params)
        return row[0]

    async def close(self) -> None:
        for engine in self.engines.values():
            await engine.dispose()

    @asynccontextmanager
    async def changed(self, service: str, do: str, undo: str, **params: Any) -> AsyncIterator[None]:
        await self.execute(service, do, **params)
        try:
            yield
        finally:
            await self.execute(service, undo, **params)

    @asynccontextmanager
    async def removed(
        self, service: str, table: str, where: str, **params: Any
    ) -> AsyncIterator[None]:
        """Rows deleted, and put back as they were (kept as JSON meanwhile)."""
        kept = await self.rows(
            service, f"SELECT row_to_json(t)::text FROM {table} t WHERE {where}", **params
        )
        assert kept, f"nothing in {table} where {where} {params}"
        await self.execute(service, f"DELETE FROM {table} WHERE {where}", **params)
        try:
            yield
        finally:
            restore = (
                f"INSERT INTO {table} OVERRIDING SYSTEM VALUE "
                f"SELECT * FROM json_populate_record(NULL::{table}, CAST(:row AS json))"
            )
            for (row,) in kept:
                await self.execute(service, restore, row=row)


@asynccontextmanager
async def stacked(*changes: AbstractAsyncContextManager[None]) -> AsyncIterator[None]:
    """Several changes made in order, undone in reverse."""
    async with AsyncExitStack() as stack:
        for change in changes:
            await stack.enter_async_context(change)
        yield


@dataclass(frozen=True)
class Flow:
    """The ids of the flow the corruptions are made on."""

    order_id: str
    loyalty: str  # the customer's point account (and its ledger account)
    credit_account: str  # the ledger account of the store credit applied to the order
    spend: str  # the pending spend of the point line item, committed by fulfillment
    earned: str  # the points earned on the mugs
    gift: str  # the points deposited by the gift line item
    points_reversal: str  # the reversal of the returned point line item
    issued_credit: str  # the store credit the returned mug gave back (no-refund policy)


async def a_real_flow(producer: AIOKafkaProducer, settings: Settings, watch: Any) -> str:
    """A deposit, an order paid with points, a store credit and a card, fulfilled;
    a mug and the point line item returned. The order id, once all is answered."""
    shop = await the_shop(producer, settings, watch)
    await shop.open_loyalty(10_000)
    credit = await shop.issue(2_000)
    order_id = await mixed_order(shop, credit)
    done = await shop.items.answered(order_id)
    [mugs] = [i["fulfillment_item_id"] for i in done["items"] if i["kind"] == "manual"]
    ship = FulfillItem(order_id=order_id, fulfillment_item_id=mugs)
    assert (await shop.items.do(ship))["status"] == "accepted"
    for return_id, line_item_id in (("r-mug", "mugs"), ("r-points", "points")):
        back = ReturnItem(order_id=order_id, return_id=return_id, line_item_id=line_item_id)
        assert (await shop.items.do(back))["status"] == "accepted"
        assert (await shop.items.returned(order_id, return_id))["status"] == "completed"
    # 10,000 - 1,000 spent + 300 earned + 500 deposited - 150 earned back + 1,000 back
    await shop.balance_is(shop.loyalty, 10_650)
    await shop.balance_is(credit["ledger_account_id"], 750)
    return order_id


async def ids_of(db: Databases, order_id: str) -> Flow:
    items = dict(
        await db.rows(
            "fulfillment",
            "SELECT kind, transaction_id FROM fulfillment_items WHERE order_id = :o",
            o=order_id,
        )
    )
    return Flow(
        order_id=order_id,
        loyalty=await db.scalar(
            "order",
            "SELECT account_id FROM line_items WHERE order_id = :o AND id = 'gift'",
            o=order_id,
        ),
        credit_account=await db.scalar(
            "order", "SELECT ledger_account_id FROM applied_credits WHERE order_id = :o", o=order_id
        ),
        spend=items["points_spent"],
        earned=items["points_earned"],
        gift=items["deposit"],
        points_reversal=reversal_id(order_id, "r-points", 0),
        issued_credit=await db.scalar(
            "fulfillment",
            "SELECT store_credit_id FROM return_parts WHERE order_id = :o "
            "AND kind = 'issue_store_credit'",
            o=order_id,
        ),
    )


async def outbox_drained(db: Databases) -> None:
    """Every service's relay has published everything it was given."""
    async with asyncio.timeout(30):
        for service in SERVICES:
            query = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            while await db.scalar(service, query):
                await asyncio.sleep(0.05)


def corruptions(
    db: Databases, flow: Flow, last_order_outbox_row: int
) -> list[tuple[str, AbstractAsyncContextManager[None], list[tuple[str, dict[str, Any]]]]]:
    """What is broken, how, and what ``check`` must report (a fault may break more than
    one invariant: a ledger balance changed is also a copy that no longer agrees)."""
    f = flow
    return [
        (
            "a ledger balance changed",
            db.changed(
                "ledger",
                "UPDATE ledger_accounts SET balance = balance + 1 WHERE id = :a",
                "UPDATE ledger_accounts SET balance = balance - 1 WHERE id = :a",
                a=f.loyalty,
            ),
            [
                ("balance_mismatch", {"account_id": f.loyalty}),
                ("balance_copy_mismatch", {"account_id": f.loyalty}),
                ("balance_topic_mismatch", {"account_id": f.loyalty}),
            ],
        ),
        (
            "a balance change never published (the ledger a version ahead of its topic)",
            db.changed(
                "ledger",
                "UPDATE ledger_accounts SET version = version + 1 WHERE id = :a",
                "UPDATE ledger_accounts SET version = version - 1 WHERE id = :a",
                a=f.loyalty,
            ),
            [
                ("balance_topic_stale", {"account_id": f.loyalty}),
                ("balance_copy_mismatch", {"account_id": f.loyalty}),  # nor did its copy
            ],
        ),
        (
            "holds beyond the balance",
            db.changed(
                "ledger",
                "UPDATE ledger_accounts SET holds = balance + 1 WHERE id = :a",
                "UPDATE ledger_accounts SET holds = 0 WHERE id = :a",
                a=f.credit_account,
            ),
            [
                ("holds_mismatch", {"account_id": f.credit_account}),
                ("balance_below_floor", {"account_id": f.credit_account}),
                ("balance_copy_mismatch", {"account_id": f.credit_account}),
                ("balance_topic_mismatch", {"account_id": f.credit_account}),
            ],
        ),
        (
            "a posting deleted (the system account's side of the gift deposit)",
            db.removed(
                "ledger",
                "postings",
                "transaction_id = :t AND account_id <> :a",
                t=f.gift,
                a=f.loyalty,
            ),
            [
                ("transaction_unbalanced", {"transaction_id": f.gift}),
                ("unit_unbalanced", {"unit": "points:loyalty"}),
                ("postings_mismatch", {"transaction_id": f.gift}),
            ],
        ),
        (
            "a commit larger than its pending spend",
            db.changed(
                "ledger",
                "UPDATE point_transactions SET committed_amount = amount - 1 WHERE id = :t",
                "UPDATE point_transactions SET committed_amount = amount WHERE id = :t",
                t=f.spend,
            ),
            [
                ("commit_exceeds_amount", {"transaction_id": f.spend}),
                ("postings_mismatch", {"transaction_id": f.spend}),
                ("spend_not_committed", {"order_id": f.order_id, "transaction_id": f.spend}),
                ("fulfilled_item_not_in_ledger", {"transaction_id": f.spend}),
            ],
        ),
        (
            "a spend that paid a checked-out order unbound in the ledger",
            db.changed(
                "ledger",
                "UPDATE point_transactions SET bound_order_id = NULL WHERE id = :t",
                "UPDATE point_transactions SET bound_order_id = :o WHERE id = :t",
                t=f.spend,
                o=f.order_id,
            ),
            [("checkout_hold_not_bound", {"order_id": f.order_id, "transaction_id": f.spend})],
        ),
        (
            "goods shipped although a hold that paid them is not captured",
            db.changed(
                "fulfillment",
                "UPDATE fulfillment_items SET status = 'failed' "
                "WHERE order_id = :o AND kind = 'store_credit'",
                "UPDATE fulfillment_items SET status = 'fulfilled' "
                "WHERE order_id = :o AND kind = 'store_credit'",
                o=f.order_id,
            ),
            [
                ("goods_without_payment", {"order_id": f.order_id}),  # the mugs shipped
                ("goods_without_payment", {"order_id": f.order_id}),  # the points earned
                ("goods_without_payment", {"order_id": f.order_id}),  # the gift deposited
                ("fulfillment_item_unconfirmed", {"order_id": f.order_id}),
            ],
        ),
        (
            "more reversed than was earned",
            db.changed(
                "ledger",
                "UPDATE point_transactions SET reversed_amount = 301 WHERE id = :t",
                "UPDATE point_transactions SET reversed_amount = 150 WHERE id = :t",
                t=f.earned,
            ),
            [
                ("reversal_exceeds_original", {"transaction_id": f.earned}),
                ("reversed_amount_mismatch", {"transaction_id": f.earned}),
            ],
        ),
        (
            "an outbox row unpublished and backdated",
            db.changed(
                "order",
                "UPDATE outbox SET published_at = NULL, "
                "created_at = created_at - interval '1 hour' WHERE id = :i",
                "UPDATE outbox SET published_at = now(), "
                "created_at = created_at + interval '1 hour' WHERE id = :i",
                i=last_order_outbox_row,
            ),
            [("outbox_unsent", {"outbox_id": last_order_outbox_row})],
        ),
        (
            "store-credit's balance copy changed",
            db.changed(
                "store_credit",
                "UPDATE point_accounts SET balance = balance + 7 WHERE id = :a",
                "UPDATE point_accounts SET balance = balance - 7 WHERE id = :a",
                a=f.loyalty,
            ),
            [("balance_copy_mismatch", {"account_id": f.loyalty})],
        ),
        (
            "the order service's copy of a point account changed",
            db.changed(
                "order",
                "UPDATE point_accounts SET status = 'suspended' WHERE id = :a",
                "UPDATE point_accounts SET status = 'active' WHERE id = :a",
                a=f.loyalty,
            ),
            [("account_copy_mismatch", {"account_id": f.loyalty})],
        ),
        (
            "store-credit's balance copy at a version the ledger never reached (a forged event)",
            db.changed(
                "store_credit",
                "UPDATE point_accounts SET ledger_version = ledger_version + 1000000 WHERE id = :a",
                "UPDATE point_accounts SET ledger_version = ledger_version - 1000000 WHERE id = :a",
                a=f.loyalty,
            ),
            [("copy_ahead_of_source", {"account_id": f.loyalty})],
        ),
        (
            "the order service's copy of a point account ahead of store-credit's (a forged event)",
            db.changed(
                "order",
                "UPDATE point_accounts SET version = version + 1000000000 WHERE id = :a",
                "UPDATE point_accounts SET version = version - 1000000000 WHERE id = :a",
                a=f.loyalty,
            ),
            [("copy_ahead_of_source", {"account_id": f.loyalty})],
        ),
        (
            "the order service's copy of a committed spend still pending",
            db.changed(
                "order",
                "UPDATE pending_transactions SET status = 'pending' WHERE id = :t",
                "UPDATE pending_transactions SET status = 'committed' WHERE id = :t",
                t=f.spend,
            ),
            [("pending_copy_mismatch", {"transaction_id": f.spend})],
        ),
        (
            "a point account without its ledger account",
            db.changed(
                "store_credit",
                "INSERT INTO point_accounts (id, customer_id, name, kind, unit, exchange_rates, "
                "status, allow_negative) VALUES (:a, 'cust-x', 'Stray', 'loyalty', 'points:x', "
                "'{}', 'active', false)",
                "DELETE FROM point_accounts WHERE id = :a",
                a="pa-stray",
            ),
            [
                ("ledger_account_missing", {"account_id": "pa-stray"}),
                ("account_copy_mismatch", {"account_id": "pa-stray"}),
            ],
        ),
        (
            "a checked-out order without its fulfillment",
            db.removed("fulfillment", "fulfillments", "order_id = :o", o=f.order_id),
            [("fulfillment_missing", {"order_id": f.order_id})],
        ),
        (
            "a fulfillment of an order that is not checked out",
            db.changed(
                "order",
                "UPDATE orders SET status = 'cancelled' WHERE id = :o",
                "UPDATE orders SET status = 'checked_out' WHERE id = :o",
                o=f.order_id,
            ),
            [("fulfillment_without_order", {"order_id": f.order_id})],
        ),
        (
            "a point line item's points changed after checkout",
            db.changed(
                "order",
                "UPDATE line_items SET points = points - 1 WHERE order_id = :o AND id = 'points'",
                "UPDATE line_items SET points = points + 1 WHERE order_id = :o AND id = 'points'",
                o=f.order_id,
            ),
            [
                ("spend_not_committed", {"order_id": f.order_id, "line_item_id": "points"}),
                ("fulfillment_item_mismatch", {"order_id": f.order_id, "ref": "line:points"}),
            ],
        ),
        (
            "a captured credit that held less than its hold",
            db.changed(
                "order",
                "UPDATE applied_credits SET held = held - 1 WHERE order_id = :o",
                "UPDATE applied_credits SET held = held + 1 WHERE order_id = :o",
                o=f.order_id,
            ),
            [("hold_not_captured", {"order_id": f.order_id, "application_id": "a"})],
        ),
        (
            "a deposit item done in the ledger but still committing",
            db.changed(
                "fulfillment",
                "UPDATE fulfillment_items SET status = 'committing' WHERE transaction_id = :t",
                "UPDATE fulfillment_items SET status = 'fulfilled' WHERE transaction_id = :t",
                t=f.gift,
            ),
            [("fulfillment_item_unconfirmed", {"transaction_id": f.gift})],
        ),
        (
            "a return part reversed in the ledger but still sending",
            db.changed(
                "fulfillment",
                "UPDATE return_parts SET status = 'sending' "
                "WHERE order_id = :o AND return_id = 'r-points'",
                "UPDATE return_parts SET status = 'done' "
                "WHERE order_id = :o AND return_id = 'r-points'",
                o=f.order_id,
            ),
            [
                (
                    "return_part_unconfirmed",
                    {"order_id": f.order_id, "return_id": "r-points", "position": 0},
                )
            ],
        ),
        (
            "a reversal removed from the ledger (with its postings, and what it changed)",
            stacked(
                db.removed("ledger", "postings", "transaction_id = :t", t=f.points_reversal),
                db.removed("ledger", "point_transactions", "id = :t", t=f.points_reversal),
                db.changed(
                    "ledger",
                    "UPDATE ledger_accounts SET balance = balance - 1000 WHERE id = :a",
                    "UPDATE ledger_accounts SET balance = balance + 1000 WHERE id = :a",
                    a=f.loyalty,
                ),
                db.changed(
                    "ledger",
                    "UPDATE point_transactions SET reversed_amount = 0 WHERE id = :t",
                    "UPDATE point_transactions SET reversed_amount = 1000 WHERE id = :t",
                    t=f.spend,
                ),
            ),
            [
                ("return_not_reversed", {"transaction_id": f.points_reversal}),
                ("balance_copy_mismatch", {"account_id": f.loyalty}),
                ("balance_topic_mismatch", {"account_id": f.loyalty}),
                ("pending_copy_mismatch", {"transaction_id": f.points_reversal}),
            ],
        ),
        (
            "a reversal without its return part",
            db.removed(
                "fulfillment",
                "return_parts",
                "order_id = :o AND return_id = 'r-points'",
                o=f.order_id,
            ),
            [("reversal_without_return", {"transaction_id": f.points_reversal})],
        ),
        (
            "the store credit a return issued is gone",
            db.removed("store_credit", "store_credits", "id = :c", c=f.issued_credit),
            [("return_store_credit_missing", {"store_credit_id": f.issued_credit})],
        ),
        (
            "a command taken in without its result",
            db.changed(
                "ledger",
                "INSERT INTO inbox (consumer, idempotency_key, message_id, message_type, "
                "payload_hash) VALUES ('ledger.commands', 'stray-key', gen_random_uuid(), "
                "'CreatePointTransaction', 'x')",
                "DELETE FROM inbox WHERE idempotency_key = 'stray-key'",
            ),
            [("inbox_result_missing", {"idempotency_key": "stray-key"})],
        ),
        (
            "a commit accepted twice under two keys",
            db.changed(
                "ledger",
                "INSERT INTO inbox (consumer, idempotency_key, message_id, message_type, "
                "payload_hash, result) SELECT consumer, 'again-' || idempotency_key, "
                "gen_random_uuid(), message_type, payload_hash, "
                "jsonb_set(result, '{idempotency_key}', to_jsonb('again-' || idempotency_key)) "
                "FROM inbox "
                "WHERE result->>'command_type' = 'CommitPointTransaction' "
                "AND result->>'status' = 'accepted' AND result->'produced'->>'transaction_id' = :t",
                "DELETE FROM inbox WHERE idempotency_key LIKE 'again-%'",
                t=f.spend,
            ),
            [("effect_repeated", {"transaction_id": f.spend})],
        ),
        (
            "a transaction without the command that created it",
            db.removed(
                "ledger",
                "inbox",
                "result->>'command_type' = 'CreatePointTransaction' "
                "AND result->'produced'->>'transaction_id' = :t",
                t=f.gift,
            ),
            [("effect_without_command", {"transaction_id": f.gift})],
        ),
    ]


async def test_check_finds_nothing_after_a_real_flow_then_each_corruption_by_name(
    isolated: Settings, producer: AIOKafkaProducer, watch: Any
) -> None:
    settings = isolated.model_copy(update={"no_refund_policy": True})
    db = Databases(settings)
    try:
        async with running(ledger, store_credit, order_service, fulfillment, settings=settings):
            order_id = await a_real_flow(producer, settings, watch)
            # Live: messages may still be on their way; they settle within 5 s.
            assert await checked(settings, settle_s=5) == (0, [])
            await outbox_drained(db)
        assert await checked(settings) == (0, [])  # stopped: nothing in flight any more
        flow = await ids_of(db, order_id)
        last_row = await db.scalar("order", "SELECT max(id) FROM outbox")
        for what, corruption, expected in corruptions(db, flow, last_row):
            async with corruption:
                code, found = await checked(settings)
                try:
                    assert_reported(code, found, *expected)
                except AssertionError as error:
                    raise AssertionError(f"{what}: {error}") from None
            assert await checked(settings) == (0, []), f"{what}: not undone"
        await differences_in_flight_settle(db, settings, flow)
        await snapshots_are_read_only_and_repeatable(settings)
    finally:
        await db.close()


async def differences_in_flight_settle(db: Databases, settings: Settings, flow: Flow) -> None:
    """A difference between services gone at the second look is not reported; one
    still there is, after the settle time (the pause stands in for the wait)."""
    raise_copy = "UPDATE point_accounts SET balance = balance + 7 WHERE id = :a"
    lower_copy = "UPDATE point_accounts SET balance = balance - 7 WHERE id = :a"
    waits: list[float] = []

    async def copy_catches_up(seconds: float) -> None:
        waits.append(seconds)
        await db.execute("store_credit", lower_copy, a=flow.loyalty)

    await db.execute("store_credit", raise_copy, a=flow.loyalty)
    out = io.StringIO()
    code = await invariants_cli.check(settings, 30, out=out, pause=copy_catches_up)
    assert (code, waits) == (0, [30])
    assert "No violations" in out.getvalue() and "1 difference(s) between services settled" in (
        out.getvalue()
    )

    async def copy_stays(seconds: float) -> None:
        waits.append(seconds)

    async with db.changed("store_credit", raise_copy, lower_copy, a=flow.loyalty):
        out = io.StringIO()
        code = await invariants_cli.check(settings, 30, out=out, pause=copy_stays)
    assert (code, waits) == (1, [30, 30])
    report = out.getvalue()
    assert f"balance_copy_mismatch [ledger -> store_credit]\n  account_id={flow.loyalty}" in report
    assert report.endswith("1 violation (balance_copy_mismatch 1).\n"), report


async def snapshots_are_read_only_and_repeatable(settings: Settings) -> None:
    engines = open_engines(settings)
    try:
        async with snapshot("ledger", engines["ledger"]) as connection:
            assert await connection.scalar(text("SHOW transaction_isolation")) == "repeatable read"
            assert await connection.scalar(text("SHOW transaction_read_only")) == "on"
    finally:
        for engine in engines.values():
            await engine.dispose()


async def test_check_says_it_could_not_check_when_a_database_is_unreachable(
    settings: Settings, capsys: Any
) -> None:
    nowhere = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    code, found = await checked(settings.model_copy(update={"order_database_url": nowhere}))
    assert (code, found) == (2, [])
    assert "could not check, the order database" in capsys.readouterr().err


def test_check_is_a_storecredit_command(capsys: Any) -> None:
    args = build_parser().parse_args(["check", "--json", "--settle-s", "2.5"])
    assert (args.func, args.json, args.settle_s) == (invariants_cli.run, True, 2.5)
    listing = build_parser().parse_args(["check", "--list"])
    assert listing.func(listing) == 0
    listed = capsys.readouterr().out
    assert "balance_mismatch" in listed and "reversal_without_return" in listed
