"""Verifying a signed JWT: against an HS256 secret, a PEM public key, or an issuer's JWKS.

PyJWT does the cryptography; this module only chooses the key and the checks: `exp` always
required, `nbf` honoured, `iss` and `aud` when configured, algorithms fixed per key kind (so a
public key can never be used as an HMAC secret, and `alg: none` is never accepted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jwt

from kernel.errors import Unauthenticated

from .jwks import JwksKeys

ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
MAX_TOKEN_CHARS = 16 * 1024


@dataclass
class TokenVerifier:
    what: str  # "the session cookie", "the bearer token": named in every refusal
    secret: str | None = None
    public_key: str | None = None
    jwks: JwksKeys | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_s: float = 10.0
    _algorithms: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self._algorithms = ["HS256"] if self.secret else ASYMMETRIC

    async def claims(self, token: str) -> dict:
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated(f"{self.what} is too large")
        try:
            key = await self._key(token)
            required = ["exp"] + (["iss"] if self.issuer else []) + (["aud"] if self.audience else [])
            return jwt.decode(
                token,
                key=key,
                algorithms=self._algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated(f"{self.what} has expired") from error
        except jwt.ImmatureSignatureError as error:
            raise Unauthenticated(f"{self.what} is not valid yet") from error
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"{self.what} is not valid: {error}") from error

    async def _key(self, token: str):
        if self.jwks is None:
            return self.secret or self.public_key
        header = jwt.get_unverified_header(token)  # DecodeError (an InvalidTokenError) if malformed
        if header.get("alg") not in self._algorithms:
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        kid = header.get("kid")
        return await self.jwks.key(kid if isinstance(kid, str) else None)
