"""What each command produces: the ``produced`` of its accepted ``CommandResult``.

One model per command type, named ``<CommandType>Produced``, listing every key its
handler can put there, on every path it accepts by. A key set on some paths only
(``already_open`` when an account was open already, the balances when it was just
opened) is optional, None when absent. A retry gets the first result again, as it was
remembered: the same keys, a secret it gave once (a new store credit's sealed code and
token) None.

Amounts are integers: in the ledger points or minor units of the account's unit, in
the store-credit, order and fulfillment services minor units of the currency unless a
field says points. :data:`PRODUCED` maps each command's ``message_type`` to its model;
``shared.runtime.contract_checks`` checks every accepted result against it, and
``contracts.typed_results`` builds each command's typed result from it.

Pure: pydantic and ``contracts`` only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from contracts.envelope import Part

# --- ledger ------------------------------------------------------------------------------------


class OpenLedgerAccountProduced(Part):
    """A ledger account opened, with its opening balances; or, opened before with the same
    terms, only ``already_open``."""

    account_id: str = Field(description="The ledger account's id.")
    already_open: Literal[True] | None = Field(
        default=None,
        description="True when the account was open already with the same terms (no balances).",
    )
    balance: int | None = Field(
        default=None,
        description="Just opened: the balance, in points or minor units of the account's unit.",
    )
    holds: int | None = Field(
        default=None,
        description="Just opened: open pending spends, positive, in the account's unit.",
    )
    available: int | None = Field(
        default=None, description="Just opened: balance - holds, in the account's unit."
    )


class CloseLedgerAccountProduced(Part):
    """A ledger account closed (``status``), or closed before (``already_closed``)."""

    account_id: str = Field(description="The ledger account's id.")
    status: Literal["closed"] | None = Field(
        default=None, description="closed, when this command closed it."
    )
    already_closed: Literal[True] | None = Field(
        default=None, description="True when the account was closed already."
    )


class CreatePointTransactionProduced(Part):
    """A point transaction created, pending or committed, and the account's balances after."""

    transaction_id: str = Field(description="The new transaction's id.")
    account_id: str = Field(description="The ledger account it is on.")
    status: Literal["pending", "committed"] = Field(
        description="pending (a hold, to commit or void later) or committed (final)."
    )
    balance: int = Field(description="The account's balance after, in its unit.")
    holds: int = Field(description="The account's open pending spends after, positive.")
    available: int = Field(description="balance - holds after, in the account's unit.")


class CommitPointTransactionProduced(Part):
    """A pending transaction committed, in full or in part, and the balances after."""

    transaction_id: str = Field(description="The transaction committed.")
    committed: int = Field(
        description="The amount committed, signed like the pending amount, in the account's unit."
    )
    released: int = Field(
        description="Pending amount - committed amount, released (0 for a full commit)."
    )
    balance: int = Field(description="The account's balance after, in its unit.")
    holds: int = Field(description="The account's open pending spends after, positive.")
    available: int = Field(description="balance - holds after, in the account's unit.")


class VoidPointTransactionProduced(Part):
    """A pending transaction voided, its hold released, and the balances after."""

    transaction_id: str = Field(description="The transaction voided.")
    status: Literal["voided"] = Field(description="Always voided.")
    balance: int = Field(description="The account's balance after, in its unit.")
    holds: int = Field(description="The account's open pending spends after, positive.")
    available: int = Field(description="balance - holds after, in the account's unit.")


class BindPointTransactionProduced(Part):
    """A pending spend bound to an order, now or (``already_bound``) by an earlier bind."""

    transaction_id: str = Field(description="The transaction bound.")
    account_id: str = Field(description="The ledger account it is on.")
    order_id: str = Field(description="The order it is bound to.")
    amount: int = Field(description="The transaction's pending amount, in the account's unit.")
    already_bound: bool = Field(
        description="True when it was bound to this order already; False when bound now."
    )


class ReplacePointTransactionProduced(Part):
    """A pending spend replaced by a new pending one, and the balances after."""

    transaction_id: str = Field(description="The new pending transaction's id.")
    replaced: str = Field(description="The transaction replaced (now voided, reason replaced).")
    account_id: str = Field(description="The ledger account they are on.")
    amount: int = Field(description="The new pending amount, negative, in the account's unit.")
    status: Literal["pending"] = Field(description="The new transaction's status: pending.")
    balance: int = Field(description="The account's balance after, in its unit.")
    holds: int = Field(description="The account's open pending spends after, positive.")
    available: int = Field(description="balance - holds after, in the account's unit.")


class ReversePointTransactionProduced(Part):
    """A committed transaction reversed, in full or in part, by a new committed one."""

    transaction_id: str = Field(description="The original transaction.")
    reversal_transaction_id: str = Field(description="The new, committed reversal.")
    amount: int = Field(
        description="The reversal's amount, opposite in sign to the original, in the unit."
    )
    reversible_rest: int = Field(
        description="What of the original may still be reversed, positive, in the unit."
    )
    balance: int = Field(description="The account's balance after, in its unit.")
    holds: int = Field(description="The account's open pending spends after, positive.")
    available: int = Field(description="balance - holds after, in the account's unit.")


# --- store credit ------------------------------------------------------------------------------


class CreatePointAccountTemplateProduced(Part):
    """A point-account template created."""

    template_id: str = Field(description="The new template's id.")
    version: int = Field(description="The template's version (1 when created).")


class UpdatePointAccountTemplateProduced(Part):
    """A point-account template changed, and the accounts made from it with it."""

    template_id: str = Field(description="The template changed.")
    version: int = Field(description="The template's version after the change.")
    accounts_updated: int = Field(
        description="How many accounts made from it (not closed) were changed with it."
    )


class CreatePointAccountProduced(Part):
    """A point account created (its ledger account is opened behind it)."""

    account_id: str = Field(description="The new point account's id (its ledger account's).")
    customer_id: str = Field(description="The customer who owns it.")
    status: Literal["active"] = Field(description="A new account is active.")


class UpdatePointAccountProduced(Part):
    """A point account changed: its terms, its status, or both."""

    account_id: str = Field(description="The point account changed.")
    status: Literal["active", "suspended", "closed"] = Field(
        description="The account's status after the change."
    )
    version: int = Field(description="The account's version after the change.")


class CreateStoreCreditProduced(Part):
    """A store credit issued: its masked code, and the code and token sealed to the
    requester's ``reply_public_key``; a retry gets both sealed values None."""

    store_credit_id: str = Field(description="The new store credit's id.")
    code: str = Field(description="The code masked, only its last four digits shown.")
    sealed_code: str | None = Field(
        description=(
            "The code sealed to reply_public_key (base64url); None without a key, and on a retry."
        )
    )
    sealed_token: str | None = Field(
        description=(
            "The credit's token sealed to reply_public_key (base64url); None without a key, "
            "and on a retry."
        )
    )
    external_id: str | None = Field(description="The external id, given or generated, if any.")
    ledger_account_id: str = Field(description="The ledger account holding its balance.")


class UpdateStoreCreditProduced(Part):
    """A store credit changed (a raised amount is credited in the ledger behind it)."""

    store_credit_id: str = Field(description="The store credit changed.")
    version: int = Field(description="The store credit's version after the change.")
    amount: int = Field(description="Its amount after the change, in minor units of currency.")


class AuthorizeStoreCreditProduced(Part):
    """The store credit may pay the order: which one, and how much is available on it."""

    store_credit_id: str = Field(description="The store credit found.")
    name: str = Field(description="The store credit's name.")
    code: str = Field(description="Its code masked, only the last four digits shown.")
    ledger_account_id: str = Field(description="The ledger account to hold its amount on.")
    currency: str = Field(description="The store credit's currency (ISO 4217).")
    available: int = Field(description="What is available on it, positive, in minor units.")
    allow_balance_owing: bool = Field(
        description="Whether an order it pays may leave a balance owing."
    )
    expiry_date: AwareDatetime | None = Field(
        description="When it expires (ISO 8601 with zone), or None if it never does."
    )


# --- order -------------------------------------------------------------------------------------


class CreateOrderProduced(Part):
    """A cart opened."""

    order_id: str = Field(description="The new order's id.")
    number: str = Field(description="The order number, given or made from the id.")
    expires_at: AwareDatetime = Field(
        description="When the cart is abandoned if not checked out (ISO 8601 with zone)."
    )


class AddProductLineItemProduced(Part):
    """A product line item added."""

    line_item_id: str = Field(description="The line item added.")


class AddDepositLineItemProduced(Part):
    """A depositable product's line item added."""

    line_item_id: str = Field(description="The line item added.")


class AddPointTransactionLineItemProduced(Part):
    """A pending spend of points added as a line item paying the order."""

    line_item_id: str = Field(description="The line item added.")
    amount: int = Field(
        description="What the points pay, 0 or less, in minor units of the order's currency."
    )


class RemoveLineItemProduced(Part):
    """A line item removed (a point-transaction item's spend is voided)."""

    line_item_id: str = Field(description="The line item removed.")


class SetOrderChargesProduced(Part):
    """The order's shipping and tax set."""

    order_id: str = Field(description="The order changed.")


class CancelOrderProduced(Part):
    """An open order cancelled; its holds and targeted spends are voided."""

    order_id: str = Field(description="The order cancelled.")
    status: Literal["cancelled"] = Field(description="Always cancelled.")


class ApplyStoreCreditProduced(Part):
    """A store credit applied to the order, asked of the store-credit service; the order
    events tell whether it is held or refused."""

    application_id: str = Field(description="The application's id on the order.")
    status: Literal["requested"] = Field(description="Always requested: authorization asked.")
    requested: int = Field(
        description="What it is asked to cover, positive, in minor units of the order's currency."
    )


class RemoveStoreCreditProduced(Part):
    """An applied store credit taken off the order (its hold voided); one that was no
    longer counting keeps its status and nothing changes."""

    application_id: str = Field(description="The application removed.")
    status: Literal["removed", "refused", "expired"] = Field(
        description="removed; or, when nothing changed, the status it had (refused, expired)."
    )


class CheckoutOrderProduced(Part):
    """A checkout started (``checking_out``, binds sent to the ledger) or, with nothing to
    bind, done at once (``checked_out``), with how the amount due is paid."""

    order_id: str = Field(description="The order checked out.")
    attempt: int = Field(description="The checkout attempt, counted from 1.")
    amount_due: int = Field(
        description="Total - store credit applied, in minor units of the order's currency."
    )
    store_credit_applied: int = Field(
        description="What held store credit pays, in minor units of the order's currency."
    )
    paid_externally: int = Field(
        description="What the external payment pays, in minor units of the order's currency."
    )
    balance_owing: int = Field(
        description="What stays owing, for the shop to collect, in minor units."
    )
    status: Literal["checking_out", "checked_out"] = Field(
        description="checking_out (binds in flight) or checked_out (nothing to bind)."
    )


class SetOrderPaymentStatusProduced(Part):
    """Fulfillment's payment status of a checked-out order, shown or (not newer) ignored."""

    order_id: str = Field(description="The order.")
    payment_status: Literal["captured", "failed", "cancelled"] = Field(
        description="The payment status reported."
    )
    changed: bool = Field(
        description="True when the order now shows it; False when it was not newer."
    )


# --- fulfillment -------------------------------------------------------------------------------


class FulfillItemProduced(Part):
    """A manual fulfillment item fulfilled (now, or before)."""

    fulfillment_item_id: str = Field(description="The item fulfilled.")
    status: Literal["fulfilled"] = Field(description="Always fulfilled.")


class RetryFulfillmentItemProduced(Part):
    """A failed auto item's ledger command sent again, as a new attempt."""

    fulfillment_item_id: str = Field(description="The item retried.")
    status: Literal["committing"] = Field(description="Always committing.")
    attempt: int = Field(description="The new attempt's number (2 for the first retry).")


class CancelFulfillmentProduced(Part):
    """A fulfillment whose payment failed cancelled now, its captures given back; or
    cancelled before, without ``captures_given_back``."""

    order_id: str = Field(description="The order whose fulfillment is cancelled.")
    status: Literal["cancelled"] = Field(description="Always cancelled.")
    captures_given_back: int | None = Field(
        default=None,
        description="Cancelled now: how many captured items are reversed; None if before.",
    )


class ReturnedPart(Part):
    """One part of a return: what is given back, from which source."""

    kind: Literal[
        "reverse_points_spent",
        "restore_store_credit",
        "reverse_deposit",
        "reverse_points_earned",
        "issue_store_credit",
        "refund_due",
        "owing_cancelled",
    ] = Field(description="What the part gives back (contracts.fulfillment.ReturnPartKind).")
    amount: int = Field(
        description=(
            "Positive: points for the reverse_points_* and reverse_deposit parts, else minor "
            "units of the order's currency."
        )
    )


class ReturnItemProduced(Part):
    """A return recorded, with its parts; done at once when no part needs a command."""

    return_id: str = Field(description="The return's id.")
    status: Literal["in_progress", "completed"] = Field(
        description="in_progress (commands sent for its parts) or completed (nothing to send)."
    )
    parts: list[ReturnedPart] = Field(description="Its parts, in order (none of zero).")


PRODUCED: dict[str, type[BaseModel]] = {
    # ledger
    "OpenLedgerAccount": OpenLedgerAccountProduced,
    "CloseLedgerAccount": CloseLedgerAccountProduced,
    "CreatePointTransaction": CreatePointTransactionProduced,
    "CommitPointTransaction": CommitPointTransactionProduced,
    "VoidPointTransaction": VoidPointTransactionProduced,
    "BindPointTransaction": BindPointTransactionProduced,
    "ReplacePointTransaction": ReplacePointTransactionProduced,
    "ReversePointTransaction": ReversePointTransactionProduced,
    # store credit
    "CreatePointAccountTemplate": CreatePointAccountTemplateProduced,
    "UpdatePointAccountTemplate": UpdatePointAccountTemplateProduced,
    "CreatePointAccount": CreatePointAccountProduced,
    "UpdatePointAccount": UpdatePointAccountProduced,
    "CreateStoreCredit": CreateStoreCreditProduced,
    "UpdateStoreCredit": UpdateStoreCreditProduced,
    "AuthorizeStoreCredit": AuthorizeStoreCreditProduced,
    # order
    "CreateOrder": CreateOrderProduced,
    "AddProductLineItem": AddProductLineItemProduced,
    "AddDepositLineItem": AddDepositLineItemProduced,
    "AddPointTransactionLineItem": AddPointTransactionLineItemProduced,
    "RemoveLineItem": RemoveLineItemProduced,
    "SetOrderCharges": SetOrderChargesProduced,
    "CancelOrder": CancelOrderProduced,
    "ApplyStoreCredit": ApplyStoreCreditProduced,
    "RemoveStoreCredit": RemoveStoreCreditProduced,
    "CheckoutOrder": CheckoutOrderProduced,
    "SetOrderPaymentStatus": SetOrderPaymentStatusProduced,
    # fulfillment
    "FulfillItem": FulfillItemProduced,
    "RetryFulfillmentItem": RetryFulfillmentItemProduced,
    "CancelFulfillment": CancelFulfillmentProduced,
    "ReturnItem": ReturnItemProduced,
}
"""Each command's ``message_type`` and the model of what it produces when accepted."""
