"""The relay publishes committed rows in order per key, and retries a row Kafka refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from uuid import uuid4

from faststream.kafka import KafkaBroker
from sqlalchemy import func, insert, select

from contracts.topics import LEDGER_EVENTS
from shared.runtime.broker import kafka_client_options
from shared.runtime.messaging_tables import outbox
from shared.runtime.outbox import BatchRows, OutboxRow
from shared.runtime.relay import OutboxRelay, advisory_lock_id
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.kafka_tools import read_all
from tests.random_refs import random_id
from tests.statements import statements_sent


class RefusesOnce:
    """The real broker, except that it refuses one chosen message the first time."""

    def __init__(self, broker: KafkaBroker, refuse: bytes) -> None:
        self._broker = broker
        self._refuse: bytes | None = refuse

    async def publish(self, value: bytes, *args: Any, **kwargs: Any) -> Any:
        if value == self._refuse:
            self._refuse = None
            raise ConnectionError("simulated: Kafka unreachable for this record")
        return await self._broker.publish(value, *args, **kwargs)


async def test_relay_keeps_per_key_order_and_retries_what_failed(
    ledger: ServiceRuntime, settings: Settings
) -> None:
    topic = settings.topic(LEDGER_EVENTS)
    keys = [random_id("k"), random_id("k")]
    values = {key: [f"{key}:{n}".encode() for n in range(5)] for key in keys}
    rows = [
        {
            "message_id": uuid4(),
            "topic": topic,
            "key": key,
            "headers": {"type": "Test"},
            "value": value,
            "secret": n in (2, 3),  # emptied once published, and only then
        }
        for n in range(5)
        for key in keys
        for value in [values[key][n]]
    ]
    relay = OutboxRelay(
        random_id("relay"),
        ledger.engine,
        RefusesOnce(ledger.broker, values[keys[0]][2]),  # type: ignore[arg-type]
        batch_size=1000,
    )
    await ledger.stop_background()  # the service's own relay must not publish these rows
    try:
        async with ledger.sessions() as session, session.begin():
            await session.execute(insert(outbox), rows)
        ids = [r["message_id"] for r in rows]

        first_pass = await relay.publish_pending()
        async with ledger.sessions() as session:
            failed = (
                await session.execute(
                    select(outbox.c.value, outbox.c.attempts, outbox.c.last_error)
                    .where(outbox.c.message_id.in_(ids), outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)  # the refused row first, then what waited behind it
                )
            ).all()
        while await relay.publish_pending():
            pass
        async with ledger.sessions() as session:
            emptied = (
                await session.execute(
                    select(outbox.c.value).where(outbox.c.message_id.in_(ids), outbox.c.secret)
                )
            ).all()
            left = (
                await session.execute(
                    select(outbox.c.id).where(
                        outbox.c.message_id.in_(ids), outbox.c.published_at.is_(None)
                    )
                )
            ).all()
    finally:
        await relay.close()
        await ledger.start_background()

    assert first_pass == 4  # stopped at the refused row: nothing after it overtook it
    assert failed[0].value == values[keys[0]][2]
    assert failed[0].attempts == 1 and "unreachable" in failed[0].last_error
    behind = failed[1]  # taken with it, never sent: put back as it was (a secret too)
    assert (behind.value, behind.attempts, behind.last_error) == (values[keys[1]][2], 0, None)
    assert left == []
    assert [row.value for row in emptied] == [b""] * 4
    records = await read_all(
        settings.kafka_bootstrap_servers, topic, **kafka_client_options(settings)
    )
    for key in keys:
        seen = [r.value for r in records if r.key == key.encode()]
        assert seen == values[key]  # each exactly once, in order


async def test_a_relay_publishes_nothing_while_another_holds_the_lock(
    ledger: ServiceRuntime, settings: Settings
) -> None:
    """One relay per service at a time (order per key): a relay finds nothing to do while
    another holds the lock, and leads once it is released."""
    name = random_id("relay")
    second = OutboxRelay(name, ledger.engine, ledger.broker)
    row = {
        "message_id": uuid4(),
        "topic": settings.topic(LEDGER_EVENTS),
        "key": random_id("k"),
        "headers": {"type": "Test"},
        "value": random_id("v").encode(),
    }
    await ledger.stop_background()  # the service's own relay must not publish this row
    try:
        async with ledger.sessions() as session, session.begin():
            await session.execute(insert(outbox), [row])
        async with ledger.sessions() as holder, holder.begin():
            await holder.execute(select(func.pg_advisory_xact_lock(advisory_lock_id(name))))
            while_held = await second.publish_pending()
            waiting = await published_at(ledger, row["message_id"])
        after = await second.publish_pending()
        published = await published_at(ledger, row["message_id"])
    finally:
        await second.close()
        await ledger.start_background()

    assert (while_held, waiting) == (0, None)
    assert after >= 1 and published is not None


async def published_at(ledger: ServiceRuntime, message_id: Any) -> Any:
    async with ledger.sessions() as session:
        return await session.scalar(
            select(outbox.c.published_at).where(outbox.c.message_id == message_id)
        )


async def test_a_follower_wakes_the_leader_and_takes_the_lead_when_it_is_gone(
    ledger: ServiceRuntime, settings: Settings, watch: Any
) -> None:
    """Two instances of a service: the one that leads publishes what the other commits, as
    soon as the other's relay is woken (not at its next poll, a minute away here); once
    the leader is gone, the other leads."""
    name = random_id("relay")
    leader = OutboxRelay(name, ledger.engine, ledger.broker, poll_interval=60, idle_poll=60)
    follower = OutboxRelay(name, ledger.engine, ledger.broker, poll_interval=60, idle_poll=60)
    rows = [outbox_row(settings) for _ in range(2)]
    await ledger.stop_background()  # the service's own relay must not publish these rows
    try:
        events = await watch(settings.topic(LEDGER_EVENTS))
        leader.start()
        await wait_until(lambda: leader.leads)
        await insert_rows(ledger, [rows[0]])
        assert await follower.publish_pending() == 0  # it does not lead: it wakes the leader
        await events.wait_for(lambda r: r.key == rows[0]["key"].encode(), within_s=20)

        await leader.stop()  # it marks what it sent, and gives up the lead
        assert await published_at(ledger, rows[0]["message_id"]) is not None
        await insert_rows(ledger, [rows[1]])
        assert await follower.publish_pending() == 1
        assert follower.leads
        assert await published_at(ledger, rows[1]["message_id"]) is not None
    finally:
        await leader.stop()
        await follower.close()
        await ledger.start_background()


async def test_rows_sent_but_not_yet_marked_are_sent_again_by_the_next_leader(
    ledger: ServiceRuntime, settings: Settings
) -> None:
    """A pass's rows are marked published by the pass after it: a relay gone between the
    two (its process died) leaves them unmarked, and the next leader sends them again
    (at least once, never lost)."""
    name = random_id("relay")
    row = outbox_row(settings)
    gone = OutboxRelay(name, ledger.engine, ledger.broker)
    successor = OutboxRelay(name, ledger.engine, ledger.broker)
    await ledger.stop_background()
    try:
        await insert_rows(ledger, [row])
        assert await gone._pass(woken=True) == 1  # sent, its mark left for the next pass
        await gone.close()  # as a process gone: its connection closed, the mark never made
        unmarked = await published_at(ledger, row["message_id"])
        assert await successor.publish_pending() == 1
        marked = await published_at(ledger, row["message_id"])
    finally:
        await gone.close()
        await successor.close()
        await ledger.start_background()

    assert unmarked is None and marked is not None
    records = await read_all(
        settings.kafka_bootstrap_servers, row["topic"], **kafka_client_options(settings)
    )
    assert [r.value for r in records if r.key == row["key"].encode()] == [row["value"]] * 2


def outbox_row(settings: Settings) -> dict[str, Any]:
    return {
        "message_id": uuid4(),
        "topic": settings.topic(LEDGER_EVENTS),
        "key": random_id("k"),
        "headers": {"type": "Test"},
        "value": random_id("v").encode(),
    }


async def insert_rows(ledger: ServiceRuntime, rows: list[dict[str, Any]]) -> None:
    async with ledger.sessions() as session, session.begin():
        await session.execute(insert(outbox), rows)


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def commit_handed(ledger: ServiceRuntime, rows: list[dict[str, Any]]) -> list[OutboxRow]:
    """Rows written as a batch writes them, committed: what it hands to the relay."""
    batch = BatchRows(rows=[{**row, "secret": False} for row in rows])
    async with ledger.sessions() as session, session.begin():
        await batch.flush(session)
    return batch.written


def reads_taken(ledger: ServiceRuntime) -> AbstractContextManager[list[str]]:
    """The relay passes that read the outbox (its one statement), on the ledger's engine."""
    return statements_sent(ledger.engine, lambda _connection, sql: "WITH marked AS" in sql)


async def test_rows_handed_over_after_their_commit_are_sent_without_being_read(
    ledger: ServiceRuntime, settings: Settings, watch: Any
) -> None:
    """The leader sends what its own process committed and handed over without reading it
    back, and marks it by a later statement; a commit that hands nothing over (``wake``)
    is read, and so is everything once a row is refused, in id order."""
    relay = OutboxRelay(random_id("relay"), ledger.engine, ledger.broker, poll_interval=60)
    handed_rows = [outbox_row(settings) for _ in range(3)]
    woken_row = outbox_row(settings)
    await ledger.stop_background()
    try:
        events = await watch(settings.topic(LEDGER_EVENTS))
        with reads_taken(ledger) as reads:
            relay.start()
            await wait_until(lambda: relay.leads and len(reads) == 1)  # the first pass reads
            token = relay.hand_over_token()
            relay.hand_over(await commit_handed(ledger, handed_rows), token)
            for row in handed_rows:
                await events.wait_for(lambda r, row=row: r.key == row["key"].encode(), within_s=20)
            assert len(reads) == 1  # sent from memory: no statement yet
            assert await published_at(ledger, handed_rows[0]["message_id"]) is None

            await insert_rows(ledger, [woken_row])
            relay.wake()  # rows not handed over: only a read finds them (and marks the rest)
            await events.wait_for(lambda r: r.key == woken_row["key"].encode(), within_s=20)
            assert len(reads) == 2
            assert await published_at(ledger, handed_rows[0]["message_id"]) is not None
    finally:
        await relay.stop()
        await ledger.start_background()


async def test_a_refused_handed_row_and_those_behind_it_are_read_again_in_order(
    ledger: ServiceRuntime, settings: Settings
) -> None:
    key = random_id("k")
    rows = [{**outbox_row(settings), "key": key, "value": f"{key}:{n}".encode()} for n in range(4)]
    relay = OutboxRelay(
        random_id("relay"),
        ledger.engine,
        RefusesOnce(ledger.broker, rows[1]["value"]),  # type: ignore[arg-type]
        poll_interval=60,
    )
    await ledger.stop_background()
    try:
        await relay.publish_pending()  # it leads
        token = relay.hand_over_token()
        relay.hand_over(await commit_handed(ledger, rows), token)
        with reads_taken(ledger) as reads:
            assert await relay.publish_pending() == 1  # from memory, stopped at the refused
            assert reads == []
            assert await relay.publish_pending() == 3  # read: the refused one and the rest
            assert len(reads) == 1
        left = [await published_at(ledger, row["message_id"]) for row in rows]
    finally:
        await relay.close()
        await ledger.start_background()

    assert None not in left
    records = await read_all(
        settings.kafka_bootstrap_servers, rows[0]["topic"], **kafka_client_options(settings)
    )
    assert [r.value for r in records if r.key == key.encode()] == [row["value"] for row in rows]


async def test_a_follower_hands_nothing_over_and_the_next_leader_reads_what_one_gone_held(
    ledger: ServiceRuntime, settings: Settings
) -> None:
    """Rows handed to a relay that does not lead are for the leader to read; a leader that
    is gone before it sent what it held leaves it to the next leader, who reads it."""
    name = random_id("relay")
    first = OutboxRelay(name, ledger.engine, ledger.broker, poll_interval=60)
    second = OutboxRelay(name, ledger.engine, ledger.broker, poll_interval=60)
    row = outbox_row(settings)
    await ledger.stop_background()
    try:
        await first.publish_pending()
        assert first.leads
        tokens = first.hand_over_token(), second.hand_over_token()
        handed = await commit_handed(ledger, [row])
        first.hand_over(handed, tokens[0])
        second.hand_over(handed, tokens[1])  # a follower: the rows are the leader's to send
        await first.close()  # gone before it sent what it was handed
        with reads_taken(ledger) as reads:
            assert await second.publish_pending() >= 1  # leads, reads: the row is found
            assert len(reads) == 1
        assert await published_at(ledger, row["message_id"]) is not None
    finally:
        await first.close()
        await second.close()
        await ledger.start_background()


async def test_rows_a_read_found_before_they_were_handed_over_are_not_sent_twice(
    ledger: ServiceRuntime, settings: Settings
) -> None:
    """Between a commit and its hand-over, the relay may read (and send) the rows: rows
    handed over after such a read are not kept, and the next pass reads instead."""
    relay = OutboxRelay(random_id("relay"), ledger.engine, ledger.broker, poll_interval=60)
    row = outbox_row(settings)
    await ledger.stop_background()
    try:
        await relay.publish_pending()  # it leads
        token = relay.hand_over_token()  # before the transaction
        handed = await commit_handed(ledger, [row])
        await relay._pass(woken=False)  # its timer: a read, which finds and sends the row
        relay.hand_over(handed, token)  # late: the read may have had them
        with reads_taken(ledger) as reads:
            await relay.publish_pending()
            assert len(reads) == 1  # read, not sent from memory
        marked = await published_at(ledger, row["message_id"])
    finally:
        await relay.close()
        await ledger.start_background()

    assert marked is not None
    records = await read_all(
        settings.kafka_bootstrap_servers, row["topic"], **kafka_client_options(settings)
    )
    assert [r.value for r in records if r.key == row["key"].encode()] == [row["value"]]
