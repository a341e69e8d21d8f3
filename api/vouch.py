"""The Vouch SSO cookie (`jxVouchCookie`): url-safe base64 of a gzipped JWT (spec §10).

With NACHET_VOUCH_JWT_SECRET (HS256) or NACHET_VOUCH_JWT_PUBLIC_KEY (RS256/ES256) configured, the
signature and expiry are verified; without either, the token is decoded unverified as the
original did (development only; a warning is logged at start-up).
"""

from __future__ import annotations

import base64
import gzip

import jwt

COOKIE = "jxVouchCookie"


class ForgedCookie(Exception):
    pass


def decode_vouch_cookie(value: str, secret: str | None = None, public_key: str | None = None) -> dict:
    raw = base64.urlsafe_b64decode(value)  # binascii.Error (a ValueError) on bad padding
    token = gzip.decompress(raw).decode("utf-8")
    if secret or public_key:
        try:
            return jwt.decode(
                token,
                key=secret or public_key or "",
                algorithms=["HS256"] if secret else ["RS256", "ES256"],
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as error:
            raise ForgedCookie("the session cookie has expired") from error
        except jwt.InvalidTokenError as error:
            raise ForgedCookie(f"the session cookie is not valid: {error}") from error
    return jwt.decode(token, algorithms=["HS256"], options={"verify_signature": False})


def make_vouch_cookie(email: str, secret: str = "nachet-development-only-secret-32b", **claims) -> str:
    """A cookie as Vouch writes it (for tests and local tooling)."""
    token = jwt.encode({"CustomClaims": {"email": email}, **claims}, secret, algorithm="HS256")
    return base64.urlsafe_b64encode(gzip.compress(token.encode())).decode()
