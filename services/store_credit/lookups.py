"""Finding a store credit by what someone typed or holds, and the lock-out of wrong guesses.

Shared by ``FindStoreCredit`` (a question) and ``AuthorizeStoreCredit`` (the
order service's command, when a customer applies a credit). A credit is
looked up by its code (keyed hashes, current and retired keys, compared
timing-safely; one found under a retired key is hashed again under the
current one), its token (a SHA-256 at rest) or its external id.

A look-up that finds nothing the asker may see is a wrong guess, whichever
way it was made: no such credit, or one of another customer's (both answer
the same, so a stranger learns nothing). A wrong guess counts against every
subject it involves (``subjects``): the customer it was made for, the order,
the actor who asked, and the guessed value itself (so one code tried across
many customers and orders is caught), each under ``STORECREDIT_GUESS_*``; the
client principal it came through (the signer of its actor claim: a storefront
speaking for many customers) under ``STORECREDIT_GUESS_PRINCIPAL_*``; and
everyone together under ``STORECREDIT_GUESS_OVERALL_*``, the brake on
enumeration from many fresh customers and orders at once. A subject over
its limit is locked out for a while; while any subject of a look-up is, the
look-up is refused ``locked_out`` without being made. A right guess wipes
nothing: its failures age out with their window, so a right code interleaved
with wrong ones does not reset the count.

The subjects' rows are locked in one order (sorted), so concurrent look-ups
are all counted and never deadlock; the overall row is only read before a
look-up and locked to count a miss, so right guesses never queue on it (at
most one miss per concurrent look-up can pass the overall limit).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor
from services.store_credit import codes, db
from shared.runtime import sealing
from shared.runtime.commands import HandlerContext
from shared.runtime.settings import Settings

OVERALL = "overall"
"""The subject every wrong guess counts against, from whoever."""
PRINCIPAL = "principal:"
"""The prefix of a client principal's subject: it speaks for many customers, so it has
a policy of its own."""


def hasher(context: HandlerContext) -> codes.CodeHasher:
    settings = context.settings
    return codes.CodeHasher(settings.code_hash_key_bytes(), settings.code_hash_previous_key_bytes())


def opened(sealed_code: str | None, context: HandlerContext, sender: Actor) -> str | None:
    """The code ``sender`` sealed for this service (None for none); raises
    :class:`sealing.SealError` if it does not open, or was sealed by someone else."""
    if sealed_code is None:
        return None
    return sealing.open_sealed(sealed_code, context.settings.code_seal_private_key_hex(), sender)


def token_hash(token: str) -> str:
    """What is kept of a token: 256 random bits need no key, only a one-way hash."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Policies:
    """The lock-out of one customer, order, actor or value; of one client principal; and
    of everyone together."""

    each: codes.LockoutPolicy
    principal: codes.LockoutPolicy
    overall: codes.LockoutPolicy

    @classmethod
    def of(cls, settings: Settings) -> Policies:
        return cls(
            each=codes.LockoutPolicy(
                max_failures=settings.guess_max_failures,
                window=timedelta(seconds=settings.guess_window_s),
                lockout=timedelta(seconds=settings.guess_lockout_s),
            ),
            principal=codes.LockoutPolicy(
                max_failures=settings.guess_principal_max_failures,
                window=timedelta(seconds=settings.guess_principal_window_s),
                lockout=timedelta(seconds=settings.guess_principal_lockout_s),
            ),
            overall=codes.LockoutPolicy(
                max_failures=settings.guess_overall_max_failures,
                window=timedelta(seconds=settings.guess_overall_window_s),
                lockout=timedelta(seconds=settings.guess_overall_lockout_s),
            ),
        )

    def of_subject(self, name: str) -> codes.LockoutPolicy:
        return self.principal if name.startswith(PRINCIPAL) else self.each


@dataclass(frozen=True)
class Asker:
    """Who a look-up is for: whose credits it may find, and what its misses count against.

    ``customer_id`` None: a trusted actor looking in general (an admin, a service
    without a customer), who may find any credit.
    """

    actor: Actor | None
    """Who asked, if not a service asking for someone else (it would lock them all out)."""
    customer_id: str | None
    order_id: str | None = None
    principal: str | None = None
    """The client principal whose claim vouched for the look-up (its signer)."""

    def may_see(self, row: Any, *, unassigned_too: bool) -> bool:
        """A credit of this customer's (or, by code, one of nobody's: a gift card)."""
        if self.customer_id is None:
            return True
        return row.customer_id == self.customer_id or (unassigned_too and row.customer_id is None)


@dataclass(frozen=True)
class Guess:
    """What was typed: exactly one of a code, a token or an external id."""

    code: str | None = None
    token: str | None = None
    external_id: str | None = None


def subjects(asker: Asker, guessed: str | None) -> list[str]:
    """What a wrong guess of ``asker``'s counts against, besides everyone together."""
    found = set()
    if asker.actor is not None:
        found.add(f"actor:{asker.actor.kind.value}:{asker.actor.id}")
    if asker.customer_id is not None:
        found.add(f"customer:{asker.customer_id}")
    if asker.order_id is not None:
        found.add(f"order:{asker.order_id}")
    if asker.principal is not None:
        found.add(f"{PRINCIPAL}{asker.principal}")
    if guessed is not None:
        found.add(guessed)
    return sorted(found)


def _state(row: Any) -> codes.AttemptState:
    return codes.AttemptState(
        failures=row.failures,
        window_started_at=row.window_started_at,
        locked_until=row.locked_until,
    )


@dataclass(frozen=True)
class Attempts:
    """The wrong-guess counts of a look-up's subjects, locked for this transaction."""

    states: dict[str, codes.AttemptState]
    overall: codes.AttemptState
    now: datetime
    policies: Policies = field(repr=False)

    @classmethod
    async def lock(
        cls, session: AsyncSession, names: list[str], now: datetime, settings: Settings
    ) -> Attempts:
        rows = {name: await db.lock_attempts(session, name) for name in sorted(names)}
        overall = await db.read_attempts(session, OVERALL)
        return cls(
            {name: _state(row) for name, row in rows.items()},
            codes.AttemptState() if overall is None else _state(overall),
            now,
            Policies.of(settings),
        )

    @property
    def locked(self) -> bool:
        return codes.is_locked(self.overall, self.now) or any(
            codes.is_locked(state, self.now) for state in self.states.values()
        )

    async def count_miss(self, session: AsyncSession) -> None:
        """One more wrong guess for every subject and for everyone (their rows are made
        again if a rejection rolled their first insert back)."""
        for name, state in self.states.items():
            policy = self.policies.of_subject(name)
            await self._save(session, name, codes.after_failure(policy, state, self.now))
        overall = _state(await db.lock_attempts(session, OVERALL))
        await self._save(
            session, OVERALL, codes.after_failure(self.policies.overall, overall, self.now)
        )

    async def _save(self, session: AsyncSession, name: str, after: codes.AttemptState) -> None:
        await db.lock_attempts(session, name)
        await db.save_attempts(
            session, name, after.failures, after.window_started_at, after.locked_until
        )


@dataclass(frozen=True)
class Lookup:
    """A look-up made (or refused) under the lock-out: the credit found, if the asker may
    see it; ``locked`` when it was not made at all."""

    row: Any | None
    attempts: Attempts
    locked: bool = False

    async def count_miss(self, session: AsyncSession) -> None:
        await self.attempts.count_miss(session)


async def look_up(
    session: AsyncSession, context: HandlerContext, asker: Asker, guess: Guess, now: datetime
) -> Lookup:
    """Find the credit ``guess`` names for ``asker``, unless a subject is locked out.

    The caller answers: ``locked``, refused (nothing was looked up); no
    ``row``, a miss to count with ``count_miss`` (in the transaction that
    records the refusal) and to answer as not found; a ``row``, the credit.
    """
    code_hasher = hasher(context)
    sought = _sought(code_hasher, guess)
    attempts = await Attempts.lock(session, subjects(asker, sought.subject), now, context.settings)
    if attempts.locked:
        return Lookup(None, attempts, locked=True)
    row = await _find(session, code_hasher, guess, sought)
    if row is not None and not asker.may_see(row, unassigned_too=guess.code is not None):
        row = None  # another customer's: the same answer as none at all
    return Lookup(row, attempts)


@dataclass(frozen=True)
class _Sought:
    """What a guess is looked up by, worked out once: its subject (a hash, never the
    value; None for what is not a code at all) and the column condition (None: nothing
    can match)."""

    subject: str | None
    condition: Any | None
    code_hashes: tuple[str, ...] = ()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _sought(code_hasher: codes.CodeHasher, guess: Guess) -> _Sought:
    credits = db.store_credits.c
    if guess.token is not None:
        hashed = token_hash(guess.token)
        return _Sought(f"token:{hashed[:32]}", credits.token_hash == hashed)
    if guess.external_id is not None:
        subject = f"external_id:{_digest(guess.external_id)[:32]}"
        return _Sought(subject, credits.external_id == guess.external_id)
    try:
        hashes = tuple(code_hasher.hashes(guess.code or ""))
    except codes.InvalidCode:
        return _Sought(None, None)  # a miss all the same, of no code in particular
    return _Sought(f"code:{hashes[0][:32]}", credits.code_hash.in_(hashes), hashes)


async def _find(
    session: AsyncSession, code_hasher: codes.CodeHasher, guess: Guess, sought: _Sought
) -> Any | None:
    if sought.condition is None:
        return None
    row = await db.find_store_credit(session, sought.condition)
    if row is None or not sought.code_hashes:
        return row
    if not code_hasher.matches(guess.code or "", row.code_hash):
        return None
    if row.code_hash != sought.code_hashes[0]:  # found under a retired key: move it
        await db.rehash_code(session, row.id, sought.code_hashes[0])
    return row
