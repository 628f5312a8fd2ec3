"""A client of the whole platform over Kafka, as an upstream shop would write one.

It sends commands to the topic the contracts name for their type, waits for
each one's result (matched by ``causation_id``), publishes upstream events,
asks queries over request/reply, and waits for events. The demo and the
end-to-end tests use it; it knows nothing a shop's integrator could not read in
``contracts/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaProducer

from contracts.envelope import Actor, Envelope, Message, new_envelope
from contracts.registry import MESSAGES
from contracts.topics import ALL_TOPICS, TopicSpec
from shared.runtime.broker import kafka_client_options
from shared.runtime.codec import encode, headers_for
from shared.runtime.settings import Settings
from shared.tools.code_courier import CodeCourier
from shared.tools.request_client import RequestClient
from shared.tools.topic_watch import Record, TopicWatcher

Answer = dict[str, Any]


def _topic_named(name: str) -> TopicSpec:
    [spec] = [spec for spec in ALL_TOPICS if spec.name == name]
    return spec


def topic_of(message: Message) -> TopicSpec:
    """The topic a command, query or upstream event travels on, as the registry says."""
    for spec in MESSAGES:
        if spec.model is type(message):
            return spec.topics[0]
    raise ValueError(f"{type(message).__name__} is not in contracts.registry")


def results_topic_of(commands: TopicSpec) -> TopicSpec:
    """``ledger.commands`` answers on ``ledger.command-results``."""
    return _topic_named(commands.name.replace(".commands", ".command-results"))


def replies_topic_of(queries: TopicSpec) -> TopicSpec:
    """``ledger.queries`` answers on ``ledger.query-replies``."""
    return _topic_named(queries.name.replace(".queries", ".query-replies"))


WATCHED = tuple(
    spec
    for spec in ALL_TOPICS
    if spec.name.endswith((".command-results", ".events")) or spec.name == "ledger.balances"
)


class Platform:
    """Commands, events and queries to and from the four services."""

    def __init__(self, settings: Settings, *, answer_within_s: float = 60.0) -> None:
        self.settings = settings
        self.answer_within_s = answer_within_s
        servers, options = settings.kafka_bootstrap_servers, kafka_client_options(settings)
        self._options = options
        self._keyring = settings.keyring()
        self.codes = CodeCourier.of(settings)
        """Seals the codes this client sends, and opens new ones sealed back to it."""
        self._producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", **options)
        self.watcher = TopicWatcher(servers, [settings.topic(t) for t in WATCHED], **options)
        self._askers: dict[str, RequestClient] = {}
        self.sent: list[tuple[str, Envelope[Message]]] = []
        """Every envelope published, with its key (a chaos run delivers some again)."""
        self.correlation_id: str | None = None
        """The business flow the next commands and events belong to (a story, a checkout)."""

    async def __aenter__(self) -> Platform:
        try:
            await self._producer.start()
            await self.watcher.start()
        except BaseException:
            await self.watcher.stop()
            await self._producer.stop()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for asker in self._askers.values():
            await asker.stop()
        await self.watcher.stop()
        await self._producer.stop()

    async def publish(
        self, key: str, message: Message, actor: Actor, *, idempotency_key: str | None = None
    ) -> Envelope[Message]:
        """Put ``message`` on its topic, keyed by ``key``; return its envelope."""
        envelope = self.envelope(message, actor, idempotency_key)
        await self.publish_envelope(key, envelope)
        return envelope

    def envelope(
        self, message: Message, actor: Actor, idempotency_key: str | None = None
    ) -> Envelope[Message]:
        return new_envelope(
            message,
            actor=actor,
            idempotency_key=idempotency_key,
            correlation_id=self.correlation_id,
        )

    async def publish_envelope(self, key: str, envelope: Envelope[Message]) -> None:
        self.sent.append((key, envelope))
        topic = self.settings.topic(topic_of(envelope.payload))
        value = encode(envelope)
        signed = {**headers_for(envelope), **self._keyring.headers(value, envelope.actor)}
        headers = [(name, text.encode()) for name, text in signed.items()]
        await self._producer.send_and_wait(topic, value, key=key.encode(), headers=headers)

    async def do(
        self, key: str, command: Message, actor: Actor, *, idempotency_key: str | None = None
    ) -> Answer:
        """Send a command and return its result's payload (accepted or rejected)."""
        return await self.do_envelope(key, self.envelope(command, actor, idempotency_key))

    async def do_envelope(self, key: str, envelope: Envelope[Message]) -> Answer:
        await self.publish_envelope(key, envelope)
        message_id = str(envelope.message_id)

        def answers(record: Record) -> bool:
            return (
                record.headers.get("type") == "CommandResult"
                and record.json()["causation_id"] == message_id
            )

        [result] = await self.watcher.wait_for(answers, within_s=self.answer_within_s, key=key)
        payload: Answer = result.json()["payload"]
        return payload

    async def settled(
        self, key: str, command: Message, actor: Actor, *, within_s: float = 60.0
    ) -> Answer:
        """Send a command until its answer is not retryable (a copy it needed was late).

        Every attempt carries the same idempotency key, as a well-behaved client's
        retries do: the first answer that is not retryable is the one kept.
        """
        key_of_attempts = str(uuid4())
        return await until(
            lambda: self.do(key, command, actor, idempotency_key=key_of_attempts),
            lambda answer: not answer.get("retryable"),
            within_s=within_s,
        )

    async def event(
        self,
        message_type: str,
        condition: Callable[[Answer], bool],
        *,
        within_s: float = 60.0,
        key: str | None = None,
    ) -> Answer:
        """The payload of the first ``message_type`` event (since start) meeting ``condition``;
        with ``key``, only that Kafka key's events are looked at (much cheaper)."""

        def matches(record: Record) -> bool:
            return record.headers.get("type") == message_type and condition(
                record.json()["payload"]
            )

        found = await self.watcher.wait_for(matches, within_s=within_s, key=key)
        payload: Answer = found[0].json()["payload"]
        return payload

    def events(self, message_type: str, condition: Callable[[Answer], bool]) -> list[Answer]:
        """Every ``message_type`` event seen so far that meets ``condition``."""
        return [
            record.json()["payload"]
            for record in self.watcher.records
            if record.headers.get("type") == message_type and condition(record.json()["payload"])
        ]

    async def ask(self, key: str, question: Message, actor: Actor) -> Answer:
        """A query's reply as ``{"type": ..., **payload}``."""
        queries = topic_of(question)
        replies = self.settings.topic(replies_topic_of(queries))
        if replies not in self._askers:
            asker = RequestClient(
                self.settings.kafka_bootstrap_servers,
                replies,
                keyring=self._keyring,
                **self._options,
            )
            await asker.start()
            self._askers[replies] = asker
        reply = await self._askers[replies].request(
            self.settings.topic(queries),
            key,
            new_envelope(question, actor=actor),
            timeout=self.answer_within_s,
        )
        return {"type": reply.type, **reply.payload}


async def until(
    attempt: Callable[[], Awaitable[Answer]],
    done: Callable[[Answer], bool],
    *,
    within_s: float = 60.0,
    pause_s: float = 0.1,
) -> Answer:
    """Repeat ``attempt`` until its answer is ``done``; the last answer on timeout raises."""
    last: Answer | None = None
    try:
        async with asyncio.timeout(within_s):
            while True:
                last = await attempt()
                if done(last):
                    return last
                await asyncio.sleep(pause_s)
    except TimeoutError:
        raise TimeoutError(f"no final answer within {within_s}s; the last was {last}") from None
