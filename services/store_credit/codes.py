"""Store-credit codes, tokens, external ids and the look-up lock-out policy.

A store credit's *code* works like a card number: whoever knows it can spend
the credit. This module holds the pure pieces that handle it; it talks to no
broker and no database, and it never logs anything.

Rules kept here, and expected of callers:

* A code is given in clear exactly once, in the creation result to the admin.
  It is never stored, put in an event, logged, or placed in an exception
  message or ``repr``. What is stored is :meth:`CodeHasher.hash` (a keyed hash)
  and :func:`last_four`; what is shown is :func:`mask` (``******5744``).
* :class:`InvalidCode` messages describe the rule that was broken, never the
  input.

Generated codes: 15 digits from :mod:`secrets` plus 1 Luhn check digit
----------------------------------------------------------------------

:func:`generate_code` draws ``secrets.randbelow(10**15)`` (uniform, no modulo
bias), zero-pads it to 15 digits and appends a Luhn check digit, giving 16
digits. The secret part is therefore 10**15 values (about 49.8 bits); the
check digit adds no entropy. With a keyed hash at rest and the lock-out below,
that is ample against on-line guessing, and the check digit lets a form tell
a customer "this looks mistyped" (one wrong digit, or most swaps of adjacent
digits) before anything is sent.

Admin-supplied codes need not satisfy Luhn, so the check is kept *out* of
validation: :func:`normalize_code` and :func:`is_well_formed` accept any 12 to
19 digits, and :func:`luhn_valid` is a separate helper. For the same reason a
server-side look-up that misses must always count as a failed attempt, Luhn
or not: skipping the count for Luhn-invalid input would give free guesses
against admin-supplied codes. The typo benefit belongs in the user interface.

Tokens and external ids
-----------------------

* :func:`new_token`: 32 random bytes as 64 hex characters (256 bits), an
  opaque handle to refer to a store credit without its code.
* :func:`new_external_id`: 24 random bytes as 48 hex characters
  (192 bits, above the 128 required for an unguessable id).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

__all__ = [
    "CODE_MAX_DIGITS",
    "CODE_MIN_DIGITS",
    "GENERATED_CODE_DIGITS",
    "MIN_KEY_BYTES",
    "AttemptState",
    "CodeHasher",
    "InvalidCode",
    "LockoutPolicy",
    "after_failure",
    "generate_code",
    "is_locked",
    "is_well_formed",
    "last_four",
    "luhn_check_digit",
    "luhn_valid",
    "mask",
    "new_external_id",
    "new_token",
    "normalize_code",
]

CODE_MIN_DIGITS = 12
CODE_MAX_DIGITS = 19
GENERATED_CODE_DIGITS = 16
MIN_KEY_BYTES = 32

MASK_PREFIX = "******"
_SEPARATORS = str.maketrans("", "", " -")
# [0-9], not \d: \d also matches non-ASCII digits such as Arabic-Indic ones.
_CODE_PATTERN = re.compile(f"[0-9]{{{CODE_MIN_DIGITS},{CODE_MAX_DIGITS}}}")
_LAST_FOUR_PATTERN = re.compile("[0-9]{4}")
_DIGITS_PATTERN = re.compile("[0-9]+")


class InvalidCode(ValueError):
    """A code that is not 12 to 19 ASCII digits. The message never holds the code."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(
            reason
            or (
                # Spelled out: a message with no digits cannot echo part of a code.
                "a store-credit code must be twelve to nineteen digits "
                "(spaces and dashes are allowed between them)"
            )
        )


# --- codes ------------------------------------------------------------------------------------


def normalize_code(raw: str) -> str:
    """Return ``raw`` without spaces and dashes; raise :class:`InvalidCode` unless it is
    then 12 to 19 ASCII digits.

    Surrounding whitespace (a pasted newline, a tab) is also dropped. The Luhn
    check digit is not checked here: admin-supplied codes need not have one.
    """
    if not isinstance(raw, str):
        raise InvalidCode("a store-credit code must be given as text")
    candidate = raw.strip().translate(_SEPARATORS)
    if _CODE_PATTERN.fullmatch(candidate) is None:
        raise InvalidCode
    return candidate


def is_well_formed(code: str) -> bool:
    """Whether :func:`normalize_code` accepts ``code`` (12 to 19 digits; Luhn not required)."""
    try:
        normalize_code(code)
    except InvalidCode:
        return False
    return True


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits`` (one or more ASCII digits)."""
    if _DIGITS_PATTERN.fullmatch(digits) is None:
        raise ValueError("the Luhn check digit is computed over ASCII digits only")
    total = 0
    # The rightmost payload digit sits next to the check digit, so it is doubled.
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(code: str) -> bool:
    """Whether ``code`` is well formed and its last digit is a correct Luhn check digit.

    Every generated code passes. Admin-supplied codes may not, so do not make
    this a condition for accepting a code, nor a reason to skip counting a failed
    look-up (see the module docstring); use it to warn of a likely typo.
    """
    try:
        digits = normalize_code(code)
    except InvalidCode:
        return False
    return luhn_check_digit(digits[:-1]) == digits[-1]


def generate_code() -> str:
    """A new 16-digit code: 15 uniform random digits from :mod:`secrets`, then a Luhn digit."""
    payload_digits = GENERATED_CODE_DIGITS - 1
    payload = f"{secrets.randbelow(10**payload_digits):0{payload_digits}d}"
    return payload + luhn_check_digit(payload)


def last_four(code: str) -> str:
    """The last four digits of a code (normalized first), to store beside its hash."""
    return normalize_code(code)[-4:]


def mask(last_four: str) -> str:
    """The display form of a code from its last four digits: ``mask("5744") == "******5744"``.

    Only four digits are accepted, so a full code passed here by mistake is
    refused instead of shown.
    """
    if not isinstance(last_four, str) or _LAST_FOUR_PATTERN.fullmatch(last_four) is None:
        raise ValueError("mask() takes exactly the last four digits of a code")
    return MASK_PREFIX + last_four


# --- keyed hash -------------------------------------------------------------------------------


class CodeHasher:
    """Keyed hash of codes: HMAC-SHA256 over the normalized code, as 64 hex characters.

    The hash is deterministic so that a look-up can be an indexed equality on
    the stored hash column. That equality leaks nothing useful: without the
    key (kept out of the database) nobody can compute the hash of a guess, and
    a database dump cannot be brute-forced off-line over the small code space.
    :meth:`matches` compares with :func:`hmac.compare_digest`, for the final
    check on a row that was found.

    Key rotation: pass the retired keys as ``previous_keys``. :meth:`hash` uses
    the current key; :meth:`hashes` gives the hash under every key, current
    first, for a look-up such as ``WHERE code_hash IN (...)``. When a row is
    found under an old key, store :meth:`hash` in its place; once no row holds
    an old-key hash, drop that key.

    Every key must be at least 32 random bytes. The keys never appear in
    ``repr``.
    """

    __slots__ = ("_keys",)

    def __init__(self, key: bytes, previous_keys: Iterable[bytes] = ()) -> None:
        keys: list[bytes] = []
        for candidate in (key, *previous_keys):
            if not isinstance(candidate, bytes | bytearray):
                raise TypeError("a code-hashing key must be bytes")
            if len(candidate) < MIN_KEY_BYTES:
                raise ValueError(f"a code-hashing key must be at least {MIN_KEY_BYTES} bytes")
            as_bytes = bytes(candidate)
            if as_bytes not in keys:
                keys.append(as_bytes)
        self._keys: tuple[bytes, ...] = tuple(keys)

    def __repr__(self) -> str:
        return f"CodeHasher(<{len(self._keys)} key(s) hidden>)"

    @staticmethod
    def _digest(key: bytes, normalized: str) -> str:
        return hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()

    def hash(self, code: str) -> str:
        """The hash of the normalized ``code`` under the current key (or :class:`InvalidCode`)."""
        return self._digest(self._keys[0], normalize_code(code))

    def hashes(self, code: str) -> list[str]:
        """The hash of the normalized ``code`` under every key, current key first."""
        normalized = normalize_code(code)
        return [self._digest(key, normalized) for key in self._keys]

    def matches(self, code: str, stored_hash: str) -> bool:
        """Whether ``code`` hashes to ``stored_hash`` under any key, compared timing-safely.

        Every key is tried, with no early exit. A malformed code matches nothing.
        """
        try:
            candidates = self.hashes(code)
        except InvalidCode:
            return False
        if not isinstance(stored_hash, str) or not stored_hash.isascii():
            return False
        expected = stored_hash.encode("ascii")
        found = False
        for candidate in candidates:
            found |= hmac.compare_digest(candidate.encode("ascii"), expected)
        return found


# --- tokens and external ids ------------------------------------------------------------------


def new_token() -> str:
    """An opaque handle for a store credit: 32 random bytes as 64 hex characters (256 bits)."""
    return secrets.token_hex(32)


def new_external_id() -> str:
    """A generated external id: 24 random bytes as 48 hex characters (192 bits).

    Hex, so it always fits the contracts' identifier pattern (which does not
    allow a leading ``-`` or ``_``, as base64url could give).
    """
    return secrets.token_hex(24)


# --- lock-out of repeated wrong codes ---------------------------------------------------------


@dataclass(frozen=True)
class LockoutPolicy:
    """How many wrong codes a subject may try, within what window, and how long it is then locked.

    The subject (a customer id, an order id) is the caller's choice. Keep a
    state for each and check both: a lock on the order alone is dodged by
    opening a new order, a lock on the customer alone by checking out as
    guests. Load and save a state under a row lock (or one atomic update) so
    that concurrent attempts are all counted.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if self.window <= timedelta(0) or self.lockout <= timedelta(0):
            raise ValueError("window and lockout must be positive durations")


@dataclass(frozen=True)
class AttemptState:
    """Failed look-ups of one subject. ``AttemptState()`` is a subject with no failures.

    Datetimes are timezone-aware (the project uses UTC throughout).
    """

    failures: int = 0
    window_started_at: datetime | None = None
    locked_until: datetime | None = None


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def is_locked(state: AttemptState, now: datetime) -> bool:
    """Whether the subject is locked out at ``now``. Check this before any look-up."""
    _require_aware(now)
    return state.locked_until is not None and now < state.locked_until


def after_failure(policy: LockoutPolicy, state: AttemptState, now: datetime) -> AttemptState:
    """The state after a look-up with a wrong code at ``now``.

    * While locked, nothing changes (the lock is neither extended nor lifted);
      callers should not have attempted the look-up.
    * When there is no window yet, the window has expired, or a lock has run
      out, a new window starts at ``now`` with this single failure.
    * When failures reach ``policy.max_failures``, the subject is locked until
      ``now + policy.lockout``.
    """
    _require_aware(now)
    if is_locked(state, now):
        return state
    window_open = (
        state.locked_until is None
        and state.window_started_at is not None
        and now < state.window_started_at + policy.window
    )
    if window_open:
        next_state = replace(state, failures=state.failures + 1)
    else:
        next_state = AttemptState(failures=1, window_started_at=now, locked_until=None)
    if next_state.failures >= policy.max_failures:
        next_state = replace(next_state, locked_until=now + policy.lockout)
    return next_state
