"""Every rejection code a command or a query can answer, and which message answers which.

A rejected command's ``CommandResult`` and a query's ``QueryFailed`` carry a ``code``
for machines and a ``reason`` for people. This module lists every such code once
(:data:`CODES`, with a sentence for an integrator: when it happens, what to do), the
codes any command or query may get from the shared runtime (:data:`COMMON_COMMAND_CODES`,
:data:`COMMON_QUERY_CODES`), and the codes each command's and each query's own handler
can answer besides (:data:`COMMAND_CODES`, :data:`QUERY_CODES`); :func:`codes_of` gives
the whole set of one message type. The services check every rejection they answer
against it (``shared.runtime.contract_checks``).

``retryable`` is the ``retryable`` flag of a command's result: the same idempotency key
may succeed later. It is True in :data:`CODES` only when the code is retryable wherever
it is answered; a code retryable for some commands only is listed in
:data:`RETRYABLE_FOR` (ask :func:`is_retryable`). A ``QueryFailed`` carries no flag (a
query changes nothing and may always be asked again), so a code answered only by
queries is not retryable here.

Pure: the standard library and ``contracts`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.results import RejectionCode


@dataclass(frozen=True)
class Rejection:
    code: str
    retryable: bool
    sentence: str
    """One plain sentence for an integrator: when it happens and what to do."""


def _codes(*rejections: Rejection) -> dict[str, Rejection]:
    codes: dict[str, Rejection] = {}
    for rejection in rejections:
        if rejection.code in codes:
            raise ValueError(f"rejection code {rejection.code!r} is listed twice")
        codes[rejection.code] = rejection
    return codes


INTERNAL_ERROR = "internal_error"
INVALID_QUERY = "invalid_query"
REPLY_TOO_LARGE = "reply_too_large"

CODES: dict[str, Rejection] = _codes(
    # --- the shared runtime: claims, envelopes, payloads, idempotency, bounds, bugs ----------
    Rejection(
        RejectionCode.UNAUTHENTICATED.value,
        False,
        "No good actor claim vouches for the envelope's actor (none, an unknown signer, a "
        "bad signature, a claim for other bytes or another actor, too old); sign the exact "
        "bytes you send, for that actor, and send it again.",
    ),
    Rejection(
        RejectionCode.FORBIDDEN.value,
        False,
        "The actor may not do this (a customer acting on what is not theirs, or a step that "
        "needs an admin or a service), or the claim's signer may not speak for that kind of "
        "actor; send it as an actor that may.",
    ),
    Rejection(
        RejectionCode.IDEMPOTENCY_KEY_REUSED.value,
        False,
        "This actor already used the idempotency key for another command or payload; use a "
        "new key for a new command, or resend the first one unchanged to get its result.",
    ),
    Rejection(
        RejectionCode.INVALID_COMMAND.value,
        False,
        "The payload does not validate against the command's schema, or its type or schema "
        "version is unknown (the reason names the fields); fix the message and send it again.",
    ),
    Rejection(
        RejectionCode.INVALID_ENVELOPE.value,
        False,
        "The envelope itself is wrong (a time without a zone, an actor that is not one, a "
        "bad id, U+0000 in a field); fix the envelope and send the message again.",
    ),
    Rejection(
        RejectionCode.CODE_NOT_SEALED.value,
        False,
        "A store-credit code came in clear in `code`; seal it for the store-credit service "
        "as the sending actor and send it as `sealed_code` (README: Sealed codes).",
    ),
    Rejection(
        RejectionCode.MESSAGE_TOO_LARGE.value,
        False,
        "What the command would publish is more than Kafka takes in one record; send less "
        "(shorter texts, fewer references, less metadata).",
    ),
    Rejection(
        INTERNAL_ERROR,
        False,
        "The service failed to handle the message (a bug) and parked it for an operator; do "
        "not retry in a loop, report it with its correlation id.",
    ),
    Rejection(
        INVALID_QUERY,
        False,
        "The query could not be read (its envelope or payload does not validate, or its "
        "type is unknown; the reason says which); fix it and ask again.",
    ),
    Rejection(
        REPLY_TOO_LARGE,
        False,
        "The answer is more than Kafka takes in one record; ask for a smaller page.",
    ),
    # --- codes answered by more than one service -------------------------------------------
    Rejection(
        "account_not_found",
        False,
        "The account is not there or is not the asker's: from the ledger or the "
        "store-credit service that is final (check the id), while from the order service "
        "the copy of the point account has not arrived yet and the same key may be retried "
        "shortly (retryable there).",
    ),
    Rejection(
        "transaction_not_found",
        False,
        "The point transaction is not known: from the ledger the account has no such "
        "transaction (check the ids), while from the order service its copy has not arrived "
        "from the ledger yet (or it is another customer's) and the same key may be retried "
        "shortly (retryable there).",
    ),
    Rejection(
        "account_exists",
        False,
        "An account with this id already exists (in the ledger: with other terms, or "
        "closed); choose another id, or resend the ledger the same terms to be told "
        "`already_open`.",
    ),
    Rejection(
        "account_closed",
        False,
        "The account (a ledger account or a point account) is closed, so nothing more is "
        "posted to or changed on it; use another account.",
    ),
    Rejection(
        "account_not_empty",
        False,
        "Only an account whose balance and holds are both zero can be closed; spend, "
        "reverse or void what is on it first.",
    ),
    Rejection(
        "reserved_account_id",
        False,
        "The account id has a shape the platform makes itself (`system:` in the ledger; "
        "`sc-`, `pa-` and 32 hex digits, or `system:` for a point account); choose another.",
    ),
    Rejection(
        "line_item_not_found",
        False,
        "The order (in the order service) or the checked-out order (in fulfillment) has no "
        "line item with this id; check the id.",
    ),
    # --- the ledger --------------------------------------------------------------------------
    Rejection(
        "transaction_exists",
        False,
        "A point transaction with the id to create already exists in the ledger; choose "
        "another id (to retry the same command, reuse its idempotency key instead).",
    ),
    Rejection(
        "invalid_amount",
        False,
        "The amount has the wrong sign for its kind, a partial commit is of another sign "
        "than or larger than the pending amount, or a balance would leave the 64-bit range; "
        "send a valid amount.",
    ),
    Rejection(
        "insufficient_funds",
        False,
        "What the account has available (balance less holds, down to its negative limit) "
        "does not cover the amount; ask for less, or credit the account first.",
    ),
    Rejection(
        "use_reverse_command",
        False,
        "A reversal is not created directly; send ReversePointTransaction instead.",
    ),
    Rejection(
        "not_pending",
        False,
        "The point transaction is no longer pending (committed or voided already), so it "
        "cannot be committed, voided, bound or replaced; read its state before acting.",
    ),
    Rejection(
        "not_committed",
        False,
        "Only a committed point transaction can be reversed; commit it first, or void it "
        "while it is pending.",
    ),
    Rejection(
        "hold_expired",
        False,
        "The pending transaction is past its `expires_at`, so it can no longer be "
        "committed, bound or replaced; create a new one.",
    ),
    Rejection(
        "invalid_expiry",
        False,
        "`expires_at` must be in the future; send a later time, or none.",
    ),
    Rejection(
        "not_reversible",
        False,
        "The transaction is itself a reversal and cannot be reversed; reverse the original, "
        "or post a new transaction.",
    ),
    Rejection(
        "reversal_exceeds_original",
        False,
        "The reversal asks for more than is left to reverse of the original (its reversals "
        "never add up to more than its committed amount); ask for at most the rest.",
    ),
    Rejection(
        "transaction_bound",
        False,
        "The point transaction is bound to an order, which alone may commit, void or "
        "replace it (and it is bound once, to one order); act for that order, with its "
        "`order_id`, or leave it alone.",
    ),
    Rejection(
        "not_a_hold",
        False,
        "Only a pending spend (a negative amount) is bound to an order or replaced, and "
        "only by another spend; use a pending spend.",
    ),
    Rejection(
        "invalid_cursor",
        False,
        "The history cursor is not one this ledger gave out; ask again without a cursor.",
    ),
    # --- the store-credit service ------------------------------------------------------------
    Rejection(
        "template_exists",
        False,
        "A point-account template with this id already exists; choose another id, or "
        "change it with UpdatePointAccountTemplate.",
    ),
    Rejection(
        "template_not_found",
        False,
        "There is no point-account template with this id; check the id, or create it first.",
    ),
    Rejection(
        "account_limit_reached",
        False,
        "The customer already has as many point accounts as allowed; close one first, or "
        "have the limit raised.",
    ),
    Rejection(
        "managed_by_template",
        False,
        "The point account's name and exchange rates come from its template; change the "
        "template instead.",
    ),
    Rejection(
        "store_credit_exists",
        False,
        "A store credit with this id already exists; choose another id.",
    ),
    Rejection(
        "code_taken",
        False,
        "Another store credit already has this code; choose another code, or let one be generated.",
    ),
    Rejection(
        "external_id_taken",
        False,
        "Another store credit already has this external id; choose another.",
    ),
    Rejection(
        "invalid_code",
        False,
        "The code given is not twelve to nineteen digits (spaces and dashes allowed between "
        "them); send a valid code, or let one be generated.",
    ),
    Rejection(
        "invalid_sealed_code",
        False,
        "The sealed code does not open with the store-credit service's key, or was sealed "
        "by another actor than the one it comes from; seal it again, as that actor.",
    ),
    Rejection(
        "store_credit_not_found",
        False,
        "No store credit matches what was given, or it is another customer's (answered "
        "alike); check the code, token or id, knowing that every wrong code or token counts "
        "toward a lock-out.",
    ),
    Rejection(
        "locked_out",
        False,
        "Too many wrong codes or tokens were tried for this customer, order, asker, client "
        "or value (or by everyone together); wait for the lock-out to pass, then try again "
        "(a command with a new idempotency key).",
    ),
    Rejection(
        "amount_not_above_balance",
        False,
        "A store credit's amount may only be raised, above its current balance; send a "
        "larger amount.",
    ),
    Rejection(
        "balance_not_known",
        True,
        "The ledger has not yet reported the store credit's balance with its latest credit; "
        "retry with the same idempotency key shortly.",
    ),
    Rejection(
        "invalid_dates",
        False,
        "The expiry date must be after the active date; send the dates in that order.",
    ),
    Rejection(
        "no_balance",
        False,
        "Nothing is left on the store credit; use another one.",
    ),
    Rejection(
        "disabled",
        False,
        "The store credit is disabled and cannot pay; use another one, or have it enabled.",
    ),
    Rejection(
        "not_yet_active",
        False,
        "The store credit's active date has not come yet; apply it once it has (the same "
        "idempotency key keeps this answer, so use a new one).",
    ),
    Rejection(
        "expired",
        False,
        "The store credit has expired and cannot pay; use another one.",
    ),
    Rejection(
        "currency_mismatch",
        False,
        "The store credit is in another currency than the order; use one in the order's currency.",
    ),
    Rejection(
        "other_customer",
        False,
        "The store credit belongs to another customer (such a credit is normally answered "
        "`store_credit_not_found`); use one of the customer's own.",
    ),
    # --- the order service -------------------------------------------------------------------
    Rejection(
        "order_exists",
        False,
        "An order with this id already exists; choose another id.",
    ),
    Rejection(
        "fulfillment_not_found",
        False,
        "The order has no fulfillment (it is not checked out yet), or it is another "
        "customer's (answered alike); ask again after its OrderCheckedOut.",
    ),
    Rejection(
        "order_not_found",
        False,
        "There is no such order, or it is another customer's (answered alike); check the order id.",
    ),
    Rejection(
        "order_not_open",
        False,
        "The order is no longer open (checking out, checked out, cancelled or abandoned), "
        "so it does not change; start a new order, or wait for a failed checkout to reopen "
        "it.",
    ),
    Rejection(
        "order_not_checked_out",
        False,
        "A payment status is reported only for a checked-out order; wait for its OrderCheckedOut.",
    ),
    Rejection(
        "cart_expired",
        False,
        "The cart has expired (at checkout: it would within the checkout margin), so it no "
        "longer changes and its holds are released; start a new order.",
    ),
    Rejection(
        "line_item_exists",
        False,
        "The order already has a line item with this id; choose another.",
    ),
    Rejection(
        "account_not_usable",
        False,
        "The point account is not active, or is another customer's; use an active account "
        "of the order's customer.",
    ),
    Rejection(
        "no_exchange_rate",
        False,
        "The point account has no exchange rate for the order's currency; add one to the "
        "account or its template, or pay another way.",
    ),
    Rejection(
        "transaction_not_pending",
        False,
        "The point transaction paying the order is no longer pending (committed or "
        "voided); remove its line item, or pay with a new pending spend.",
    ),
    Rejection(
        "transaction_already_targeted",
        False,
        "This point transaction already paid for an order (each pays for one order, once); "
        "create a new pending spend.",
    ),
    Rejection(
        "not_a_spend",
        False,
        "Only a pending spend (a negative amount) pays for an order; create a spend.",
    ),
    Rejection(
        "transaction_expires_too_soon",
        False,
        "The pending transaction expires before the checkout margin has passed; create one "
        "that lasts longer.",
    ),
    Rejection(
        "application_exists",
        False,
        "The order already has a store-credit application with this id; choose another.",
    ),
    Rejection(
        "application_not_found",
        False,
        "The order has no store-credit application with this id; check the id.",
    ),
    Rejection(
        "nothing_due",
        False,
        "Nothing is left to pay on the order, so no more store credit is applied.",
    ),
    Rejection(
        "store_credit_pending",
        True,
        "A store credit is still being applied or resized on the order; retry with the same "
        "idempotency key once it is held or refused.",
    ),
    Rejection(
        "too_many_line_items",
        False,
        "The order already holds as many line items as an order may; remove one first, or "
        "open another order.",
    ),
    Rejection(
        "too_many_store_credits",
        False,
        "The order already has as many store-credit applications as an order may (refused "
        "and removed ones count); no more can be applied.",
    ),
    Rejection(
        "amount_too_large",
        False,
        "A line's amount, the points it moves or the order's total would pass the "
        "platform's bound on amounts; use a smaller quantity or price.",
    ),
    Rejection(
        "negative_total",
        False,
        "Points pay for more than the order costs; remove some point line items.",
    ),
    Rejection(
        "payment_exceeds_amount_due",
        False,
        "The external payment is more than the amount due; report a smaller payment.",
    ),
    Rejection(
        "amount_not_covered",
        False,
        "Store credit and the payment do not cover the amount due, and not every applied "
        "credit allows a balance owing; add a payment, or apply more store credit.",
    ),
    # --- the fulfillment service ---------------------------------------------------------------
    Rejection(
        "order_not_known",
        True,
        "Fulfillment has not received the order's OrderCheckedOut yet; retry with the same "
        "idempotency key shortly.",
    ),
    Rejection(
        "fulfillment_item_not_found",
        False,
        "The order has no fulfillment item with this id; take the id from its Fulfillment event.",
    ),
    Rejection(
        "not_a_manual_item",
        False,
        "This item is fulfilled automatically, through the ledger; only manual items are "
        "fulfilled with FulfillItem.",
    ),
    Rejection(
        "item_not_failed",
        False,
        "Only a failed fulfillment item is retried, and this one has not failed.",
    ),
    Rejection(
        "return_exists",
        False,
        "The order already has a return with this return id (whatever its quantity); "
        "choose another id.",
    ),
    Rejection(
        "return_exceeds_quantity",
        False,
        "More units would be returned than the line item has left to return; return fewer.",
    ),
    Rejection(
        "too_many_returns",
        False,
        "The order already has as many returns as an order may take; no more are recorded.",
    ),
    Rejection(
        "item_not_fulfilled",
        True,
        "The line item, or the points it earned, is not fulfilled yet, so it is not "
        "returned; retry with the same idempotency key once it is.",
    ),
    Rejection(
        "payment_not_captured",
        True,
        "The order's payment is still being captured (an item is being committed); retry "
        "with the same idempotency key shortly.",
    ),
    Rejection(
        "payment_failed",
        False,
        "The order's payment could not be captured, so nothing of it is given until an "
        "operator retries the failed items (RetryFulfillmentItem) or cancels the "
        "fulfillment (CancelFulfillment).",
    ),
    Rejection(
        "payment_not_failed",
        False,
        "Only a fulfillment whose payment failed is cancelled; a captured order's items are "
        "returned instead (ReturnItem).",
    ),
    Rejection(
        "fulfillment_cancelled",
        False,
        "The order's fulfillment was cancelled; nothing of it is fulfilled, retried or "
        "returned any more.",
    ),
)
"""Every code any command or query can answer, once."""


COMMON_COMMAND_CODES: frozenset[str] = frozenset(
    {
        RejectionCode.UNAUTHENTICATED.value,  # actor claims (shared.runtime.claims)
        RejectionCode.FORBIDDEN.value,  # claims, and many handlers' own checks
        RejectionCode.INVALID_ENVELOPE.value,  # decoding (shared.runtime.codec)
        RejectionCode.INVALID_COMMAND.value,  # unknown type or version, bad payload
        RejectionCode.IDEMPOTENCY_KEY_REUSED.value,  # the inbox
        RejectionCode.MESSAGE_TOO_LARGE.value,  # the outbox (what a handler would publish)
        INTERNAL_ERROR,  # a handler that failed (shared.runtime.command_consumer)
    }
)
"""What any command may be answered by the shared runtime, whatever its handler does
(``code_not_sealed`` is only for a command with a sealed field: see its own codes)."""

COMMON_QUERY_CODES: frozenset[str] = frozenset(
    {
        RejectionCode.UNAUTHENTICATED.value,
        RejectionCode.FORBIDDEN.value,  # claims, and handlers' own checks
        INVALID_QUERY,  # what does not decode (shared.runtime.queries)
        INTERNAL_ERROR,  # a handler that failed
        REPLY_TOO_LARGE,  # an answer larger than a Kafka record
    }
)
"""What any query may be answered by the shared runtime (``code_not_sealed``: see
:data:`QUERY_CODES`)."""

_SEALED = RejectionCode.CODE_NOT_SEALED.value

COMMAND_CODES: dict[str, frozenset[str]] = {
    # --- the ledger (services/ledger/handlers.py; the batch path raises the same) ----------
    "OpenLedgerAccount": frozenset({"reserved_account_id", "account_exists"}),
    "CloseLedgerAccount": frozenset({"account_not_found", "account_not_empty"}),
    "CreatePointTransaction": frozenset(
        {
            "use_reverse_command",
            "invalid_amount",
            "account_not_found",
            "account_closed",
            "transaction_exists",
            "invalid_expiry",
            "insufficient_funds",
        }
    ),
    "CommitPointTransaction": frozenset(
        {
            "account_not_found",
            "transaction_not_found",
            "transaction_bound",
            "not_pending",
            "hold_expired",
            "invalid_amount",
        }
    ),
    "VoidPointTransaction": frozenset(
        {"account_not_found", "transaction_not_found", "transaction_bound", "not_pending"}
    ),
    "BindPointTransaction": frozenset(
        {
            "account_not_found",
            "transaction_not_found",
            "transaction_bound",
            "not_pending",
            "not_a_hold",
            "hold_expired",
        }
    ),
    "ReplacePointTransaction": frozenset(
        {
            "account_not_found",
            "account_closed",
            "transaction_not_found",
            "transaction_bound",
            "transaction_exists",
            "not_pending",
            "not_a_hold",
            "hold_expired",
            "invalid_expiry",
            "invalid_amount",
            "insufficient_funds",
        }
    ),
    "ReversePointTransaction": frozenset(
        {
            "account_not_found",
            "account_closed",
            "transaction_not_found",
            "transaction_exists",
            "not_committed",
            "not_reversible",
            "reversal_exceeds_original",
            "invalid_amount",
            "insufficient_funds",
        }
    ),
    # --- the store-credit service --------------------------------------------------------------
    "CreatePointAccountTemplate": frozenset({"template_exists"}),
    "UpdatePointAccountTemplate": frozenset({"template_not_found"}),
    "CreatePointAccount": frozenset(
        {"reserved_account_id", "account_limit_reached", "account_exists"}
    ),
    "UpdatePointAccount": frozenset(
        {"account_not_found", "account_closed", "managed_by_template", "account_not_empty"}
    ),
    "CreateStoreCredit": frozenset(
        {
            _SEALED,
            "invalid_sealed_code",
            "invalid_code",
            "store_credit_exists",
            "code_taken",
            "external_id_taken",
        }
    ),
    "UpdateStoreCredit": frozenset(
        {
            "store_credit_not_found",
            "invalid_dates",
            "external_id_taken",
            "balance_not_known",
            "amount_not_above_balance",
        }
    ),
    "AuthorizeStoreCredit": frozenset(
        {
            "store_credit_not_found",
            "locked_out",
            "invalid_sealed_code",
            # authorization.UNUSABLE_REASONS, raised as Rejected(code, reason):
            "disabled",
            "not_yet_active",
            "expired",
            "currency_mismatch",
            "other_customer",
            "balance_not_known",
            "no_balance",
        }
    ),
    # --- the order service ---------------------------------------------------------------------
    "CreateOrder": frozenset({"order_exists"}),
    "AddProductLineItem": frozenset(
        {
            "order_not_found",
            "order_not_open",
            "cart_expired",
            "account_not_found",
            "amount_too_large",
            "line_item_exists",
            "too_many_line_items",
        }
    ),
    "AddDepositLineItem": frozenset(
        {
            "order_not_found",
            "order_not_open",
            "cart_expired",
            "account_not_found",
            "account_not_usable",
            "amount_too_large",
            "line_item_exists",
            "too_many_line_items",
        }
    ),
    "AddPointTransactionLineItem": frozenset(
        {
            "order_not_found",
            "order_not_open",
            "cart_expired",
            "transaction_not_found",
            "not_a_spend",
            "account_not_found",
            "transaction_not_pending",
            "transaction_expires_too_soon",
            "account_not_usable",
            "no_exchange_rate",
            "amount_too_large",
            "transaction_already_targeted",
            "line_item_exists",
            "too_many_line_items",
        }
    ),
    "RemoveLineItem": frozenset(
        {"order_not_found", "order_not_open", "cart_expired", "line_item_not_found"}
    ),
    "SetOrderCharges": frozenset({"order_not_found", "order_not_open", "cart_expired"}),
    "CancelOrder": frozenset({"order_not_found", "order_not_open"}),
    "ApplyStoreCredit": frozenset(
        {
            _SEALED,
            "order_not_found",
            "order_not_open",
            "cart_expired",
            "application_exists",
            "too_many_store_credits",
            "nothing_due",
        }
    ),
    "RemoveStoreCredit": frozenset(
        {"order_not_found", "order_not_open", "cart_expired", "application_not_found"}
    ),
    "CheckoutOrder": frozenset(
        {
            "order_not_found",
            "order_not_open",
            "cart_expired",
            "transaction_not_pending",
            "transaction_expires_too_soon",
            "store_credit_pending",
            "negative_total",
            "payment_exceeds_amount_due",
            "amount_not_covered",
        }
    ),
    "SetOrderPaymentStatus": frozenset({"order_not_found", "order_not_checked_out"}),
    # --- the fulfillment service ---------------------------------------------------------------
    "FulfillItem": frozenset(
        {
            "order_not_known",
            "fulfillment_item_not_found",
            "not_a_manual_item",
            "payment_not_captured",
            "payment_failed",
            "fulfillment_cancelled",
        }
    ),
    "RetryFulfillmentItem": frozenset(
        {
            "order_not_known",
            "fulfillment_cancelled",
            "fulfillment_item_not_found",
            "item_not_failed",
        }
    ),
    "CancelFulfillment": frozenset(
        {"order_not_known", "payment_not_failed", "payment_not_captured"}
    ),
    "ReturnItem": frozenset(
        {
            "order_not_known",
            "fulfillment_cancelled",
            "return_exists",
            "too_many_returns",
            "line_item_not_found",
            "item_not_fulfilled",
            "return_exceeds_quantity",
        }
    ),
}
"""Per command type: the codes its handler (and whatever it calls) can answer, besides
:data:`COMMON_COMMAND_CODES`."""

QUERY_CODES: dict[str, frozenset[str]] = {
    # the ledger (services/ledger/queries.py)
    "GetAccountBalances": frozenset({"account_not_found"}),
    "GetTransactionHistory": frozenset({"invalid_cursor", "account_not_found"}),
    # the order service (services/order/queries.py)
    "GetOrder": frozenset({"order_not_found"}),
    # the fulfillment service (services/fulfillment/queries.py)
    "GetFulfillment": frozenset({"fulfillment_not_found"}),
    "ListFulfillmentProblems": frozenset(),
    # the store-credit service (accounts.py, credits.py)
    "ListCustomerAccounts": frozenset(),
    "ListPointAccountTemplates": frozenset(),
    "ListCustomerStoreCredits": frozenset(),
    "FindStoreCredit": frozenset(
        {_SEALED, "invalid_sealed_code", "locked_out", "store_credit_not_found"}
    ),
}
"""Per query type: the codes its handler can answer, besides :data:`COMMON_QUERY_CODES`."""

RETRYABLE_FOR: dict[str, frozenset[str]] = {
    # The order service answers these from its copies of other services' data, which may
    # not have arrived yet; the ledger and the store-credit service answer them for good.
    "account_not_found": frozenset(
        {"AddProductLineItem", "AddDepositLineItem", "AddPointTransactionLineItem"}
    ),
    "transaction_not_found": frozenset({"AddPointTransactionLineItem"}),
}
"""Codes retryable for some commands only (so not retryable in :data:`CODES`): the
command types whose result says ``"retryable": true`` with them."""


def codes_of(message_type: str) -> frozenset[str]:
    """Every code a command or query of ``message_type`` can be answered; KeyError for a
    type that is neither."""
    if message_type in COMMAND_CODES:
        return COMMON_COMMAND_CODES | COMMAND_CODES[message_type]
    if message_type in QUERY_CODES:
        return COMMON_QUERY_CODES | QUERY_CODES[message_type]
    raise KeyError(message_type)


def is_retryable(message_type: str, code: str) -> bool:
    """Whether a rejection ``code`` of a ``message_type`` command says ``"retryable": true``."""
    return CODES[code].retryable or message_type in RETRYABLE_FOR.get(code, frozenset())
