"""Store-credit service: point-account templates and point accounts.

A point account is a customer's account of points (loyalty points, store
credit, ...); its balance lives in the ledger, in a ledger account with the
same id. Exchange rates say what one point is worth in a currency's major
units, as an exact decimal (``{"USD": "0.01"}``: 100 points are 1.00 USD).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import (
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from contracts.envelope import (
    Actor,
    Command,
    Event,
    Identifier,
    Message,
    Moment,
    Part,
    PublicKeyHex,
    References,
    SealedCode,
    at_least_one_of,
    exactly_one_of,
)
from contracts.ledger import INT64_MAX, Unit

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(
        description=(
            "An ISO 4217 currency code (USD, EUR, JPY); every amount in it is an integer "
            "count of its minor unit, with ISO 4217's exponent: 2 (cents) unless 0 (BIF "
            "CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF), 3 (BHD "
            "IQD JOD KWD LYD OMR TND) or 4 (CLF UYW)."
        )
    ),
]
ExchangeRate = Annotated[
    Decimal,
    Field(gt=0, max_digits=30, decimal_places=12),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,12})?$",
            "description": (
                'How much one point is worth in the currency\'s major unit ("0.01": a '
                "point is a cent of USD), as a decimal string (exact, never a JSON "
                "number), above 0, at most 12 decimals; a point spend's value is rounded "
                "toward zero to whole minor units."
            ),
            "examples": ["0.01", "1", "2.5"],
        },
        mode="validation",
    ),
]
MAX_EXCHANGE_RATES = 50
ExchangeRates = Annotated[dict[Currency, ExchangeRate], Field(max_length=MAX_EXCHANGE_RATES)]
"""What one point is worth per currency (major units, an exact decimal); at most 50."""
Kind = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
NegativeLimit = Annotated[int, Field(strict=True, ge=0, le=INT64_MAX)]


class TemplateStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class PointAccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class _AccountTerms(Command):
    """What a template, and an account made directly, say about their accounts."""

    name: Name
    kind: Kind = Field(examples=["store_credit", "loyalty"])
    unit: Unit = Field(description="The ledger unit of its accounts.", examples=["points:loyalty"])
    exchange_rates: ExchangeRates = Field(default_factory=dict)
    allow_negative: bool = False
    negative_limit: NegativeLimit | None = None

    @model_validator(mode="after")
    def _limit_needs_negative(self) -> _AccountTerms:
        if self.negative_limit is not None and not self.allow_negative:
            raise ValueError("negative_limit is only meaningful with allow_negative")
        return self


class CreatePointAccountTemplate(_AccountTerms):
    """Create a template (admin). Key: ``template_id``.

    While active, every customer created upstream gets an account from it.
    """

    message_type: ClassVar[str] = "CreatePointAccountTemplate"
    key_field: ClassVar[str | None] = "template_id"

    template_id: Identifier
    status: TemplateStatus = TemplateStatus.ACTIVE


class UpdatePointAccountTemplate(Command):
    """Rename a template, change its exchange rates or status (admin). Key: ``template_id``.

    The change reaches every account made from the template: name and rates
    as given; status ``inactive`` suspends them, ``active`` makes them active
    again (closed accounts stay closed).
    """

    message_type: ClassVar[str] = "UpdatePointAccountTemplate"
    key_field: ClassVar[str | None] = "template_id"

    template_id: Identifier
    name: Name | None = None
    exchange_rates: ExchangeRates | None = None
    status: TemplateStatus | None = None

    _a_change = at_least_one_of("name", "exchange_rates", "status")


class CreatePointAccount(_AccountTerms):
    """Create an account directly, without a template (admin). Key: ``customer_id``."""

    message_type: ClassVar[str] = "CreatePointAccount"
    key_field: ClassVar[str | None] = "customer_id"

    account_id: Identifier
    customer_id: Identifier


class UpdatePointAccount(Command):
    """Change one account (admin). Key: ``customer_id``.

    Name and exchange rates of an account made from a template are the
    template's: change the template. Status may be changed on any account;
    an account closes only when its balance and holds are zero.
    """

    message_type: ClassVar[str] = "UpdatePointAccount"
    key_field: ClassVar[str | None] = "customer_id"

    account_id: Identifier
    customer_id: Identifier
    name: Name | None = None
    exchange_rates: ExchangeRates | None = None
    status: PointAccountStatus | None = None

    _a_change = at_least_one_of("name", "exchange_rates", "status")


class PointAccountTemplate(Event):
    """A template as it is now (after a create or an update). Key: ``template_id``."""

    message_type: ClassVar[str] = "PointAccountTemplate"

    template_id: str
    name: str
    kind: str
    unit: str
    exchange_rates: dict[str, Decimal]
    status: TemplateStatus
    allow_negative: bool
    negative_limit: int | None
    version: int


class ListPointAccountTemplates(Message):
    """Every point-account template as it is now (a query), by id, a page at a time.
    Any verified actor may ask. Key: any (``templates``)."""

    message_type: ClassVar[str] = "ListPointAccountTemplates"
    key_hint: ClassVar[str | None] = "any key: by custom `templates`"

    status: TemplateStatus | None = Field(default=None, description="Only templates in it.")
    after: Identifier | None = Field(
        default=None, description="The next_after of the previous page; none: the first."
    )
    limit: int = Field(default=100, ge=1, le=500)


class PointAccountTemplateView(Part):
    template_id: str
    name: str
    kind: str
    unit: str
    exchange_rates: dict[str, Decimal]
    status: TemplateStatus
    allow_negative: bool
    negative_limit: int | None
    version: int


class PointAccountTemplates(Message):
    """A page of templates, by id; ``next_after`` asks for the next (none: the last)."""

    message_type: ClassVar[str] = "PointAccountTemplates"

    templates: list[PointAccountTemplateView]
    next_after: str | None


class PointAccount(Event):
    """A point account as it is now (after a create or any change). Key: ``customer_id``.

    Its balances are the ledger's (``ledger.balances``, the same account id).
    """

    message_type: ClassVar[str] = "PointAccount"

    account_id: str
    customer_id: str
    template_id: str | None
    name: str
    kind: str
    unit: str
    exchange_rates: dict[str, Decimal]
    status: PointAccountStatus
    allow_negative: bool
    negative_limit: int | None
    version: int


class PointAccountRefused(Event):
    """An account a template would have given a customer was not created. Key: ``customer_id``."""

    message_type: ClassVar[str] = "PointAccountRefused"

    customer_id: str
    template_id: str
    code: str = Field(examples=["account_limit_reached"])
    reason: str


class ListCustomerAccounts(Message):
    """Ask for a customer's point accounts with their balances (a query)."""

    message_type: ClassVar[str] = "ListCustomerAccounts"
    key_field: ClassVar[str | None] = "customer_id"

    customer_id: Identifier
    include_closed: bool = False


class PointAccountView(Part):
    account_id: str
    template_id: str | None
    name: str
    kind: str
    unit: str
    exchange_rates: dict[str, Decimal]
    status: PointAccountStatus
    balance: int | None = Field(description="None until the ledger has reported it.")
    holds: int | None
    available: int | None


class CustomerAccounts(Message):
    message_type: ClassVar[str] = "CustomerAccounts"

    customer_id: str
    point_accounts: list[PointAccountView]


# --- store-credit instruments ----------------------------------------------------------------

MinorUnits = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]
CodeText = Annotated[str, StringConstraints(min_length=12, max_length=40)]


class StoreCreditReason(StrEnum):
    GIFT = "gift"
    REFUND = "refund"
    GOODWILL = "goodwill"
    OTHER = "other"


class CreateStoreCredit(Command):
    """Issue a store credit (admin, or a service "via code"). Key: ``store_credit_id``.

    The code is generated (16 digits) unless given (``sealed_code``, sealed by
    this command's actor; a clear ``code`` is refused ``code_not_sealed``). The
    new code and the credit's token reach only the requester: sealed to the
    ``reply_public_key`` it names, in this command's accepted result
    (``sealed_code``, ``sealed_token``), and nowhere else; without a key the
    result carries neither (the credit is still applied by its id). A retry
    with the same idempotency key gets the first result without them.
    """

    message_type: ClassVar[str] = "CreateStoreCredit"
    key_field: ClassVar[str | None] = "store_credit_id"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"sealed_code"})
    sealed_instead: ClassVar[dict[str, str]] = {"code": "sealed_code"}

    store_credit_id: Identifier
    name: Name
    description: str = Field(default="", max_length=1000)
    sealed_code: SealedCode | None = Field(
        default=None, description="A code of your own, sealed; default: a generated one."
    )
    reply_public_key: PublicKeyHex | None = Field(
        default=None,
        description=(
            "The requester's X25519 public key: the accepted result carries the new code "
            "and token sealed to it (libsodium crypto_box_seal of their UTF-8 text)."
        ),
    )
    amount: MinorUnits = Field(description="The initial credit, in minor units of currency.")
    currency: Currency
    allow_balance_owing: bool = False
    external_id: Identifier | None = None
    generate_external_id: bool = Field(
        default=False, description="Generate an unguessable external id (192 bits)."
    )
    active_date: Moment | None = None
    expiry_date: Moment | None = None
    disabled: bool = False
    customer_id: Identifier | None = None
    reason: StoreCreditReason = StoreCreditReason.OTHER
    references: References = Field(
        default_factory=dict, description="For a refund: order_id, return_id, ..."
    )

    @model_validator(mode="after")
    def _check(self) -> CreateStoreCredit:
        if self.external_id is not None and self.generate_external_id:
            raise ValueError("give external_id or generate_external_id, not both")
        if self.active_date and self.expiry_date and self.expiry_date <= self.active_date:
            raise ValueError("expiry_date must be after active_date")
        return self


class UpdateStoreCredit(Command):
    """Change a store credit (admin). Key: ``store_credit_id``. Omitted fields stay;
    ``clear`` names fields to empty.

    ``amount`` may only be raised, to a value above the current balance; the
    difference between it and the balance is credited through the ledger.
    """

    message_type: ClassVar[str] = "UpdateStoreCredit"
    key_field: ClassVar[str | None] = "store_credit_id"

    store_credit_id: Identifier
    name: Name | None = None
    description: str | None = Field(default=None, max_length=1000)
    amount: MinorUnits | None = None
    external_id: Identifier | None = None
    active_date: Moment | None = None
    expiry_date: Moment | None = None
    disabled: bool | None = None
    customer_id: Identifier | None = None
    clear: list[Literal["external_id", "active_date", "expiry_date", "customer_id"]] = Field(
        default_factory=list
    )


class AuthorizeStoreCredit(Command):
    """May this store credit pay this order? Asked by the order service. Key: ``customer_id``.

    The store-credit service finds the credit (a code arrives sealed for it
    alone by ``requested_by``, see ``shared.runtime.sealing``; a token or an id finds only the
    customer's own credits; a credit of another customer's is not found, as if
    it did not exist), checks it can pay (active, not expired, not disabled,
    same currency) and answers in this command's result: accepted with the
    credit and what is available, or rejected with the reason's code. A wrong
    code or token counts toward the lock-out of the customer, the order, the
    requester, the client principal it came through and the guessed value, and
    of everyone together
    (``locked_out``). The order service then asks the ledger for the hold.
    """

    message_type: ClassVar[str] = "AuthorizeStoreCredit"
    key_field: ClassVar[str | None] = "customer_id"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"sealed_code"})

    application_id: Identifier
    order_id: Identifier
    customer_id: Identifier
    currency: Currency
    sealed_code: SealedCode | None = Field(
        default=None, description="The ApplyStoreCredit's sealed code, passed on as it came."
    )
    token: str | None = Field(default=None, max_length=100)
    store_credit_id: Identifier | None = None
    requested_by: Actor | None = Field(
        default=None,
        description=(
            "Who applied the credit (the ApplyStoreCredit's actor): wrong guesses count "
            "against them too."
        ),
    )
    requested_via: str | None = Field(
        default=None,
        max_length=100,
        description=(
            "The client principal whose actor claim vouched for the ApplyStoreCredit (its "
            "signer, for example storefront): wrong guesses count against it too."
        ),
    )

    _one_way = exactly_one_of("sealed_code", "token", "store_credit_id")


class StoreCredit(Event):
    """A store credit as it is now; the code only masked. Key: customer id, else its id."""

    message_type: ClassVar[str] = "StoreCredit"

    store_credit_id: str
    name: str
    description: str
    code: str = Field(description="Masked: ******5744.", examples=["******5744"])
    amount: int
    currency: str
    allow_balance_owing: bool
    external_id: str | None
    active_date: datetime | None
    expiry_date: datetime | None
    disabled: bool
    customer_id: str | None
    ledger_account_id: str = Field(
        description="The credit's ledger account: its balance on ledger.balances has this id."
    )
    reason: StoreCreditReason
    references: dict[str, str]
    version: int


class FindStoreCredit(Message):
    """Look a store credit up for checkout (a query): by code, token or external id.

    A customer finds only their own credits (and, by code, credits of nobody's);
    any other answers ``store_credit_not_found``, as for none at all. Every
    miss is a wrong guess, counted against the asking actor, the customer, the
    order and the guessed value, and against everyone together: after too
    many, they are locked out for a while (``locked_out``). A right guess
    clears nothing. ``currency`` checks the credit can pay an order in it. A
    code comes sealed by the query's actor (``sealed_code``); a clear ``code``
    is refused ``code_not_sealed``.
    """

    message_type: ClassVar[str] = "FindStoreCredit"
    key_hint: ClassVar[str | None] = (
        "any key: by custom the order id, or else the id of whoever looks"
    )
    secret_fields: ClassVar[frozenset[str]] = frozenset({"sealed_code"})
    sealed_instead: ClassVar[dict[str, str]] = {"code": "sealed_code"}

    sealed_code: SealedCode | None = None
    token: str | None = Field(default=None, max_length=100)
    external_id: Identifier | None = None
    order_id: Identifier | None = None
    currency: Currency | None = None

    _one_key = exactly_one_of("sealed_code", "token", "external_id")


class ListCustomerStoreCredits(Message):
    """A customer's store credits with balances (a query), a page at a time: usable ones
    first, each group by expiry date (soonest first, none last)."""

    message_type: ClassVar[str] = "ListCustomerStoreCredits"
    key_field: ClassVar[str | None] = "customer_id"

    customer_id: Identifier
    currency: Currency | None = Field(default=None, description="Only credits in it.")
    usable_only: bool = Field(default=False, description="Only the credits an order could use now.")
    offset: int = Field(
        default=0, ge=0, le=1_000_000, description="The next_offset of the previous page."
    )
    limit: int = Field(default=100, ge=1, le=500)


class StoreCreditView(Part):
    store_credit_id: str
    name: str
    description: str
    code: str = Field(description="Masked.")
    amount: int
    balance: int | None
    holds: int | None
    available: int | None
    currency: str
    allow_balance_owing: bool
    external_id: str | None
    active_date: datetime | None
    expiry_date: datetime | None
    disabled: bool
    customer_id: str | None
    ledger_account_id: str = Field(
        description="The credit's ledger account: its balance on ledger.balances has this id."
    )
    usable: bool
    unusable_code: str | None = Field(
        default=None,
        examples=["expired"],
        description="not_yet_active, expired, disabled, currency_mismatch",
    )


class StoreCreditFound(Message):
    message_type: ClassVar[str] = "StoreCreditFound"

    store_credit: StoreCreditView


class CustomerStoreCredits(Message):
    message_type: ClassVar[str] = "CustomerStoreCredits"

    customer_id: str
    store_credits: list[StoreCreditView]
    next_offset: int | None = Field(
        default=None, description="Ask again with this offset for the next page; none: the last."
    )
