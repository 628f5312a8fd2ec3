"""The identity provider's public keys: a JWKS inline, in a file, or at a URL.

A URL's keys are fetched when the gateway starts, again every
``STORECREDIT_GATEWAY_JWKS_REFRESH_S``, and at once (at most every
``REFETCH_AFTER_UNKNOWN_S``) when a token names a key id not seen yet, so a
provider's key rotation needs no restart. A failed fetch keeps the keys there
were; the fetch follows no redirects. Plain ``http://`` is taken for a loopback
host only: keys from anywhere else must come over TLS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import jwt

log = logging.getLogger(__name__)

REFETCH_AFTER_UNKNOWN_S = 30.0
FETCH_TIMEOUT_S = 5.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def jwks_url(raw: str) -> str | None:
    """The URL ``raw`` names, or None if it is a document or a path; ValueError for a
    URL that would fetch keys in clear from another host."""
    parts = urlsplit(raw.strip())
    if parts.scheme == "https":
        return raw.strip()
    if parts.scheme == "http":
        if parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("STORECREDIT_GATEWAY_JWKS: an http:// URL only for a loopback host")
        return raw.strip()
    return None


def parse_jwks(text: str) -> jwt.PyJWKSet:
    try:
        return jwt.PyJWKSet.from_json(text)
    except jwt.PyJWTError as error:
        raise ValueError(f"STORECREDIT_GATEWAY_JWKS is not a usable JWKS: {error}") from None


class JwksSource:
    """The keys tokens are verified against, and their refreshing."""

    def __init__(self, raw: str | None, refresh_s: float) -> None:
        self.configured = bool(raw)
        self._refresh_s = refresh_s
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = float("-inf")
        self._client: jwt.PyJWKClient | None = None
        self._fetching: asyncio.Lock | None = None
        if not raw:
            return
        url = jwks_url(raw)
        if url is None:
            text = raw if raw.lstrip().startswith("{") else Path(raw).read_text()
            self._keys = parse_jwks(text)
        else:
            self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_S)

    def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The one key for ``kid`` (any single key when the token names none)."""
        if self._keys is None:
            return None
        keys = [k for k in self._keys.keys if kid is None or k.key_id == kid]
        return keys[0] if len(keys) == 1 else None

    async def key_fetching_if_unknown(self, kid: str | None) -> jwt.PyJWK | None:
        """``key(kid)``, fetching the URL's keys again first if ``kid`` is not among them
        and the last fetch is old enough."""
        found = self.key(kid)
        if found is None and self._client is not None:
            if time.monotonic() - self._fetched_at >= REFETCH_AFTER_UNKNOWN_S:
                await self.fetch()
            found = self.key(kid)
        return found

    async def fetch(self) -> None:
        """The URL's keys, now (one fetch at a time); a failure keeps the keys there were."""
        if self._client is None:
            return
        if self._fetching is None:
            self._fetching = asyncio.Lock()
        async with self._fetching:
            self._fetched_at = time.monotonic()
            try:
                self._keys = await asyncio.to_thread(self._client.get_jwk_set, True)
            except jwt.PyJWTError as error:
                log.warning("jwks fetch failed, keeping the keys there were: %s", error)

    async def keep_fresh(self) -> None:
        """Fetch the URL's keys every refresh interval (a task for the gateway's lifetime,
        after a first ``fetch``); nothing to do for keys given inline or in a file."""
        while self._client is not None:
            await asyncio.sleep(self._refresh_s)
            await self.fetch()
