from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.store_credit import FindStoreCredit
from services.store_credit.codes import (
    AttemptState,
    CodeHasher,
    InvalidCode,
    LockoutPolicy,
    after_failure,
    generate_code,
    is_locked,
    is_well_formed,
    last_four,
    luhn_check_digit,
    luhn_valid,
    mask,
    new_external_id,
    new_token,
    normalize_code,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
OLD_KEY = b"p" * 48
HEX64 = re.compile("[0-9a-f]{64}")
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

valid_codes = st.text(alphabet="0123456789", min_size=12, max_size=19)


# --- generated codes --------------------------------------------------------------------------


def test_generated_codes_are_16_luhn_valid_digits_and_distinct() -> None:
    drawn = [generate_code() for _ in range(5000)]
    assert all(re.fullmatch("[0-9]{16}", code) for code in drawn)
    assert all(luhn_valid(code) for code in drawn)
    assert all(is_well_formed(code) for code in drawn)
    assert len(set(drawn)) == len(drawn)


def test_every_random_position_takes_every_digit() -> None:
    drawn = [generate_code() for _ in range(2000)]
    for position in range(15):
        assert {code[position] for code in drawn} == set("0123456789")


def test_generation_draws_15_digits_uniformly_and_zero_pads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bounds: list[int] = []

    def fake_randbelow(bound: int) -> int:
        bounds.append(bound)
        return 42

    monkeypatch.setattr(secrets, "randbelow", fake_randbelow)
    code = generate_code()
    assert bounds == [10**15]
    assert code[:15] == "000000000000042"
    assert len(code) == 16
    assert luhn_valid(code)


# --- Luhn -------------------------------------------------------------------------------------


def test_luhn_known_values() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("not a code")


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_appending_the_check_digit_makes_a_luhn_valid_code(payload: str) -> None:
    assert luhn_valid(payload + luhn_check_digit(payload))


@given(valid_codes.filter(lambda code: not luhn_valid(code)))
def test_supplied_codes_need_not_be_luhn_valid(code: str) -> None:
    assert is_well_formed(code)
    assert normalize_code(code) == code


def test_luhn_check_digit_refuses_non_digits() -> None:
    with pytest.raises(ValueError):
        luhn_check_digit("12a4")


# --- normalization ----------------------------------------------------------------------------


def test_normalize_strips_spaces_and_dashes() -> None:
    assert normalize_code("1234 5678-9012 3456") == "1234567890123456"
    assert normalize_code(" 1234-5678-9012-3456\n") == "1234567890123456"


@pytest.mark.parametrize(
    "raw",
    [
        "1234 5678 9012 345a",
        "12345678901",  # 11 digits
        "12345678901234567890",  # 20 digits
        "",
        "1234_5678_9012_3456",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦",  # Arabic-Indic digits are not ASCII digits
        "1234.5678.9012.3456",
    ],
)
def test_normalize_rejects_without_echoing_the_input(raw: str) -> None:
    with pytest.raises(InvalidCode) as caught:
        normalize_code(raw)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "twelve to nineteen digits" in message
    assert not re.search("[0-9]", message)
    assert raw.strip() == "" or raw not in message
    assert raw not in repr(caught.value) or raw == ""
    assert not is_well_formed(raw)


@given(st.text())
def test_normalize_accepts_exactly_12_to_19_ascii_digits(raw: str) -> None:
    stripped = raw.strip().replace(" ", "").replace("-", "")
    expected_ok = re.fullmatch("[0-9]{12,19}", stripped) is not None
    try:
        result = normalize_code(raw)
    except InvalidCode as error:
        assert not expected_ok
        assert not re.search("[0-9]", str(error))
    else:
        assert expected_ok
        assert result == stripped


@given(valid_codes, st.data())
def test_separators_do_not_change_the_code(code: str, data: st.DataObject) -> None:
    pieces = []
    for char in code:
        pieces.append(char)
        pieces.append(data.draw(st.sampled_from(["", " ", "-", " - "])))
    assert normalize_code("".join(pieces)) == code


# --- keyed hash -------------------------------------------------------------------------------


@given(valid_codes)
def test_hashes_are_deterministic_per_key_and_differ_across_keys(code: str) -> None:
    first = CodeHasher(KEY).hash(code)
    assert CodeHasher(KEY).hash(code) == first
    assert HEX64.fullmatch(first)
    assert code not in first
    assert CodeHasher(OTHER_KEY).hash(code) != first


def test_hash_is_hmac_sha256_of_the_normalized_code() -> None:
    import hashlib
    import hmac

    expected = hmac.new(KEY, b"1234567890123456", hashlib.sha256).hexdigest()
    assert CodeHasher(KEY).hash("1234-5678-9012-3456") == expected


def test_matches() -> None:
    hasher = CodeHasher(KEY)
    code = generate_code()
    stored = hasher.hash(code)
    assert hasher.matches(code, stored)
    assert hasher.matches(" ".join([code[:4], code[4:8], code[8:12], code[12:]]), stored)
    other = generate_code()
    assert other != code
    assert not hasher.matches(other, stored)
    assert not CodeHasher(OTHER_KEY).matches(code, stored)
    assert not hasher.matches("not a code", stored)
    assert not hasher.matches(code, "")
    assert not hasher.matches(code, "é" * 64)


def test_hashing_a_malformed_code_raises_invalid_code() -> None:
    with pytest.raises(InvalidCode):
        CodeHasher(KEY).hash("12345")
    with pytest.raises(InvalidCode):
        CodeHasher(KEY).hashes("12345")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        CodeHasher(b"k" * 31)
    with pytest.raises(ValueError):
        CodeHasher(b"")
    with pytest.raises(ValueError):
        CodeHasher(KEY, previous_keys=(b"short",))
    with pytest.raises(TypeError):
        CodeHasher("k" * 32)  # type: ignore[arg-type]


def test_rotation_finds_a_code_hashed_with_an_old_key() -> None:
    code = generate_code()
    stored_under_old_key = CodeHasher(OLD_KEY).hash(code)
    rotated = CodeHasher(KEY, previous_keys=(OLD_KEY,))
    found = rotated.hashes(code)
    assert found[0] == rotated.hash(code) == CodeHasher(KEY).hash(code)
    assert stored_under_old_key in found
    assert found == [CodeHasher(KEY).hash(code), stored_under_old_key]
    assert rotated.matches(code, stored_under_old_key)
    assert rotated.matches(code, rotated.hash(code))


def test_repeated_keys_give_one_hash_each() -> None:
    assert len(CodeHasher(KEY, previous_keys=(KEY, OLD_KEY, OLD_KEY)).hashes(generate_code())) == 2


def test_the_repr_shows_no_key() -> None:
    key = secrets.token_bytes(32)
    text = repr(CodeHasher(key, previous_keys=(OLD_KEY,)))
    assert key.hex() not in text
    assert repr(key) not in text
    assert repr(OLD_KEY) not in text


# --- last four and masking --------------------------------------------------------------------


def test_last_four_and_mask() -> None:
    assert last_four("1234 5678 9012 5744") == "5744"
    assert mask("5744") == "******5744"
    assert mask(last_four("0000-0000-0000-0012")) == "******0012"


@pytest.mark.parametrize("value", ["574", "57445", "1234567890125744", "abcd", ""])
def test_mask_takes_only_four_digits(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        mask(value)
    assert value == "" or value not in str(caught.value)


def test_last_four_of_a_malformed_code_raises() -> None:
    with pytest.raises(InvalidCode):
        last_four("5744")


# --- tokens and external ids ------------------------------------------------------------------


def test_tokens_are_64_hex_characters_and_unique() -> None:
    tokens = [new_token() for _ in range(2000)]
    assert all(HEX64.fullmatch(token) for token in tokens)
    assert len(set(tokens)) == len(tokens)


def test_external_ids_carry_192_bits_and_are_unique() -> None:
    ids = [new_external_id() for _ in range(2000)]
    assert all(re.fullmatch("[0-9a-f]{48}", value) for value in ids)  # 48 * 4 = 192 bits
    assert len(set(ids)) == len(ids)
    for value in ids:  # every one can be looked up: it fits the identifier pattern
        FindStoreCredit(external_id=value)


# --- lock-out ---------------------------------------------------------------------------------


def fail_times(
    policy: LockoutPolicy, state: AttemptState, times: int, at: datetime
) -> AttemptState:
    for _ in range(times):
        state = after_failure(policy, state, at)
    return state


def test_five_failures_lock_and_the_lock_ends_after_the_lockout_period() -> None:
    policy = LockoutPolicy()
    state = fail_times(policy, AttemptState(), 4, T0)
    assert state.failures == 4
    assert not is_locked(state, T0)
    state = after_failure(policy, state, T0 + timedelta(minutes=1))
    assert is_locked(state, T0 + timedelta(minutes=1))
    assert state.locked_until == T0 + timedelta(minutes=16)
    assert is_locked(state, T0 + timedelta(minutes=15, seconds=59))
    assert not is_locked(state, T0 + timedelta(minutes=16))


def test_failures_while_locked_neither_extend_nor_lift_the_lock() -> None:
    policy = LockoutPolicy()
    locked = fail_times(policy, AttemptState(), 5, T0)
    assert after_failure(policy, locked, T0 + timedelta(minutes=5)) == locked


def test_after_the_lock_runs_out_counting_starts_afresh() -> None:
    policy = LockoutPolicy()
    locked = fail_times(policy, AttemptState(), 5, T0)
    later = T0 + timedelta(minutes=15)
    state = after_failure(policy, locked, later)
    assert state == AttemptState(failures=1, window_started_at=later, locked_until=None)
    assert not is_locked(state, later)


def test_an_expired_window_restarts_the_count() -> None:
    policy = LockoutPolicy()
    state = fail_times(policy, AttemptState(), 4, T0)
    later = T0 + policy.window
    state = after_failure(policy, state, later)
    assert state == AttemptState(failures=1, window_started_at=later, locked_until=None)
    state = fail_times(policy, state, 3, later + timedelta(minutes=14))
    assert state.failures == 4
    assert not is_locked(state, later + timedelta(minutes=14))


def test_a_custom_policy() -> None:
    policy = LockoutPolicy(max_failures=2, window=timedelta(seconds=10), lockout=timedelta(hours=1))
    state = after_failure(policy, AttemptState(), T0)
    state = after_failure(policy, state, T0 + timedelta(seconds=9))
    assert is_locked(state, T0 + timedelta(minutes=30))
    assert not is_locked(state, T0 + timedelta(hours=1, seconds=9))


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_failures": 0},
        {"window": timedelta(0)},
        {"lockout": timedelta(seconds=-1)},
    ],
)
def test_nonsense_policies_are_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LockoutPolicy(**arguments)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        is_locked(AttemptState(), datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        after_failure(LockoutPolicy(), AttemptState(), datetime(2025, 1, 1))


@given(st.lists(st.booleans(), max_size=40), st.lists(st.integers(0, 400), min_size=40))
def test_wrong_codes_per_window_stay_bounded(outcomes: list[bool], gaps: list[int]) -> None:
    """Whatever the timing, and whatever right codes come between (they clear nothing), the
    subject is locked exactly when it reaches max_failures, and no span as long as the
    window holds 2 * max_failures wrong codes.

    (Windows are fixed, not sliding: up to 2 * max_failures - 1 failures can straddle the
    boundary between two windows.)"""
    policy = LockoutPolicy()
    state = AttemptState()
    now = T0
    wrong: list[datetime] = []
    for ok, gap in zip(outcomes, gaps, strict=False):
        now += timedelta(seconds=gap)
        if is_locked(state, now) or ok:
            continue
        wrong.append(now)
        state = after_failure(policy, state, now)
        assert 1 <= state.failures <= policy.max_failures
        assert is_locked(state, now) == (state.failures == policy.max_failures)
        in_span = [t for t in wrong if now - t < policy.window]
        assert len(in_span) < 2 * policy.max_failures
