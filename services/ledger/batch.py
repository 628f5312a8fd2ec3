"""The ledger's state for one batch of commands handled in one transaction.

Before the first command, every customer account the batch names is locked in one
statement (in id order, so two batches never wait on each other in a cycle), the
point transactions its commands name on those accounts are locked in one (after
their accounts: the handlers' lock order), and the point-transaction ids it would
create are looked up in one. Handlers then read accounts and transactions from
here, and a deferrable handler (every one that posts: create, commit, void, bind,
replace, reverse) writes only here: new transaction rows, postings, the changes of
existing transactions and the accounts' new balances are written with everyone
else's at the end, one statement per table. A handler that is not deferrable (open,
close) runs after a flush and writes its own SQL, as outside a batch; the accounts it
changes are kept here too, so the next handler sees them. Such a handler's
writes to transactions are kept here as well.

A rejected command's changes are undone to the mark taken before it (and an account
first locked inside its savepoint is forgotten: rolling back to the savepoint
released that lock).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain import Account, Transaction
from shared.runtime.codec import Incoming
from shared.runtime.commands import HandlerContext

V = TypeVar("V")


@dataclass(frozen=True)
class TransactionChange:
    """What a flush writes to a transaction row besides its state in ``held``: whether
    it was committed or voided in this batch (those take the database's ``now()``)."""

    committed: bool = False
    voided: bool = False
    void_reason: str | None = None


@dataclass
class _Mark:
    transactions: int
    postings: int
    log: int


@dataclass
class LedgerBatch:
    """The batch's state; ``db.flush_batch`` writes it (this module holds no SQL)."""

    flush_with: Callable[[AsyncSession, LedgerBatch], Awaitable[None]]
    deferring: bool = False
    accounts: dict[str, Account] = field(default_factory=dict)
    """Customer accounts locked by this transaction, as they are now."""
    looked_up: set[str] = field(default_factory=set)
    """Transaction ids looked up before the batch; ``existing`` are those found."""
    existing: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    """Transaction ids this batch created (written yet or not)."""
    transactions: list[dict[str, Any]] = field(default_factory=list)
    postings: list[dict[str, Any]] = field(default_factory=list)
    system_accounts: dict[str, str] = field(default_factory=dict)
    changed: dict[str, Account] = field(default_factory=dict)
    """Accounts whose new balances are not written yet."""
    held: dict[str, Transaction] = field(default_factory=dict)
    """Point transactions locked (or created) by this transaction, as they are now."""
    sought: set[str] = field(default_factory=set)
    """Transaction ids whose rows were locked before the batch (those found are in
    ``held``)."""
    altered: dict[str, TransactionChange] = field(default_factory=dict)
    """Existing or new transactions whose changes are not written yet."""
    _log: list[tuple[str, str, Any, Any]] = field(default_factory=list)

    def mark(self) -> object:
        return _Mark(len(self.transactions), len(self.postings), len(self._log))

    def undo(self, mark: object) -> None:
        assert isinstance(mark, _Mark)
        del self.transactions[mark.transactions :]
        del self.postings[mark.postings :]
        while len(self._log) > mark.log:
            what, key, before, changed_before = self._log.pop()
            if what == "account":
                _restore(self.accounts, key, before)
                _restore(self.changed, key, changed_before)
            elif what == "created":
                self.created.discard(key)
            elif what == "system":
                self.system_accounts.pop(key, None)
            elif what == "transaction":
                _restore(self.held, key, before)
                _restore(self.altered, key, changed_before)

    def remember(self, account: Account, *, changed: bool) -> None:
        """The account as it is now (``changed``: its balances are still to be written)."""
        key = account.account_id
        self._log.append(("account", key, self.accounts.get(key), self.changed.get(key)))
        self.accounts[key] = account
        if changed:
            self.changed[key] = account

    def transaction(self, account_id: str, transaction_id: str) -> Transaction | bool | None:
        """The account's transaction as this batch holds it; None when the batch knows
        the account has none of that id; False when the batch cannot tell."""
        if (held := self.held.get(transaction_id)) is not None:
            return held if held.account_id == account_id else None
        if transaction_id in self.sought:
            return None
        return False

    def hold_transaction(
        self, transaction: Transaction, change: TransactionChange | None = None
    ) -> None:
        """The transaction as it is now (``change``: what its row still needs written)."""
        key = transaction.transaction_id
        self._log.append(("transaction", key, self.held.get(key), self.altered.get(key)))
        self.held[key] = transaction
        if change is not None:
            earlier = self.altered.get(key, TransactionChange())
            self.altered[key] = TransactionChange(
                committed=earlier.committed or change.committed,
                voided=earlier.voided or change.voided,
                void_reason=change.void_reason or earlier.void_reason,
            )

    def created_transaction(self, transaction_id: str) -> None:
        self._log.append(("created", transaction_id, None, None))
        self.created.add(transaction_id)

    def system_account(self, account_id: str, unit: str) -> None:
        if account_id not in self.system_accounts:
            self._log.append(("system", account_id, None, None))
            self.system_accounts[account_id] = unit

    def exists(self, transaction_id: str) -> bool | None:
        """Whether the transaction exists, or None when this batch cannot tell."""
        if transaction_id in self.created:
            return True
        if transaction_id in self.looked_up:
            return transaction_id in self.existing
        return None

    async def flush(self, session: AsyncSession) -> None:
        await self.flush_with(session, self)

    def written(self) -> None:
        """What was deferred is now in the database (see ``db.flush_batch``)."""
        self.transactions, self.postings = [], []
        self.system_accounts, self.changed = {}, {}
        self.altered = {}
        self._log = []


def _restore(into: dict[str, V], key: str, before: V | None) -> None:
    if before is None:
        into.pop(key, None)
    else:
        into[key] = before


def batch_of(context: HandlerContext) -> LedgerBatch | None:
    """The batch a handler runs in, if any (the processor hands it over in the context)."""
    return context.batch if isinstance(context.batch, LedgerBatch) else None


NEW_TRANSACTION_FIELDS = {
    "CreatePointTransaction": "transaction_id",
    "ReversePointTransaction": "reversal_transaction_id",
    "ReplacePointTransaction": "new_transaction_id",
}
"""The field naming the transaction each command creates."""


NAMED_TRANSACTION_COMMANDS = frozenset(
    {
        "CommitPointTransaction",
        "VoidPointTransaction",
        "BindPointTransaction",
        "ReplacePointTransaction",
        "ReversePointTransaction",
    }
)
"""The commands whose ``transaction_id`` names an existing transaction of their account."""


def account_ids(commands: list[Incoming[Any]]) -> list[str]:
    """The accounts a batch names, in the one order they are locked in."""
    named = (getattr(c.payload, "account_id", None) for c in commands)
    return sorted({str(a) for a in named if a is not None})


def new_transaction_ids(commands: list[Incoming[Any]]) -> set[str]:
    """The point-transaction ids a batch would create."""
    ids = set()
    for command in commands:
        name = NEW_TRANSACTION_FIELDS.get(command.envelope.type)
        if name is not None and (value := getattr(command.payload, name, None)) is not None:
            ids.add(str(value))
    return ids


def named_transactions(commands: list[Incoming[Any]]) -> list[tuple[str, str]]:
    """(transaction id, account id) of the existing transactions a batch names, in the
    one order they are locked in."""
    named = set()
    for command in commands:
        if command.envelope.type in NAMED_TRANSACTION_COMMANDS:
            payload = command.payload
            named.add((str(payload.transaction_id), str(payload.account_id)))
    return sorted(named)
