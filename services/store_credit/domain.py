"""Store-credit rules for templates and point accounts. Pure: no Kafka, no SQL."""

from __future__ import annotations

from contracts.envelope import Actor, ActorKind
from contracts.store_credit import PointAccountStatus, TemplateStatus


class StoreCreditError(Exception):
    code = "store_credit_error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
