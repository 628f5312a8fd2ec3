"""The ledger's batch state: a rejected command's changes are undone to its mark."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contracts.envelope import Actor, ActorKind, Message, new_envelope
from contracts.ledger import (
    CommitPointTransaction,
    CreatePointTransaction,
    PointTransactionKind,
    PointTransactionStatus,
    ReversePointTransaction,
    VoidPointTransaction,
)
from services.ledger.batch import (
    LedgerBatch,
    TransactionChange,
    account_ids,
    named_transactions,
    new_transaction_ids,
)
from services.ledger.domain import Account, Transaction
from shared.runtime.codec import Incoming, decode, encode


async def _never_flushed(*_: object) -> None:
    raise AssertionError("not flushed in these tests")


def _account(account_id: str, balance: int = 0) -> Account:
    return Account(account_id, "points", None, False, None, "open", balance, 0, 0)


def test_undo_restores_accounts_and_forgets_what_the_rejected_command_added() -> None:
    batch = LedgerBatch(flush_with=_never_flushed)
    kept = _account("a", 100)
    batch.accounts["a"] = kept
    batch.deferring = True
    batch.remember(replace(kept, balance=150, version=1), changed=True)
    batch.created_transaction("tx-1")
    batch.transactions.append({"id": "tx-1"})
    batch.postings.extend([{"amount": 50}, {"amount": -50}])
    batch.system_account("system:deposits", "points")
    after_first = (dict(batch.accounts), dict(batch.changed), set(batch.created))

    mark = batch.mark()
    batch.remember(replace(kept, balance=90, version=2), changed=True)
    batch.remember(_account("b"), changed=False)  # locked inside the rejected command
    batch.created_transaction("tx-2")
    batch.transactions.append({"id": "tx-2"})
    batch.postings.extend([{"amount": -60}, {"amount": 60}])
    batch.system_account("system:spends", "points")
    batch.undo(mark)

    assert (dict(batch.accounts), dict(batch.changed), set(batch.created)) == after_first
    assert batch.transactions == [{"id": "tx-1"}]
    assert batch.postings == [{"amount": 50}, {"amount": -50}]
    assert batch.system_accounts == {"system:deposits": "points"}
    assert batch.exists("tx-2") is None and batch.exists("tx-1") is True


def test_a_transaction_looked_up_before_the_batch_is_answered_without_a_query() -> None:
    batch = LedgerBatch(flush_with=_never_flushed, looked_up={"old", "new"}, existing={"old"})
    assert (batch.exists("old"), batch.exists("new"), batch.exists("other")) == (True, False, None)


def _incoming(payload: Message) -> Incoming[Any]:
    envelope = new_envelope(payload, actor=Actor(kind=ActorKind.ADMIN, id="test"))
    return decode(encode(envelope), KNOWN)


KNOWN: dict[str, type[Message]] = {
    "CreatePointTransaction": CreatePointTransaction,
    "ReversePointTransaction": ReversePointTransaction,
    "CommitPointTransaction": CommitPointTransaction,
    "VoidPointTransaction": VoidPointTransaction,
}


def test_a_batch_locks_its_accounts_in_one_order_and_looks_up_what_it_creates() -> None:
    deposit = PointTransactionKind.DEPOSIT
    commands = [
        _incoming(
            CreatePointTransaction(account_id="z", transaction_id="t1", amount=5, kind=deposit)
        ),
        _incoming(
            ReversePointTransaction(
                account_id="a", transaction_id="t0", reversal_transaction_id="r1"
            )
        ),
        _incoming(
            CreatePointTransaction(account_id="m", transaction_id="t2", amount=5, kind=deposit)
        ),
    ]
    assert account_ids(commands) == ["a", "m", "z"]
    assert new_transaction_ids(commands) == {"t1", "t2", "r1"}


def _hold(transaction_id: str, account_id: str = "a") -> Transaction:
    status = PointTransactionStatus.PENDING
    return Transaction(
        transaction_id, account_id, "points", -5, PointTransactionKind.SPEND, status,
        None, 0, None, None, {},
    )  # fmt: skip


def test_undo_restores_a_transaction_and_what_its_row_still_needed() -> None:
    batch = LedgerBatch(flush_with=_never_flushed, sought={"h", "gone"})
    batch.held["h"] = hold = _hold("h")
    committed = replace(hold, status=PointTransactionStatus.COMMITTED, committed_amount=-5)
    batch.hold_transaction(committed, TransactionChange(committed=True))

    mark = batch.mark()
    voided = replace(hold, status=PointTransactionStatus.VOIDED)
    batch.hold_transaction(voided, TransactionChange(voided=True, void_reason="requested"))
    batch.hold_transaction(_hold("new"), TransactionChange())
    assert batch.altered["h"] == TransactionChange(True, True, "requested")
    batch.undo(mark)

    assert batch.held == {"h": committed}
    assert batch.altered == {"h": TransactionChange(committed=True)}


def test_a_transaction_is_answered_only_for_its_own_account() -> None:
    batch = LedgerBatch(flush_with=_never_flushed, sought={"h", "gone"}, held={"h": _hold("h")})
    assert batch.transaction("a", "h") == _hold("h")
    assert batch.transaction("b", "h") is None  # another account's: not found, as in SQL
    assert batch.transaction("a", "gone") is None  # sought before the batch, not there
    assert batch.transaction("a", "other") is False  # the batch cannot tell


def test_a_batch_locks_the_transactions_its_commands_name_in_one_order() -> None:
    commands = [
        _incoming(CommitPointTransaction(account_id="b", transaction_id="t9")),
        _incoming(VoidPointTransaction(account_id="a", transaction_id="t1")),
        _incoming(CommitPointTransaction(account_id="b", transaction_id="t9")),
        _incoming(ReversePointTransaction(account_id="c", transaction_id="t5",
                                          reversal_transaction_id="r1")),
        _incoming(CreatePointTransaction(account_id="z", transaction_id="t2", amount=5,
                                         kind=PointTransactionKind.DEPOSIT)),
    ]  # fmt: skip
    assert named_transactions(commands) == [("t1", "a"), ("t5", "c"), ("t9", "b")]
