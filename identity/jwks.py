"""An issuer's signing keys (a JWKS document), fetched on first use and cached.

A token naming an unknown `kid` triggers one refresh (key rotation), but never a stampede: one
fetch at a time, at most one every `min_refresh_s`, and a kid still unknown after a refresh is
refused for `NEGATIVE_TTL_S` without asking again. The cache is safe to lose: each worker keeps
its own and fills it from the issuer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import httpx
import jwt

from kernel.errors import IdentityUnavailable, Unauthenticated

log = logging.getLogger("nachet.identity")
MAX_AGE_S = 3600.0  # keys are re-read hourly even when nothing asks for a new one
NEGATIVE_TTL_S = 300.0
MAX_UNKNOWN = 1024


class JwksKeys:
    def __init__(self, locate: Callable[[httpx.AsyncClient], Awaitable[str]], min_refresh_s: float):
        self._locate = locate  # the JWKS URL (given, or found by OIDC discovery)
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._unknown: dict[str, float] = {}
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self.fetches = 0  # how many times the issuer was asked (tests and the closing note)

    async def key(self, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        found = self._find(kid)
        if found is not None and now - self._fetched_at < MAX_AGE_S:
            return found
        async with self._lock:  # one fetch at a time; the others wait for its keys
            found = self._find(kid)
            fresh = time.monotonic() - self._fetched_at < MAX_AGE_S
            if found is not None and fresh:
                return found
            if self._may_refresh(kid, fresh):
                await self._refresh()
                found = self._find(kid)
        if found is None and not self._keys:
            raise IdentityUnavailable("the identity provider's signing keys could not be fetched")
        if found is None:
            if kid is not None:
                self._remember_unknown(kid)
            raise Unauthenticated(f"the token is signed with an unknown key (kid {kid!r})")
        return found

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:  # a token without kid, an issuer with one key
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _may_refresh(self, kid: str | None, fresh: bool) -> bool:
        now = time.monotonic()
        if not fresh:
            return True
        if kid is not None and now - self._unknown.get(kid, -float("inf")) < NEGATIVE_TTL_S:
            return False
        return now - self._fetched_at >= self.min_refresh_s

    def _remember_unknown(self, kid: str) -> None:
        if len(self._unknown) >= MAX_UNKNOWN:
            self._unknown.clear()
        self._unknown[kid] = time.monotonic()

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()  # also on failure: an outage is not hammered either
        self.fetches += 1
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=True)
        try:
            url = await self._locate(self._http)
            response = await self._http.get(url)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as error:
            log.error("could not fetch the signing keys: %s", error)
            if self._keys:
                return  # keep the keys we had
            raise IdentityUnavailable("the identity provider's signing keys could not be fetched") from error
        self._keys = {key.key_id: key for key in keys}
        self._unknown.clear()
        log.info("fetched %d signing key(s) from %s", len(self._keys), url)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def fixed_url(url: str) -> Callable[[httpx.AsyncClient], Awaitable[str]]:
    async def locate(_: httpx.AsyncClient) -> str:
        return url

    return locate


def discovered_url(issuer: str) -> Callable[[httpx.AsyncClient], Awaitable[str]]:
    """The `jwks_uri` of the issuer's OpenID configuration, read once."""
    found: list[str] = []

    async def locate(http: httpx.AsyncClient) -> str:
        if not found:
            response = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
            response.raise_for_status()
            uri = response.json().get("jwks_uri")
            if not isinstance(uri, str):
                raise ValueError("the OpenID configuration has no jwks_uri")
            found.append(uri)
        return found[0]

    return locate
