"""Play every seed story in order against a running platform."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.store_credit import TemplateStatus, UpdatePointAccountTemplate
from shared.tools.demo import credit_stories, point_stories
from shared.tools.demo.cast import ADMIN, Cast
from shared.tools.demo.narration import Narrator
from shared.tools.demo.steps import accepted
from shared.tools.platform_client import Platform


@dataclass(frozen=True)
class Played:
    """What every story left, for a test to check."""

    accounts: point_stories.Accounts
    deposit: point_stories.Deposit
    spend: point_stories.Spend
    refund: point_stories.Refund
    credit_orders: credit_stories.CreditOrders
    raised: credit_stories.Raise
    refusals: credit_stories.Refusals


async def play_all(platform: Platform, say: Narrator, cast: Cast) -> Played:
    platform.correlation_id = cast.id("demo")
    accounts = await point_stories.templates_give_accounts(platform, say, cast)
    deposit = await point_stories.admin_deposit(platform, say, cast, accounts)
    spend = await point_stories.spend_points_at_checkout(platform, say, cast, accounts)
    refund = await point_stories.return_gives_points_back(platform, say, cast, accounts, spend)
    credit_orders = await credit_stories.credits_pay_orders(platform, say, cast)
    second_account = credit_orders.paid_by_credits["applied_credits"][1]["ledger_account_id"]
    raised = await credit_stories.amount_raise_rule(
        platform, say, cast, credit_orders.second, second_account
    )
    refusals = await credit_stories.unusable_credits_refused(platform, say, cast)
    return Played(accounts, deposit, spend, refund, credit_orders, raised, refusals)


async def retire_templates(platform: Platform, accounts: point_stories.Accounts) -> None:
    """Make the run's templates inactive, so customers created later (by the next run, or
    by anyone using the same system) do not get accounts from them."""
    for template_id in (accounts.loyalty_template, accounts.wallet_template):
        retire = UpdatePointAccountTemplate(template_id=template_id, status=TemplateStatus.INACTIVE)
        accepted(await platform.do(template_id, retire, ADMIN))
