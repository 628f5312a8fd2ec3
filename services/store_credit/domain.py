"""Store-credit rules for templates and point accounts. Pure: no Kafka, no SQL."""

from __future__ import annotations

import re
from datetime import datetime

from contracts.envelope import Actor, ActorKind
from contracts.store_credit import PointAccountStatus, TemplateStatus
from shared.runtime.rules import BrokenRule


class StoreCreditError(BrokenRule):
    """A broken store-credit rule; it becomes a rejected result with its code."""

    code = "store_credit_error"


class Forbidden(StoreCreditError):
    code = "forbidden"


class TemplateExists(StoreCreditError):
    code = "template_exists"


class TemplateNotFound(StoreCreditError):
    code = "template_not_found"


class AccountExists(StoreCreditError):
    code = "account_exists"


class AccountNotFound(StoreCreditError):
    code = "account_not_found"


class ReservedAccountId(StoreCreditError):
    code = "reserved_account_id"


_GENERATED_IDS = re.compile(r"^(sc-|system:|pa-[0-9a-f]{32}$)")
"""Ledger account ids made here or by the ledger: a store credit's (``sc-``), a template
account's (``pa-`` and 32 hex digits) and the ledger's own (``system:``)."""


def check_direct_account_id(account_id: str) -> None:
    """A directly created account may not take an id of the shape this service or the
    ledger makes: ledger account ids never collide across owners, whatever is asked."""
    if _GENERATED_IDS.match(account_id):
        raise ReservedAccountId(
            f"{account_id!r} has the shape of an id the platform makes (sc-..., pa- and 32 "
            "hex digits, system:...); choose another."
        )


class AccountLimitReached(StoreCreditError):
    code = "account_limit_reached"


class ManagedByTemplate(StoreCreditError):
    code = "managed_by_template"


class AccountClosed(StoreCreditError):
    code = "account_closed"


class AccountNotEmpty(StoreCreditError):
    code = "account_not_empty"


ADMINS = frozenset({ActorKind.ADMIN, ActorKind.SYSTEM})


def check_admin(actor: Actor, action: str) -> None:
    if actor.kind not in ADMINS:
        raise Forbidden(f"Only an admin may {action}.")


def account_status_for(template_status: TemplateStatus) -> PointAccountStatus:
    """An inactive template suspends its accounts; an active one makes them active."""
    if template_status is TemplateStatus.ACTIVE:
        return PointAccountStatus.ACTIVE
    return PointAccountStatus.SUSPENDED


def limit_reached(open_accounts: int, limit: int) -> AccountLimitReached:
    return AccountLimitReached(
        f"The customer already has {open_accounts} point accounts; at most {limit} are "
        "allowed. Close one first, or ask for a higher limit."
    )


def check_direct_change(template_id: str | None, changes_terms: bool) -> None:
    if template_id is not None and changes_terms:
        raise ManagedByTemplate(
            f"This account's name and exchange rates come from template {template_id}; "
            "change the template instead."
        )


def check_closable(balance: int | None, holds: int | None) -> None:
    if balance != 0 or holds != 0:
        raise AccountNotEmpty(
            "Only an account whose balance and holds are zero can be closed "
            f"(balance {balance}, holds {holds})."
        )


class StoreCreditExists(StoreCreditError):
    code = "store_credit_exists"


class CodeTaken(StoreCreditError):
    code = "code_taken"


class ExternalIdTaken(StoreCreditError):
    code = "external_id_taken"


class InvalidCode(StoreCreditError):
    code = "invalid_code"


class StoreCreditNotFound(StoreCreditError):
    code = "store_credit_not_found"


class AmountNotAboveBalance(StoreCreditError):
    code = "amount_not_above_balance"


class BalanceNotKnown(StoreCreditError):
    code = "balance_not_known"
    retryable = True


class LockedOut(StoreCreditError):
    code = "locked_out"


class InvalidSealedCode(StoreCreditError):
    code = "invalid_sealed_code"


class NoBalance(StoreCreditError):
    code = "no_balance"


class InvalidDates(StoreCreditError):
    code = "invalid_dates"


ISSUERS = frozenset({ActorKind.ADMIN, ActorKind.SERVICE, ActorKind.SYSTEM})


def check_may_issue(actor: Actor) -> None:
    if actor.kind not in ISSUERS:
        raise Forbidden("Only an admin or a service may issue store credit.")


def check_dates(active_date: datetime | None, expiry_date: datetime | None) -> None:
    if active_date is not None and expiry_date is not None and expiry_date <= active_date:
        raise InvalidDates("The expiry date must be after the active date.")


def top_up(new_amount: int, balance: int | None) -> int:
    """What raising the amount credits: the new amount minus the current balance.

    The seed: the amount may only be set higher than the current balance.
    """
    if balance is None:
        raise BalanceNotKnown(
            "The ledger has not yet reported this store credit's balance with its latest "
            "credit; try again shortly."
        )
    if new_amount <= balance:
        raise AmountNotAboveBalance(
            f"The amount may only be set above the current balance ({balance}); "
            f"{new_amount} was asked."
        )
    return new_amount - balance


def unusable_reason(
    *,
    disabled: bool,
    active_date: datetime | None,
    expiry_date: datetime | None,
    currency: str,
    owner: str | None,
    now: datetime,
    for_currency: str | None,
    for_customer: str | None,
) -> str | None:
    """Why a store credit cannot pay (a code), or None when it can."""
    if disabled:
        return "disabled"
    if active_date is not None and now < active_date:
        return "not_yet_active"
    if expiry_date is not None and now >= expiry_date:
        return "expired"
    if for_currency is not None and for_currency != currency:
        return "currency_mismatch"
    if owner is not None and for_customer is not None and owner != for_customer:
        return "other_customer"
    return None
