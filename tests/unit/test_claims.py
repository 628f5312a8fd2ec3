"""Actor claims without servers: a good claim verifies, and every forgery is refused
with the code that says why."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from contracts.envelope import Actor, ActorKind
from shared.runtime import claims
from shared.runtime.claims import CLAIM_HEADER, ClaimError, Keyring, Signer, Verifier

KEYSET = claims.new_keyset(["ledger", "order"])
SIGNERS = claims.parse_signers(claims.signers_json(KEYSET))
KEYS = claims.parse_keys(claims.keys_json(KEYSET))
VERIFIER = Verifier(SIGNERS, max_age_s=3600)
CUSTOMER = Actor(kind=ActorKind.CUSTOMER, id="cust-1")
ADMIN = Actor(kind=ActorKind.ADMIN, id="admin-1")
ORDER = Actor(kind=ActorKind.SERVICE, id="order")
VALUE = b'{"a command": "as bytes"}'


def signer(name: str) -> Signer:
    return Signer(name, KEYS[name])


def headers(token: str | bytes) -> list[tuple[str, bytes | None]]:
    return [("type", b"X"), (CLAIM_HEADER, token if isinstance(token, bytes) else token.encode())]


def refused(token_headers: list[tuple[str, bytes | None]], actor: Actor = CUSTOMER) -> str:
    with pytest.raises(ClaimError) as caught:
        VERIFIER.verify(VALUE, token_headers, actor)
    return caught.value.code


def test_a_claim_by_a_signer_that_may_speak_for_the_actor_verifies() -> None:
    assert VERIFIER.verify(VALUE, headers(signer("storefront").claim(VALUE, CUSTOMER)), CUSTOMER)
    assert VERIFIER.verify(VALUE, headers(signer("back-office").claim(VALUE, ADMIN)), ADMIN)
    assert VERIFIER.verify(VALUE, headers(signer("order").claim(VALUE, ORDER)), ORDER) == "order"


def test_the_keyring_picks_the_signer_that_may_speak_for_the_actor() -> None:
    ring = Keyring(KEYS, SIGNERS)
    assert ring.signer_for(CUSTOMER).name == "storefront"
    assert ring.signer_for(ADMIN).name == "back-office"
    assert ring.signer_for(ORDER).name == "order"
    assert ring.signer_for(Actor(kind=ActorKind.SYSTEM, id="ledger")).name == "ledger"
    with pytest.raises(LookupError):
        Keyring({"storefront": KEYS["storefront"]}, SIGNERS).signer_for(ADMIN)


def test_a_signer_over_claiming_is_forbidden() -> None:
    assert refused(headers(signer("storefront").claim(VALUE, ADMIN)), ADMIN) == "forbidden"
    as_order = signer("ledger").claim(VALUE, ORDER)  # a service for another service
    assert refused(headers(as_order), ORDER) == "forbidden"


def test_forgeries_are_unauthenticated() -> None:
    good = signer("storefront").claim(VALUE, CUSTOMER)
    other_bytes = signer("storefront").claim(VALUE + b" ", CUSTOMER)
    other_actor = signer("storefront").claim(VALUE, Actor(kind=ActorKind.CUSTOMER, id="cust-2"))
    stranger_key = Signer("storefront", claims.new_private_key()).claim(VALUE, CUSTOMER)
    unknown = Signer("nobody", claims.new_private_key()).claim(VALUE, CUSTOMER)
    too_old = signer("storefront").claim(VALUE, CUSTOMER, now=time.time() - 7200)
    future = signer("storefront").claim(VALUE, CUSTOMER, now=time.time() + 3600)
    unsigned = jwt.encode(
        {"sub": "customer:cust-1", "dig": claims.digest(VALUE), "iat": int(time.time())},
        key=None,
        algorithm="none",
        headers={"kid": "storefront"},
    )
    hs256 = jwt.encode(  # the public key used as an HMAC secret: the classic confusion
        {"sub": "customer:cust-1", "dig": claims.digest(VALUE), "iat": int(time.time())},
        SIGNERS["storefront"].public_key,
        algorithm="HS256",
        headers={"kid": "storefront"},
    )
    for token in (other_bytes, other_actor, stranger_key, unknown, too_old, future):
        assert refused(headers(token)) == "unauthenticated"
    for token in (unsigned, hs256, "not.a.jws", "", good + "x", "é"):
        assert refused(headers(token)) == "unauthenticated"
    assert refused([("type", b"X")]) == "unauthenticated"
    assert refused([*headers(good), *headers(good)]) == "unauthenticated"
    assert refused([(CLAIM_HEADER, None)]) == "unauthenticated"
    assert refused(headers(b"\xff" * 10)) == "unauthenticated"
    assert refused(headers(b"a" * 5000)) == "unauthenticated"


def test_a_claim_is_a_compact_jws_any_language_can_make() -> None:
    token = signer("storefront").claim(VALUE, CUSTOMER)
    header, body, _ = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {
        "alg": "EdDSA",
        "kid": "storefront",
        "typ": "JWT",
    }
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    assert payload["sub"] == "customer:cust-1"
    assert payload["dig"] == claims.digest(VALUE)


@pytest.mark.parametrize(
    ("pattern", "actor", "covered"),
    [
        ("customer", CUSTOMER, True),
        ("customer:*", CUSTOMER, True),
        ("customer:cust-1", CUSTOMER, True),
        ("customer:cust-2", CUSTOMER, False),
        ("admin", CUSTOMER, False),
        ("service:order", ORDER, True),
        ("service:ledger", ORDER, False),
        ("service", ORDER, True),
    ],
)
def test_grants(pattern: str, actor: Actor, covered: bool) -> None:
    assert claims.covers(pattern, actor) is covered


def test_settings_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="STORECREDIT_ACTOR_SIGNERS"):
        claims.parse_signers('{"x": {"public_key": "zz", "may_claim": ["admin"]}}')
    with pytest.raises(ValueError, match="STORECREDIT_ACTOR_KEYS"):
        claims.parse_keys('{"x": 1}')
    with pytest.raises(ValueError, match="no key for the signer 'ledger'"):
        claims.signer_named(claims.keys_json(KEYSET, ["order"]), "ledger")
