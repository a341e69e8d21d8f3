"""Who is calling: the configured identity sources, tried in a fixed order.

  Authorization: Bearer nachet_…   a personal API token (NACHET_API_TOKENS)
  Authorization: Bearer <JWT>      an OIDC access or ID token (NACHET_OIDC_ISSUER + _AUDIENCE)
  Cookie jxVouchCookie             the Vouch SSO cookie (NACHET_VOUCH_JWT_SECRET | _PUBLIC_KEY | _JWKS_URL)

An Authorization header, when sent, decides alone: a bad one is refused even with a good cookie.
With no source configured the service is in unsecured mode and `identify` is never asked.
"""

from __future__ import annotations

import asyncpg

from kernel.errors import Unauthenticated
from storage import accounts, api_tokens

from .api_tokens import looks_like_api_token, token_hash
from .caller import Caller
from .jwks import JwksKeys, discovered_url, fixed_url
from .tokens import TokenVerifier
from .vouch import MalformedCookie, cookie_email, cookie_token


class Identity:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        vouch: TokenVerifier | None = None,
        oidc: TokenVerifier | None = None,
        oidc_email_claim: str = "email",
        api_tokens_enabled: bool = False,
    ):
        self.pool = pool
        self.vouch, self.oidc, self.email_claim = vouch, oidc, oidc_email_claim
        self.api_tokens_enabled = api_tokens_enabled

    @classmethod
    def from_settings(cls, settings, pool: asyncpg.Pool) -> Identity:
        def secret(value) -> str | None:
            return value.get_secret_value() if value is not None else None

        vouch = oidc = None
        if settings.vouch_configured:
            jwks = settings.vouch_jwks_url
            vouch = TokenVerifier(
                "the session cookie",
                secret=secret(settings.vouch_jwt_secret),
                public_key=secret(settings.vouch_jwt_public_key),
                jwks=JwksKeys(fixed_url(jwks), settings.jwks_min_refresh_s) if jwks else None,
                issuer=settings.vouch_issuer,
                audience=settings.vouch_audience,
                leeway_s=settings.jwt_leeway_s,
            )
        if settings.oidc_issuer is not None:
            locate = (
                fixed_url(settings.oidc_jwks_url)
                if settings.oidc_jwks_url
                else discovered_url(settings.oidc_issuer)
            )
            oidc = TokenVerifier(
                "the bearer token",
                jwks=JwksKeys(locate, settings.jwks_min_refresh_s),
                issuer=settings.oidc_issuer,
                audience=settings.oidc_audience,
                leeway_s=settings.jwt_leeway_s,
            )
        return cls(
            pool,
            vouch=vouch,
            oidc=oidc,
            oidc_email_claim=settings.oidc_email_claim,
            api_tokens_enabled=settings.api_tokens,
        )

    @property
    def sources(self) -> list[str]:
        configured = (("vouch", self.vouch), ("oidc", self.oidc), ("api-token", self.api_tokens_enabled))
        return [name for name, on in configured if on]

    async def identify(self, cookie: str | None, authorization: str | None) -> Caller | None:
        """The verified caller, None when the request carries no credentials at all; raises
        Unauthenticated for credentials that do not verify."""
        if authorization is not None:
            return await self._bearer(authorization)
        if cookie and self.vouch is not None:
            try:
                token = cookie_token(cookie)
            except MalformedCookie as error:
                raise Unauthenticated(str(error)) from None
            email = cookie_email(await self.vouch.claims(token))
            if email is None:
                raise Unauthenticated("the session cookie names no email (CustomClaims.email)")
            return await self._registered(email, "vouch")
        return None

    async def _bearer(self, authorization: str) -> Caller:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        if self.api_tokens_enabled and looks_like_api_token(token):
            row = await api_tokens.caller_of(self.pool, token_hash(token))
            if row is None:
                raise Unauthenticated("the API token is unknown, expired or revoked")
            return Caller(row["email"], row["id"], row["is_admin"], "api-token", row["is_verifier"])
        if self.oidc is None:
            raise Unauthenticated("this bearer token is not accepted here")
        claims = await self.oidc.claims(token)
        email = claims.get(self.email_claim)
        if not isinstance(email, str) or not email.strip():
            raise Unauthenticated(f"the bearer token has no {self.email_claim!r} claim")
        return await self._registered(email.strip(), "oidc")

    async def _registered(self, email: str, source: str) -> Caller:
        row = await accounts.caller_by_email(self.pool, email)
        if row is None:
            return Caller(email, None, False, source)
        return Caller(email, row["id"], row["is_admin"], source, row["is_verifier"])

    async def close(self) -> None:
        for verifier in (self.vouch, self.oidc):
            if verifier is not None and verifier.jwks is not None:
                await verifier.jwks.close()
