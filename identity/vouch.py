"""The Vouch SSO cookie (`jxVouchCookie`): url-safe base64 of a gzipped JWT (spec §10)."""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import zlib

import jwt

COOKIE = "jxVouchCookie"
MAX_TOKEN_BYTES = 16 * 1024  # far above any real token; refuses gzip bombs and junk early


class MalformedCookie(ValueError):
    pass


def cookie_token(value: str) -> str:
    """The JWT inside a cookie, decompressed with a bound on its size."""
    if len(value) > MAX_TOKEN_BYTES:
        raise MalformedCookie("the session cookie is too large")
    try:
        raw = base64.urlsafe_b64decode(value)
        inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        token = inflate.decompress(raw, MAX_TOKEN_BYTES)
        if inflate.unconsumed_tail:
            raise MalformedCookie("the session cookie is too large")
        return token.decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as error:
        if isinstance(error, MalformedCookie):
            raise
        raise MalformedCookie(f"the session cookie is malformed ({error})") from error


def unverified_cookie_claims(value: str) -> dict:
    """The claims as the original read them, without any check (unsecured mode only). Errors
    are the original's: base64 padding, gzip and JWT decoding errors; but the token is read up
    to MAX_TOKEN_BYTES only (the original inflated a gzip bomb whole): past it, MalformedCookie."""
    with gzip.GzipFile(fileobj=io.BytesIO(base64.urlsafe_b64decode(value))) as unzipped:
        raw = unzipped.read(MAX_TOKEN_BYTES + 1)
        if len(raw) > MAX_TOKEN_BYTES:
            raise MalformedCookie("the session cookie is too large")
        unzipped.read(1)  # to the end: a truncated stream fails as gzip.decompress fails (EOFError)
    return jwt.decode(raw.decode("utf-8"), algorithms=["HS256"], options={"verify_signature": False})


def cookie_email(claims: dict) -> str | None:
    custom = claims.get("CustomClaims")
    email = custom.get("email") if isinstance(custom, dict) else None
    return email if isinstance(email, str) and email.strip() else None


def wrap_token(token: str) -> str:
    """A signed JWT as Vouch puts it in its cookie."""
    return base64.urlsafe_b64encode(gzip.compress(token.encode())).decode()


def make_vouch_cookie(email: str, secret: str = "nachet-development-only-secret-32b", **claims) -> str:
    """An HS256 cookie as Vouch writes it (for tests and local tooling)."""
    return wrap_token(jwt.encode({"CustomClaims": {"email": email}, **claims}, secret, algorithm="HS256"))
