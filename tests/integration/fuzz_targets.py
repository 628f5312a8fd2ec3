"""The consumers the fuzz test feeds, and the valid traffic mixed into their bad input.

A ``Target`` is a topic with the consumers that read it (two services read each results
topic). Its probes are the bad messages of ``fuzz_inputs`` with valid ones spread among
them on the same key, so on the same partition: deposits to one ledger account, line
items of one cart, manual items of one order fulfilled, new customers. The ``Plan``
keeps what those valid messages must leave behind, once each.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import strategies as st

from contracts.customers import CustomerCreated
from contracts.envelope import Actor, ActorKind, Message
from contracts.fulfillment import FulfillItem, GetFulfillment, ListFulfillmentProblems, ReturnItem
from contracts.ledger import (
    BalanceChanged,
    CreatePointTransaction,
    GetAccountBalances,
    GetTransactionHistory,
    PointTransactionCreated,
    PointTransactionKind,
    PointTransactionStatus,
)
from contracts.order import (
    AddProductLineItem,
    GetOrder,
    OrderCheckedOut,
    RemoveLineItem,
    Totals,
)
from contracts.results import CommandResult, ResultStatus
from contracts.store_credit import (
    CreatePointAccount,
    CreateStoreCredit,
    ListCustomerAccounts,
    PointAccount,
    PointAccountStatus,
)
from contracts.topics import (
    CUSTOMERS_EVENTS,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_QUERY_REPLIES,
    LEDGER_BALANCES,
    LEDGER_COMMAND_RESULTS,
    LEDGER_COMMANDS,
    LEDGER_EVENTS,
    LEDGER_QUERY_REPLIES,
    ORDER_COMMANDS,
    ORDER_EVENTS,
    ORDER_QUERY_REPLIES,
    STORE_CREDIT_COMMAND_RESULTS,
    STORE_CREDIT_COMMANDS,
    STORE_CREDIT_EVENTS,
    STORE_CREDIT_QUERY_REPLIES,
    TopicSpec,
)
from services.fulfillment.app import definition as fulfillment
from services.ledger.app import definition as ledger
from services.order.app import definition as order_service
from services.store_credit.app import definition as store_credit
from shared.runtime.service import ServiceDefinition
from shared.runtime.settings import Settings
from tests.integration.fuzz_inputs import (
    ACCEPTED,
    CLAIM_ROOM,
    COMMAND,
    EVENT,
    IGNORED,
    JUNK_HEADERS,
    QUERY,
    SIZE_LIMIT,
    STRANGERS,
    Expect,
    Probe,
    bad_messages,
    envelope_of,
    generate,
    probe_of,
)
from tests.integration.fuzz_world import SHOP, World
from tests.kafka_tools import ADMIN
from tests.random_refs import random_id

EXAMPLES = 12
"""Generated examples per family (payload, envelope, raw bytes; half as many types and
schema versions) and consumer."""


def customer(customer_id: str) -> Actor:
    return Actor(kind=ActorKind.CUSTOMER, id=customer_id)


def service(name: str) -> Actor:
    return Actor(kind=ActorKind.SERVICE, id=name)


# --- the consumers and what each is sent ------------------------------------------------------


@dataclass
class Target:
    """A topic, the consumers reading it, and what they are sent (in this order)."""

    name: str
    topic: TopicSpec
    kind: str
    readers: list[tuple[TopicSpec, str]]
    """(dead-letter topic, consumer group without the prefix) of each consumer of it."""
    key: str
    probes: list[Probe] = field(default_factory=list)
    replies: TopicSpec | None = None


@dataclass
class Plan:
    """The probes for every consumer, and the effects the valid ones must leave, once."""

    targets: list[Target] = field(default_factory=list)
    deposits: list[int] = field(default_factory=list)
    point_accounts: set[str] = field(default_factory=set)
    lines: dict[str, int] = field(default_factory=dict)
    new_customers: list[str] = field(default_factory=list)


def commands_of(definition: ServiceDefinition) -> tuple[TopicSpec, str]:
    return definition.dead_letters, f"storecredit-{definition.name}"


def queries_of(definition: ServiceDefinition) -> tuple[TopicSpec, str]:
    return definition.dead_letters, f"storecredit-{definition.name}-queries"


def events_of(definition: ServiceDefinition, subscription: str) -> tuple[TopicSpec, str]:
    return definition.dead_letters, f"storecredit-{definition.name}-{subscription}"


def valid(
    label: str, payload: Message, actor: Actor, expect: Expect = ACCEPTED, **extra: Any
) -> Probe:
    return probe_of(label, envelope_of(payload, actor), expect, **extra)


def with_junk_headers(probes: list[Probe]) -> list[Probe]:
    """The same valid messages, with garbage, null and non-UTF-8 headers."""
    for probe, headers in zip(probes, generate(JUNK_HEADERS, len(probes)), strict=False):
        probe.headers = list(headers)
        probe.label += f", headers {headers!r:.60}"
    return probes


def refused(label: str, payload: Message, code: str, actors: list[Actor]) -> list[Probe]:
    return [valid(label, payload, actor, Expect(result=code)) for actor in actors]


def strangers(count: int) -> list[Actor]:
    """Customers acting on what is not theirs."""
    return [customer(name) for name in generate(STRANGERS, count)]


def interleave(bad: list[Probe], good: list[Probe], seed: str) -> list[Probe]:
    """The good probes spread among the bad, each list in its order, the same every run."""
    slots = set(random.Random(seed).sample(range(len(bad) + len(good)), len(good)))
    bad_left, good_left = iter(bad), iter(good)
    return [next(good_left if n in slots else bad_left) for n in range(len(bad) + len(good))]


def ledger_commands(world: World, plan: Plan, settings: Settings) -> Target:
    target = Target(
        "ledger commands", LEDGER_COMMANDS, COMMAND, [commands_of(ledger)], world.account
    )

    def deposit(amount: int, **extra: Any) -> CreatePointTransaction:
        extra.setdefault("kind", PointTransactionKind.DEPOSIT)
        return CreatePointTransaction(
            account_id=world.account, transaction_id=random_id("tx"), amount=amount, **extra
        )

    amounts = generate(st.integers(min_value=1, max_value=10**12), 12)
    good = with_junk_headers([valid(f"deposit {a}", deposit(a), ADMIN) for a in amounts[:6]])
    good += [valid(f"deposit {a}", deposit(a), ADMIN) for a in amounts[6:]]
    deep: Any = 1
    for _ in range(150):
        deep = {"n": deep}
    own_key = world.account.encode()
    good += [
        valid("deposit, metadata nested 150 deep", deposit(7, metadata={"d": deep}), ADMIN),
        valid("deposit without a key", deposit(11), ADMIN, keyless=True),
        valid("deposit keyed with a NUL byte", deposit(13), ADMIN, key=own_key + b"\x00"),
        valid("deposit keyed with non-UTF-8", deposit(17), ADMIN, key=b"\xff\xfe" + own_key),
        valid(
            "deposit with a reply_to header",
            deposit(19),
            ADMIN,
            headers=[("reply_to", settings.topic(CUSTOMERS_EVENTS).encode())],
        ),
        valid("deposit with a null type header", deposit(23), ADMIN, headers=[("type", None)]),
    ]
    first = envelope_of(deposit(29), ADMIN)
    redelivery = probe_of("deposit 29 again (a redelivery: one result for both)", first, IGNORED)
    redelivery.message_id = None
    retry = first | {"message_id": str(uuid.uuid4())}
    reused = envelope_of(deposit(31), ADMIN) | {"idempotency_key": first["idempotency_key"]}
    good += [
        probe_of("deposit 29", first, ACCEPTED),
        redelivery,
        probe_of("deposit 29 retried with its key (the first result again)", retry, ACCEPTED),
        probe_of("another deposit with that key", reused, Expect(result="idempotency_key_reused")),
        deposit_at_the_limit(deposit(41), world.account),
    ]
    plan.deposits += [*amounts, 7, 11, 13, 17, 19, 23, 29, 37]
    spend = deposit(-5, kind=PointTransactionKind.SPEND, status=PointTransactionStatus.PENDING)
    good += refused("a stranger spends from the account", spend, "account_not_found", strangers(3))
    good += refused("the owner deposits", deposit(5), "forbidden", [customer(world.owner)])
    good += refused("a negative deposit", deposit(-5), "invalid_amount", [ADMIN])
    bad = bad_messages(
        COMMAND,
        set(ledger.routes),
        lambda: deposit(5),
        ADMIN,
        text_field="description",
        number_field="amount",
        free_form_field="metadata",
        examples=EXAMPLES,
    )
    target.probes = [*interleave(bad, good, target.name), valid("last", deposit(37), ADMIN)]
    return target


def deposit_at_the_limit(payload: CreatePointTransaction, key: str) -> Probe:
    """A deposit as large as Kafka takes (compact JSON, references filling it): past the
    references' cap, so refused as invalid, before it could cause an event Kafka would
    refuse (the caps keep every event far below the limit)."""
    body = envelope_of(payload, ADMIN)

    def value() -> bytes:
        return json.dumps(body, separators=(",", ":")).encode()

    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key.encode(), value(), [])
    entries = (SIZE_LIMIT - 16 - CLAIM_ROOM - size) // (len('"r00000":"",') + 128)
    body["payload"]["references"] = {f"r{n:05d}": "x" * 128 for n in range(entries)}
    expect = Expect(result="invalid_command", dead_letter="invalid_payload")
    probe = probe_of("a deposit at Kafka's size limit", body, expect)
    probe.value = value()
    return probe


def routing_cases(query: Message, settings: Settings) -> list[Probe]:
    """A valid query whose headers say wrongly where to answer, or nothing at all."""
    elsewhere = settings.topic(CUSTOMERS_EVENTS).encode()
    cases: list[tuple[str, list[tuple[str, bytes | None]], str]] = [
        ("no reply_to", [], "no_reply_to"),
        ("a null reply_to", [("reply_to", None)], "no_reply_to"),
        ("a reply_to naming an events topic", [("reply_to", elsewhere)], "reply_to_not_allowed"),
        ("a non-UTF-8 reply_to", [("reply_to", b"\xff\xfe")], "reply_to_not_allowed"),
    ]
    probes = [
        valid(f"a query with {label}", query, ADMIN, Expect(dead_letter=reason), as_is=True)
        for label, _, reason in cases
    ]
    for probe, (_, headers, _) in zip(probes, cases, strict=True):
        probe.headers = headers
    garbage = Probe("garbage without headers", b"\xff\xfe", Expect(dead_letter="undecodable"))
    garbage.as_is = True
    return [*probes, garbage]


def query_target(
    name: str,
    definition: ServiceDefinition,
    replies: TopicSpec,
    key: str,
    good: list[Probe],
    asked: tuple[Callable[[], Message], str],
    actor: Actor,
    settings: Settings,
    **fields: str,
) -> Target:
    """A query consumer: valid questions (answered), misrouted ones, and the bad ones made
    from a fresh ``asked[0]()``, whose answer is a ``asked[1]``."""
    assert definition.queries is not None
    target = Target(name, definition.queries, QUERY, [queries_of(definition)], key, replies=replies)
    make, answer = asked
    good += with_junk_headers(
        [valid(f"{name}, again", make(), actor, Expect(reply=answer)) for _ in range(3)]
    )
    good += routing_cases(make(), settings)
    bad = bad_messages(
        QUERY, set(definition.query_routes), make, actor, examples=EXAMPLES, **fields
    )
    target.probes = interleave(bad, good, name)
    return target


def ledger_queries(world: World, settings: Settings) -> Target:
    balances = GetAccountBalances(account_id=world.account)
    history = GetTransactionHistory(account_id=world.account)
    nowhere = GetAccountBalances(account_id=random_id("acct"))
    heavy = GetTransactionHistory(account_id=world.heavy, page_size=500)
    history_page = Expect(reply="TransactionHistory")
    good = [
        valid("balances", balances, ADMIN, Expect(reply="AccountBalances")),
        valid("history", history, ADMIN, history_page),
        valid("no such account", nowhere, ADMIN, Expect(reply="account_not_found")),
        valid("a page too large", heavy, ADMIN, Expect(reply="reply_too_large")),
        valid("a page of one", heavy.model_copy(update={"page_size": 1}), ADMIN, history_page),
        *[
            valid("a stranger asks", balances, s, Expect(reply="account_not_found"))
            for s in strangers(2)
        ],
    ]
    return query_target(
        "ledger queries",
        ledger,
        LEDGER_QUERY_REPLIES,
        world.account,
        good,
        (
            lambda: GetTransactionHistory(account_id=world.account, page_size=5),
            "TransactionHistory",
        ),
        ADMIN,
        settings,
        text_field="cursor",
        number_field="page_size",
    )


def store_credit_queries(world: World, settings: Settings) -> Target:
    listing = ListCustomerAccounts(customer_id=world.accounts_owner)
    good = [
        valid("accounts", listing, ADMIN, Expect(reply="CustomerAccounts")),
        *[valid("a stranger asks", listing, s, Expect(reply="forbidden")) for s in strangers(2)],
    ]
    return query_target(
        "store-credit queries",
        store_credit,
        STORE_CREDIT_QUERY_REPLIES,
        world.accounts_owner,
        good,
        (lambda: listing, "CustomerAccounts"),
        ADMIN,
        settings,
        text_field="customer_id",
    )


def order_queries(world: World, settings: Settings) -> Target:
    get = GetOrder(order_id=world.cart)
    nowhere = GetOrder(order_id=random_id("ord"))
    good = [
        valid("the cart", get, SHOP, Expect(reply="OrderFound")),
        valid("no such order", nowhere, SHOP, Expect(reply="order_not_found")),
        *[valid("a stranger asks", get, s, Expect(reply="order_not_found")) for s in strangers(2)],
    ]
    return query_target(
        "order queries",
        order_service,
        ORDER_QUERY_REPLIES,
        world.cart,
        good,
        (lambda: get, "OrderFound"),
        SHOP,
        settings,
        text_field="order_id",
    )


def fulfillment_queries(world: World, settings: Settings) -> Target:
    get = GetFulfillment(order_id=world.shipped)
    nowhere = GetFulfillment(order_id=random_id("ord"))
    problems = ListFulfillmentProblems(limit=5)
    good = [
        valid("the shipped order", get, ADMIN, Expect(reply="FulfillmentFound")),
        valid("no such order", nowhere, ADMIN, Expect(reply="fulfillment_not_found")),
        valid("the problems", problems, ADMIN, Expect(reply="FulfillmentProblems")),
        *[
            valid("a customer lists problems", problems, s, Expect(reply="forbidden"))
            for s in strangers(1)
        ],
        *[
            valid("a stranger asks", get, s, Expect(reply="fulfillment_not_found"))
            for s in strangers(2)
        ],
    ]
    return query_target(
        "fulfillment queries",
        fulfillment,
        FULFILLMENT_QUERY_REPLIES,
        world.shipped,
        good,
        (lambda: get, "FulfillmentFound"),
        ADMIN,
        settings,
        text_field="order_id",
    )


def store_credit_commands(world: World, plan: Plan) -> Target:
    owner = world.accounts_owner
    target = Target(
        "store-credit commands", STORE_CREDIT_COMMANDS, COMMAND, [commands_of(store_credit)], owner
    )

    def account() -> CreatePointAccount:
        account_id = random_id("pa")
        plan.point_accounts.add(account_id)
        return CreatePointAccount(
            account_id=account_id, customer_id=owner, name="Fuzz", kind="wallet", unit="points:fz"
        )

    good = with_junk_headers([valid("a point account", account(), ADMIN) for _ in range(3)])
    good += [valid("a point account", account(), ADMIN) for _ in range(3)]
    mine = CreatePointAccount(
        account_id=random_id("pa"), customer_id=owner, name="Mine", kind="wallet", unit="points:fz"
    )
    good += refused("a customer makes an account", mine, "forbidden", [customer(owner)])
    bad = bad_messages(
        COMMAND,
        set(store_credit.routes),
        lambda: CreateStoreCredit(
            store_credit_id=random_id("sc"), name="Gift", amount=500, currency="USD"
        ),
        ADMIN,
        text_field="description",
        number_field="amount",
        examples=EXAMPLES,
    )
    target.probes = [*interleave(bad, good, target.name), valid("last", account(), ADMIN)]
    return target


def order_commands(world: World, plan: Plan) -> Target:
    target = Target(
        "order commands", ORDER_COMMANDS, COMMAND, [commands_of(order_service)], world.cart
    )

    def line(price: int, quantity: int = 1) -> AddProductLineItem:
        line_id = random_id("line")
        plan.lines[line_id] = price * quantity
        return AddProductLineItem(
            order_id=world.cart,
            line_item_id=line_id,
            sku="SKU-1",
            name="Mug",
            unit_price=price,
            quantity=quantity,
        )

    prices = st.tuples(st.integers(min_value=0, max_value=10**9), st.integers(1, 9))
    lines = [valid(f"a line {p}x{q}", line(p, q), SHOP) for p, q in generate(prices, 10)]
    good = with_junk_headers(lines[:5]) + lines[5:]
    theirs = RemoveLineItem(order_id=world.cart, line_item_id=next(iter(plan.lines)))
    cheap = AddProductLineItem(
        order_id=world.cart, line_item_id="cheap", sku="S", name="Mug", unit_price=1
    )
    good += refused("a stranger removes a line", theirs, "order_not_found", strangers(2))
    good += refused("the shopper sets a price", cheap, "forbidden", [customer(world.shopper)])
    bad = bad_messages(
        COMMAND,
        set(order_service.routes),
        lambda: AddProductLineItem(
            order_id=world.cart, line_item_id=random_id("l"), sku="S", name="Mug", unit_price=1
        ),
        SHOP,
        text_field="name",
        number_field="unit_price",
        examples=EXAMPLES,
    )
    target.probes = [*interleave(bad, good, target.name), valid("last", line(1), SHOP)]
    return target


def fulfillment_commands(world: World) -> Target:
    target = Target(
        "fulfillment commands",
        FULFILLMENT_COMMANDS,
        COMMAND,
        [commands_of(fulfillment)],
        world.shipped,
    )
    items = [FulfillItem(order_id=world.shipped, fulfillment_item_id=i) for i in world.manual_items]
    good = with_junk_headers([valid("fulfil an item", item, ADMIN) for item in items[:3]])
    good += [valid("fulfil an item", item, ADMIN) for item in items[3:-1]]
    good += refused("a customer fulfils", items[0], "forbidden", strangers(2))
    unknown = FulfillItem(order_id=world.shipped, fulfillment_item_id=random_id("fi"))
    good += refused("no such item", unknown, "fulfillment_item_not_found", [ADMIN])
    bad = bad_messages(
        COMMAND,
        set(fulfillment.routes),
        lambda: ReturnItem(order_id=world.shipped, return_id=random_id("r"), line_item_id="mug-0"),
        ADMIN,
        text_field="reason",
        number_field="quantity",
        examples=EXAMPLES,
    )
    target.probes = [*interleave(bad, good, target.name), valid("last", items[-1], ADMIN)]
    return target


def customer_events(plan: Plan) -> Target:
    """New customers (each gets an account from the template) among garbage; the first's
    event comes last, after the garbage on its key."""
    plan.new_customers = [random_id("cust") for _ in range(5)]
    first, *others = plan.new_customers
    readers = [events_of(store_credit, "customers")]
    target = Target("customers.events", CUSTOMERS_EVENTS, EVENT, readers, first)
    shop = service("shop")
    good = [
        valid("a new customer", CustomerCreated(customer_id=c), shop, IGNORED, key=c.encode())
        for c in others
    ]
    again = Probe("the same event again (a redelivery)", good[0].value, IGNORED, key=good[0].key)
    bad = bad_messages(
        EVENT,
        {CustomerCreated.message_type},
        lambda: CustomerCreated(customer_id=random_id("cust")),
        shop,
        text_field="name",
        examples=EXAMPLES,
    )
    last = valid("the first new customer", CustomerCreated(customer_id=first), shop, IGNORED)
    target.probes = [*interleave(bad, [*good, again], target.name), last]
    return target


def event_target(
    name: str,
    topic: TopicSpec,
    readers: list[tuple[TopicSpec, str]],
    key: str,
    make: Callable[[], Message],
    actor: Actor,
    **fields: str,
) -> Target:
    """Garbage for a subscription whose valid events are the services' own traffic."""
    target = Target(name, topic, EVENT, readers, key)
    known = {make().message_type}
    target.probes = bad_messages(EVENT, known, make, actor, examples=EXAMPLES, **fields)
    return target


def event_targets(world: World) -> list[Target]:
    now = datetime.now(UTC)
    totals = Totals(
        subtotal=0,
        points_value=0,
        shipping=0,
        tax=0,
        total=0,
        store_credit_applied=0,
        amount_due=0,
        paid_externally=0,
        balance_owing=0,
    )
    checked_out = OrderCheckedOut(
        order_id=random_id("ord"),
        number="n-1",
        customer_id="c",
        currency="USD",
        line_items=[],
        pending_spends=[],
        holds=[],
        deposits=[],
        points_earned=[],
        payment=None,
        totals=totals,
        checked_out_at=now,
    )
    balance = BalanceChanged(
        account_id=world.wallet,
        unit="points:fuzz",
        balance=1,
        holds=0,
        available=1,
        version=1,
        transaction_id=None,
        changed_at=now,
    )
    account = PointAccount(
        account_id="pa-1",
        customer_id=world.accounts_owner,
        template_id=None,
        name="n",
        kind="wallet",
        unit="points:fz",
        exchange_rates={},
        status=PointAccountStatus.ACTIVE,
        allow_negative=False,
        negative_limit=None,
        version=1,
    )
    created = PointTransactionCreated(
        transaction_id="tx-1",
        account_id=world.account,
        unit="points:fuzz",
        amount=-5,
        kind=PointTransactionKind.SPEND,
        status=PointTransactionStatus.PENDING,
        description="",
        references={},
        created_at=now,
    )
    result = CommandResult(
        command_id=uuid.uuid4(), command_type="X", idempotency_key="k", status=ResultStatus.ACCEPTED
    )
    results_readers = [
        events_of(order_service, "{}-results"),
        events_of(fulfillment, "{}-results"),
    ]
    ledger_results = [(dlt, group.format("ledger")) for dlt, group in results_readers]
    credit_results = [(dlt, group.format("store-credit")) for dlt, group in results_readers]
    return [
        event_target(
            "ledger.balances",
            LEDGER_BALANCES,
            [events_of(store_credit, "ledger-balances")],
            world.wallet,
            lambda: balance,
            service("ledger"),
            text_field="account_id",
            number_field="balance",
        ),
        event_target(
            "store-credit.events",
            STORE_CREDIT_EVENTS,
            [events_of(order_service, "point-accounts")],
            world.accounts_owner,
            lambda: account,
            service("store_credit"),
            text_field="name",
            number_field="version",
        ),
        event_target(
            "ledger.events",
            LEDGER_EVENTS,
            [events_of(order_service, "ledger-events")],
            world.account,
            lambda: created,
            service("ledger"),
            text_field="description",
            number_field="amount",
        ),
        event_target(
            "ledger.command-results",
            LEDGER_COMMAND_RESULTS,
            ledger_results,
            world.account,
            lambda: result,
            service("ledger"),
            text_field="reason",
            free_form_field="produced",
        ),
        event_target(
            "store-credit.command-results",
            STORE_CREDIT_COMMAND_RESULTS,
            credit_results,
            world.accounts_owner,
            lambda: result,
            service("store_credit"),
            text_field="reason",
            free_form_field="produced",
        ),
        event_target(
            "order.events",
            ORDER_EVENTS,
            [events_of(fulfillment, "checked-out-orders")],
            world.later,
            lambda: checked_out,
            service("order"),
            text_field="number",
        ),
    ]


def plan_for(world: World, settings: Settings) -> Plan:
    """Every consumer's probes."""
    plan = Plan()
    plan.targets = [
        ledger_commands(world, plan, settings),
        ledger_queries(world, settings),
        store_credit_commands(world, plan),
        store_credit_queries(world, settings),
        order_commands(world, plan),
        order_queries(world, settings),
        fulfillment_commands(world),
        fulfillment_queries(world, settings),
        customer_events(plan),
        *event_targets(world),
    ]
    return plan
