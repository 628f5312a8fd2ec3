"""Store-credit rules for ids: a directly created account never takes the shape of an
id the platform makes, so ledger account ids never collide across owners."""

from __future__ import annotations

import pytest

from services.store_credit import domain
from services.store_credit.accounts import template_account_id
from services.store_credit.credits import ledger_account_id


@pytest.mark.parametrize(
    "taken",
    [
        ledger_account_id("sc-1"),
        "sc-anything",
        template_account_id("cust-1", "tpl-1"),
        "system:issuance:USD",
    ],
)
def test_generated_shapes_are_reserved(taken: str) -> None:
    with pytest.raises(domain.ReservedAccountId):
        domain.check_direct_account_id(taken)


@pytest.mark.parametrize("free", ["pa-ada-goodwill", "acct-1", "pa-" + "f" * 31, "scx-1"])
def test_other_ids_are_free(free: str) -> None:
    domain.check_direct_account_id(free)
