"""Bad input for the consumers: hypothesis strategies, a table of named cases, and what a
consumer must do with each message (``Expect``).

Every bad message starts from a valid one (an envelope built from a contract model) and
breaks one thing; what it breaks says what must happen. A broken envelope is unreadable:
it is dead-lettered, nothing more. A readable envelope with an unknown type, another
schema version or a broken payload is dead-lettered and, for a command, answered
``invalid_command``. The contract models only decide whether a generated change really
broke something (a change they accept is discarded), never what a service answers.

Generation is derandomized (a fixed seed per strategy): every run sends the same
messages, so a failure is reproduced by running the test again. The messages are all
generated up front and sent as one batch, then their answers are awaited together.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pydantic_core
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.envelope import Actor, Message, RawEnvelope, new_envelope
from shared.runtime.claims import CLAIM_HEADER
from shared.runtime.codec import encode

T = TypeVar("T")

Headers = list[tuple[str, bytes | None]]

COMMAND, QUERY, EVENT = "command", "query", "event"
SIZE_LIMIT = 1_048_576
"""What Kafka takes in one record by default (a producer's max_request_size)."""
CLAIM_ROOM = 512
"""Room kept for the actor-claim header the tests' producer adds to a probe once it is
sized (a claim is about 300 bytes)."""


@dataclass(frozen=True)
class Expect:
    """What a consumer must do with one message.

    ``result``: a command's one result, ``accepted`` or a rejection code; None: no result.
    ``dead_letter``: the dlt-reason it is parked with, on the dead-letter topic of every
    service reading the topic; None: not parked. ``reply``: a query's reply type, or the
    code of its QueryFailed; None: not checked (no reply_to, or nothing to match it by).
    """

    result: str | None = None
    dead_letter: str | None = None
    reply: str | None = None


ACCEPTED = Expect(result="accepted")
IGNORED = Expect()


@dataclass
class Probe:
    """One message to send, and what must come of it."""

    label: str
    value: bytes | None
    expect: Expect
    key: bytes | None = None
    headers: Headers = field(default_factory=list)
    message_id: str | None = None
    """The envelope's message id, if it has one: a result names it as its causation id."""
    correlation_id: str = field(default_factory=lambda: f"corr-{uuid.uuid4().hex}")
    """What a query's reply is matched by (the envelope's, and its correlation-id header)."""
    keyless: bool = False
    """Sent without a key (else it gets its consumer's key, to share a partition)."""
    fill_to_limit: bool = False
    """Grow the ``filler`` field of its payload until the record is at Kafka's size limit."""
    as_is: bool = False
    """Sent with exactly its own headers (a query gets no reply_to and correlation-id)."""
    sign_other: bool = False
    """Its actor-claim header holds other bytes, to be replaced by a good claim of them."""


def refused_unvouched(kind: str, code: str) -> Expect:
    """A valid message no good claim vouches for: answered ``code``, never parked."""
    return Expect(result=code) if kind == COMMAND else Expect(reply=code)


def unvouched(kind: str, make: Callable[[], Message], actor: Actor) -> list[Probe]:
    """A valid message of ``actor``'s, sent without a claim, with one that is not a JWS,
    and with a good claim of other bytes (the tests' producer signs nothing that has an
    actor-claim header already)."""
    probes = []
    other = dumps(envelope_of(make(), actor))
    for label, claim in [
        ("no actor claim", b""),
        ("an actor claim that is not a JWS", b"not.a.jws"),
        ("a good actor claim of other bytes", other),
    ]:
        body = envelope_of(make(), actor)
        probe = probe_of(label, body, refused_unvouched(kind, "unauthenticated"))
        probe.headers = [*probe.headers, (CLAIM_HEADER, claim)]
        probe.sign_other = claim is other
        probes.append(probe)
    return probes


def readable(kind: str, reason: str) -> Expect:
    """A readable envelope the consumer cannot handle: parked, and answered if it asks."""
    if kind == COMMAND:
        return Expect(result="invalid_command", dead_letter=reason)
    if kind == QUERY:
        return Expect(dead_letter=reason, reply="invalid_query")
    return Expect(dead_letter=reason)


def unreadable(kind: str, reason: str) -> Expect:
    """No envelope: parked; a query is still told, matched by its correlation-id header."""
    return Expect(dead_letter=reason, reply="invalid_query" if kind == QUERY else None)


def envelope_broken(kind: str, broken: Any, message_id: str) -> Expect:
    """An envelope whose own fields are wrong: parked; a command still answered
    ``invalid_envelope`` by the message id it still carries (``codec.salvaged``)."""
    expect = unreadable(kind, "invalid_envelope")
    if kind != COMMAND or not isinstance(broken, dict):
        return expect
    try:
        kept = str(uuid.UUID(str(broken.get("message_id")))) == message_id
    except ValueError:
        kept = False
    return Expect(result="invalid_envelope", dead_letter="invalid_envelope") if kept else expect


# --- envelopes ---------------------------------------------------------------------------------


def envelope_of(payload: Message, actor: Actor) -> dict[str, Any]:
    """A fresh valid envelope around ``payload``, as a JSON-ready dict."""
    body: dict[str, Any] = json.loads(encode(new_envelope(payload, actor=actor)))
    body["correlation_id"] = f"corr-{uuid.uuid4().hex}"
    return body


def dumps(body: Any) -> bytes:
    return json.dumps(body).encode()


def probe_of(label: str, body: dict[str, Any], expect: Expect, **extra: Any) -> Probe:
    """A probe for an envelope dict: its message id and correlation id recorded."""
    return Probe(
        label,
        dumps(body),
        expect,
        message_id=str(body["message_id"]),
        correlation_id=str(body["correlation_id"]),
        **extra,
    )


def placeholder(payload: Message, actor: Actor) -> dict[str, Any]:
    """A fixed envelope, to decide whether a change breaks envelopes (ids do not matter)."""
    body = envelope_of(payload, actor)
    body.update(message_id=str(uuid.UUID(int=0)), idempotency_key="k", correlation_id="c")
    return body


# --- changes that break a valid message ----------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Set, drop or add one field of a dict; ``path`` may go into a nested dict."""

    op: str
    path: tuple[str, ...]
    value: Any = None

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        changed: dict[str, Any] = json.loads(json.dumps(body))
        *parents, name = self.path
        target = changed
        for parent in parents:
            target = target[parent]
        if self.op == "drop":
            target.pop(name, None)
        else:
            target[name] = self.value
        return changed

    def __str__(self) -> str:
        where = ".".join(self.path)
        return f"{self.op} {where}" + ("" if self.op == "drop" else f" = {self.value!r:.60}")


TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=24)
"""Text that JSON carries and PostgreSQL stores (no NUL, no lone surrogate)."""

JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, 1.0, -2.5, 1e300]),
    TEXT,
    st.sampled_from(["", " ", "100", "1e3", "-1", "🙂" * 60, "x" * 600]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(TEXT, st.integers(), max_size=2),
)
"""Values of a wrong type, or out of range, for most fields."""


def rejected_by(model: type[Any], value: Any) -> bool:
    try:
        model.model_validate(value)
    except ValidationError:
        return True
    return False


def _path(name: str) -> tuple[str, ...]:
    return (name,)


def payload_changes(model: type[Message], payload: Mapping[str, Any]) -> st.SearchStrategy[Change]:
    """Changes to a valid payload that its model rejects: wrong types, huge and negative
    numbers, floats and strings for integers, missing fields, extra fields."""
    names = sorted(payload)
    required = sorted(n for n, f in model.model_fields.items() if f.is_required()) or names
    changes = st.one_of(
        st.builds(Change, st.just("set"), st.sampled_from(names).map(_path), JUNK),
        st.builds(Change, st.just("drop"), st.sampled_from(required).map(_path)),
        st.builds(Change, st.just("add"), TEXT.filter(lambda n: n not in names).map(_path), JUNK),
    )
    return changes.filter(lambda change: rejected_by(model, change.apply(payload)))


ENVELOPE_FIELDS = (
    "message_id",
    "idempotency_key",
    "type",
    "schema_version",
    "correlation_id",
    "causation_id",
    "occurred_at",
    "actor",
    "payload",
)


def envelope_changes(envelope: Mapping[str, Any]) -> st.SearchStrategy[Change]:
    """Changes that make an envelope unreadable: a missing or mistyped field, an unknown
    actor kind, a time without zone, an extra field."""
    paths = st.sampled_from(ENVELOPE_FIELDS).map(_path) | st.sampled_from(
        [("actor", "kind"), ("actor", "id")]
    )
    values = JUNK | st.sampled_from(["robot", "CUSTOMER", "2026-01-01T00:00:00", "x" * 300])
    extra = TEXT.filter(lambda n: n not in envelope).map(_path)
    changes = st.one_of(
        st.builds(Change, st.just("set"), paths, values),
        st.builds(Change, st.just("drop"), paths),
        st.builds(Change, st.just("add"), extra, JUNK),
    )
    return changes.filter(lambda change: rejected_by(RawEnvelope, change.apply(envelope)))


def unknown_types(known: set[str]) -> st.SearchStrategy[str]:
    names = st.text(
        st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=100
    )
    return names.filter(lambda name: name not in known)


FUTURE_VERSIONS = st.integers(min_value=2, max_value=2**70)


def not_an_envelope(value: bytes) -> bool:
    try:
        RawEnvelope.model_validate_json(value)
    except ValidationError:
        return True
    return False


_JSON_NOT_OBJECTS: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=3),
    max_leaves=8,
)

RAW_VALUES: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=120),
    TEXT.map(str.encode),
    _JSON_NOT_OBJECTS.map(dumps),
    st.dictionaries(TEXT, _JSON_NOT_OBJECTS, max_size=3).map(dumps),
).filter(not_an_envelope)
"""Bytes that are no envelope: binary, text, JSON that is not an object, or not ours."""


def raw_reason(value: bytes | None) -> str:
    """How bytes that are no envelope are parked: ``undecodable`` unless they are JSON."""
    if not value:
        return "undecodable"
    try:
        pydantic_core.from_json(value)
    except ValueError:
        return "undecodable"
    return "invalid_envelope"


MEANINGFUL_HEADERS = {"reply_to", "correlation-id", "correlation_id", "content-type"}

JUNK_HEADERS: st.SearchStrategy[Headers] = st.lists(
    st.tuples(
        (TEXT | st.sampled_from(["type", "message-id", "idempotency-key"])).filter(
            lambda name: name not in MEANINGFUL_HEADERS
        ),
        st.none() | st.binary(max_size=40) | st.just(b"\xff\xfe\x00"),
    ),
    min_size=1,
    max_size=5,
)
"""Headers any producer may add: garbage, null and non-UTF-8 values, a lying ``type``. Not
those that change what a consumer does (a query's reply_to): the table covers them."""

STRANGERS = st.from_regex(r"\A[a-z][a-z0-9]{2,20}\Z").map(lambda s: f"stranger-{s}")


def generate(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples of ``strategy``, the same ones on every run (derandomized)."""
    found: list[T] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        found.append(example)

    collect()
    return found[:count]


# --- the bad messages for one consumer -----------------------------------------------------------

DEEP = 100_000
NAN = float("nan")
INF = float("inf")
NUMBERS: list[Any] = [2**63, -(2**63) - 1, 2**64, 10**30, 1.5, 100.0, "100", True, None, [1], {}]
"""Amounts beyond int64, floats and strings for integers, and other wrong types."""


def raw_cases() -> list[tuple[str, bytes | None, str]]:
    """Bytes that are no envelope, each with the dlt-reason it must get."""
    return [
        ("empty value", b"", "undecodable"),
        ("null value (a tombstone)", None, "undecodable"),
        ("invalid UTF-8", b"\xff\xfe\xfd not utf-8 \xc3\x28", "undecodable"),
        ("truncated JSON", b'{"message_id": "', "undecodable"),
        ("UTF-16 JSON", '{"type": "x"}'.encode("utf-16"), "undecodable"),
        ("JSON null", b"null", "invalid_envelope"),
        ("JSON array", b"[1, 2, 3]", "invalid_envelope"),
        ("JSON number beyond int64", b"123456789012345678901234567890", "invalid_envelope"),
        ("JSON string", b'"OpenLedgerAccount"', "invalid_envelope"),
        ("empty object", b"{}", "invalid_envelope"),
        ("NaN in an object", b'{"message_id": NaN}', "invalid_envelope"),
        ("deeply nested arrays", b"[" * DEEP + b"]" * DEEP, "undecodable"),
        ("deeply nested objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP, "undecodable"),
    ]


def _naive_now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def envelope_cases() -> list[tuple[str, Change]]:
    """Named ways an envelope is unreadable (dlt-reason ``invalid_envelope``)."""
    return [
        ("unknown actor kind", Change("set", ("actor", "kind"), "robot")),
        ("no actor", Change("drop", ("actor",))),
        ("actor id with spaces", Change("set", ("actor", "id"), "a b")),
        ("message id not a UUID", Change("set", ("message_id",), "42")),
        ("time without zone", Change("set", ("occurred_at",), _naive_now())),
        ("schema version 0", Change("set", ("schema_version",), 0)),
        ("schema version -1", Change("set", ("schema_version",), -1)),
        ("schema version as a word", Change("set", ("schema_version",), "one")),
        ("no type", Change("drop", ("type",))),
        ("empty type", Change("set", ("type",), "")),
        ("payload a list", Change("set", ("payload",), [1, 2])),
        ("payload null", Change("set", ("payload",), None)),
        ("an extra envelope field", Change("add", ("extra",), {"a": 1})),
        ("empty idempotency key", Change("set", ("idempotency_key",), "")),
        ("NUL in the correlation id", Change("set", ("correlation_id",), "c\x00d")),
        ("NUL in the idempotency key", Change("set", ("idempotency_key",), "k\x00")),
        ("NUL in the type", Change("set", ("type",), "Open\x00Ledger")),
    ]


def payload_cases(
    make: Callable[[], Message], number_field: str | None, free_form_field: str | None
) -> list[tuple[str, Change]]:
    """Named ways a payload is invalid for its model: no fields, an extra field nested deep,
    an amount beyond int64, a float or a string for an integer."""
    model = type(make())
    payload = json.loads(make().model_dump_json())
    nested: Any = 1
    for _ in range(150):
        nested = {"n": nested}
    cases = [
        ("empty payload", Change("set", ("payload",), {})),
        ("an extra field nested 150 deep", Change("add", ("payload", "nested"), nested)),
    ]
    if number_field is not None:
        cases += [
            (f"{number_field} = {number!r:.30}", Change("set", ("payload", number_field), number))
            for number in NUMBERS
        ]
    if free_form_field is not None:
        cases.append(
            (
                f"{free_form_field} nested 150 deep",
                Change("set", ("payload", free_form_field), nested),
            )
        )
    return [
        (label, change)
        for label, change in cases
        if rejected_by(model, change.apply({"payload": payload})["payload"])
    ]


def unstorable_cases(text_field: str, free_form_field: str | None) -> list[tuple[str, Change]]:
    """Payloads the model takes but no database can store: NUL in text, NaN and infinity.
    PostgreSQL refuses U+0000 in text and JSONB, and NaN in JSONB, so a service must
    refuse them as invalid rather than fail on them."""
    cases = [(f"NUL in {text_field}", Change("set", ("payload", text_field), "a\x00b"))]
    if free_form_field is not None:
        cases += [
            (f"NaN in {free_form_field}", Change("set", ("payload", free_form_field), {"x": NAN})),
            (
                f"NUL in a key of {free_form_field}",
                Change("set", ("payload", free_form_field), {"\x00": 1}),
            ),
            (f"infinity in {free_form_field}", Change("set", ("payload", free_form_field), [INF])),
        ]
    return cases


def bad_messages(
    kind: str,
    known: set[str],
    make: Callable[[], Message],
    actor: Actor,
    *,
    text_field: str,
    number_field: str | None = None,
    free_form_field: str | None = None,
    examples: int = 10,
) -> list[Probe]:
    """Generated and named bad messages for a consumer of ``kind`` that handles the
    ``known`` types, each made from a fresh valid message ``make()`` sent by ``actor``."""
    probes: list[Probe] = []
    sample = make()
    model = type(sample)
    payload = json.loads(sample.model_dump_json())

    def changed(label: str, change: Change, expect: Expect | None, *, whole: bool = True) -> None:
        """``expect`` None: the envelope itself is broken (``envelope_broken``)."""
        body = envelope_of(make(), actor)
        broken = change.apply(body) if whole else body | {"payload": change.apply(body["payload"])}
        if expect is None:
            expect = envelope_broken(kind, broken, str(body["message_id"]))
        probe = probe_of(label, body, expect)
        probe.value = dumps(broken)
        probes.append(probe)

    for change in generate(payload_changes(model, payload), examples):
        changed(f"payload: {change}", change, readable(kind, "invalid_payload"), whole=False)
    for change in generate(envelope_changes(placeholder(sample, actor)), examples):
        changed(f"envelope: {change}", change, None)
    skipped = IGNORED if kind == EVENT else readable(kind, "unknown_type")
    for name in generate(unknown_types(known), max(examples // 2, 1)):
        changed(f"type {name!r:.40}", Change("set", ("type",), name), skipped)
    newer = readable(kind, "unsupported_schema_version")
    for version in generate(FUTURE_VERSIONS, max(examples // 2, 1)):
        changed(f"schema_version {version}", Change("set", ("schema_version",), version), newer)
    for value in generate(RAW_VALUES, examples):
        probes.append(Probe(f"raw {value!r:.40}", value, unreadable(kind, raw_reason(value))))

    for label, raw, reason in raw_cases():
        probes.append(Probe(label, raw, unreadable(kind, reason)))
    for label, change in envelope_cases():
        changed(label, change, None)
    for label, change in payload_cases(make, number_field, free_form_field):
        changed(label, change, readable(kind, "invalid_payload"))
    for label, change in unstorable_cases(text_field, free_form_field):
        changed(label, change, readable(kind, "invalid_payload"))
    if kind != EVENT:
        probes += unvouched(kind, make, actor)
    garbage = b"\xff not json \x00"
    for content_type in ("application/json", "text/plain"):
        header = ("content-type", content_type.encode())
        label = f"content-type {content_type}, body neither"
        probes.append(Probe(label, garbage, unreadable(kind, "undecodable"), headers=[header]))
    changed(
        "a key of a megabyte", Change("set", ("payload",), {}), readable(kind, "invalid_payload")
    )
    probes[-1].key = b"k" * (SIZE_LIMIT - len(probes[-1].value or b"") - 400 - CLAIM_ROOM)
    filled = payload | {"filler": "x"}
    expect = readable(kind, "invalid_payload") if rejected_by(model, filled) else IGNORED
    change = Change("add", ("payload", "filler"), "")
    changed("at Kafka's size limit", change, expect)
    probes[-1].fill_to_limit = True
    return probes
