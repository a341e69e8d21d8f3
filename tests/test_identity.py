"""Identity sources (issue "Identity"): Vouch cookies (HS256, public key, JWKS), OIDC bearer
tokens against a real issuer on loopback, personal API tokens made by the CLI; every bad credential
is refused with 401 in the route's envelope."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import subprocess
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from identity.vouch import make_vouch_cookie, wrap_token
from nachet.config import ConfigError, load_settings
from testkit.identity_issuer import AUDIENCE, Issuer
from tests.conftest import SCHEMA, run_nachet

ROOT = Path(__file__).resolve().parent.parent
SECRET = "an-hs256-secret-of-at-least-32-bytes!"
CTX = "API Error retrieving user id for email None : "


def secured(data_root, **env) -> object:
    return load_settings({"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, **env}, dotenv=False)


@pytest.fixture
async def alice(storage):
    email = f"alice-{uuid.uuid4().hex[:8]}@example.org"
    return email, await storage.create_user(email)


@pytest.fixture(scope="module")
def issuer():
    server = Issuer()
    server.add_key("k1")
    yield server
    server.close()


async def user_id_answer(client, cookie=None, authorization=None):
    if cookie is not None:
        client.set_cookie("localhost", "jxVouchCookie", cookie)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.post("/get-user-id", headers=headers)
    return response.status_code, await response.get_json()


# -- Vouch cookie, HS256 ------------------------------------------------------------------------------
def hs_cookie(email, key=SECRET, **claims):
    claims.setdefault("exp", time.time() + 300)
    return make_vouch_cookie(email, key, **claims)


def gzip_bomb() -> str:
    return base64.urlsafe_b64encode(gzip.compress(b"a" * 5_000_000)).decode()


BAD_COOKIES = {
    "forged": (lambda e: hs_cookie(e, key="a-forger-key-that-is-also-32-bytes"), "is not valid"),
    "expired": (lambda e: hs_cookie(e, exp=time.time() - 120), "the session cookie has expired"),
    "not yet valid": (lambda e: hs_cookie(e, nbf=time.time() + 300), "the session cookie is not valid yet"),
    "no exp": (
        lambda e: wrap_token(jwt.encode({"CustomClaims": {"email": e}}, SECRET, algorithm="HS256")),
        'Token is missing the "exp" claim',
    ),
    "alg none": (
        lambda e: wrap_token(
            jwt.encode({"CustomClaims": {"email": e}, "exp": time.time() + 300}, None, algorithm="none")
        ),
        "is not valid",
    ),
    "no email": (
        lambda e: wrap_token(jwt.encode({"exp": time.time() + 300}, SECRET, algorithm="HS256")),
        "names no email",
    ),
    "not base64": (lambda e: "%%%not-base64", "malformed"),
    "not gzip": (lambda e: base64.urlsafe_b64encode(b"plain text").decode(), "malformed"),
    "not a JWT": (lambda e: wrap_token("not.a.jwt"), "is not valid"),
    "oversized": (lambda e: "A" * 20_000, "too large"),
    "gzip bomb": (lambda e: gzip_bomb(), "too large"),
}


@pytest.mark.filterwarnings("ignore:The .jxVouchCookie. cookie is too large")
@pytest.mark.parametrize("case", list(BAD_COOKIES))
async def test_bad_vouch_cookies_are_refused_with_401(case, client_for, services, data_root, alice):
    make, words = BAD_COOKIES[case]
    client = client_for(services, secured(data_root, NACHET_VOUCH_JWT_SECRET=SECRET))
    status, body = await user_id_answer(client, make(alice[0]))
    assert status == 401, body
    assert body[0].startswith(CTX) and words in body[0], body


async def test_a_valid_vouch_cookie_names_the_caller(client_for, services, data_root, alice):
    client = client_for(services, secured(data_root, NACHET_VOUCH_JWT_SECRET=SECRET))
    assert await user_id_answer(client, hs_cookie(alice[0])) == (200, {"user_id": str(alice[1])})
    client.cookie_jar.clear()
    status, body = await user_id_answer(client)
    assert status == 401 and "authentication required" in body[0]
    assert (await client.get("/health")).status_code == 200  # public
    listed = await client.get("/model-endpoints-metadata")  # a route without an error context of its own
    assert listed.status_code == 401
    assert (await listed.get_json())[0].startswith("API Error : authentication required")


async def test_issuer_and_audience_are_checked_when_configured(client_for, services, data_root, alice):
    config = secured(
        data_root, NACHET_VOUCH_JWT_SECRET=SECRET, NACHET_VOUCH_ISSUER="vouch", NACHET_VOUCH_AUDIENCE="nachet"
    )
    client = client_for(services, config)
    good = {"iss": "vouch", "aud": "nachet"}
    assert (await user_id_answer(client, hs_cookie(alice[0], **good)))[0] == 200
    for wrong, words in (
        ({"iss": "other", "aud": "nachet"}, "Invalid issuer"),
        ({"iss": "vouch", "aud": "other"}, "Audience doesn't match"),
        ({"aud": "nachet"}, '"iss"'),
    ):
        status, body = await user_id_answer(client, hs_cookie(alice[0], **wrong))
        assert status == 401 and words in body[0], body


async def test_unregistered_email_is_not_found_unless_auto_registered(client_for, services, data_root):
    email = f"new-{uuid.uuid4().hex[:8]}@example.org"
    client = client_for(services, secured(data_root, NACHET_VOUCH_JWT_SECRET=SECRET))
    assert await user_id_answer(client, hs_cookie(email)) == (
        400,
        [f"Datastore Error retrieving user id for email {email} : User not found"],
    )
    auto = client_for(
        services, secured(data_root, NACHET_VOUCH_JWT_SECRET=SECRET, NACHET_AUTO_REGISTER="true")
    )
    status, body = await user_id_answer(auto, hs_cookie(email))
    assert status == 200
    assert str(await services.storage.get_user_id(email)) == body["user_id"]
    assert await user_id_answer(auto, hs_cookie(email)) == (200, body)  # once only


# -- Vouch cookie, public key ------------------------------------------------------------------------
async def test_rs256_public_key_and_no_algorithm_confusion(client_for, services, data_root, alice):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    client = client_for(services, secured(data_root, NACHET_VOUCH_JWT_PUBLIC_KEY=public_pem))
    claims = {"CustomClaims": {"email": alice[0]}, "exp": time.time() + 300}
    good = wrap_token(jwt.encode(claims, private, algorithm="RS256"))
    assert await user_id_answer(client, good) == (200, {"user_id": str(alice[1])})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, _ = await user_id_answer(client, wrap_token(jwt.encode(claims, other, algorithm="RS256")))
    assert status == 401
    # HS256 signed with the public key as the secret: the classic confusion attack
    forged = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    signature = hmac.new(public_pem.encode(), f"{forged}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{forged}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    status, body = await user_id_answer(client, wrap_token(token))
    assert status == 401 and "alg" in body[0], body


# -- Vouch cookie and OIDC bearer against a JWKS on loopback ----------------------------------------
def es_cookie(issuer: Issuer, kid: str, email: str) -> str:
    return wrap_token(issuer.token(kid, email=None, CustomClaims={"email": email}))


async def test_jwks_key_rotation_fetches_a_new_kid_once(client_for, services, data_root, alice):
    issuer = Issuer()
    try:
        issuer.add_key("old")
        config = secured(
            data_root, NACHET_VOUCH_JWKS_URL=f"{issuer.url}/jwks.json", NACHET_JWKS_MIN_REFRESH="0"
        )
        client = client_for(services, config)
        assert (await user_id_answer(client, es_cookie(issuer, "old", alice[0])))[0] == 200
        assert issuer.fetches == 1
        for _ in range(20):
            assert (await user_id_answer(client, es_cookie(issuer, "old", alice[0])))[0] == 200
        assert issuer.fetches == 1  # cached
        issuer.add_key("new")  # rotation: published, then used
        for _ in range(5):
            assert (await user_id_answer(client, es_cookie(issuer, "new", alice[0])))[0] == 200
        assert issuer.fetches == 2
        issuer.add_key("unpublished", publish=False)
        for _ in range(50):
            status, body = await user_id_answer(client, es_cookie(issuer, "unpublished", alice[0]))
            assert status == 401 and "unknown key" in body[0]
        assert issuer.fetches == 3  # asked once about that kid, then refused from memory
    finally:
        issuer.close()


async def test_a_thousand_requests_with_unknown_kids_fetch_the_jwks_at_most_twice(
    client_for, services, data_root, alice, issuer
):
    issuer.add_key("k-bomb", publish=False)
    config = secured(data_root, NACHET_VOUCH_JWKS_URL=f"{issuer.url}/jwks.json")
    client = client_for(services, config)
    before = issuer.fetches
    good, statuses = es_cookie(issuer, "k1", alice[0]), []
    for i in range(1000):
        if i % 2:
            token = issuer.token("k-bomb", email=None, CustomClaims={"email": alice[0]})
            forged = jwt.encode(
                jwt.decode(token, options={"verify_signature": False}),
                issuer.private["k-bomb"],
                algorithm="ES256",
                headers={"kid": f"random-{i}"},
            )
            statuses.append((await user_id_answer(client, wrap_token(forged)))[0])
        else:
            statuses.append((await user_id_answer(client, good))[0])
    assert statuses.count(200) == 500 and statuses.count(401) == 500
    print(f"\nJWKS fetches for 1000 requests (500 valid, 500 with unknown kids): {issuer.fetches - before}")
    assert issuer.fetches - before <= 2


async def test_oidc_bearer_tokens_via_discovery(client_for, services, data_root, alice, issuer):
    config = secured(data_root, NACHET_OIDC_ISSUER=issuer.url, NACHET_OIDC_AUDIENCE=AUDIENCE)
    client = client_for(services, config)
    ok = await user_id_answer(client, authorization=f"Bearer {issuer.token('k1', alice[0])}")
    assert ok == (200, {"user_id": str(alice[1])})
    assert issuer.discoveries >= 1
    cases = {
        "wrong audience": issuer.token("k1", alice[0], aud="another-api"),
        "wrong issuer": issuer.token("k1", alice[0], iss="https://evil.example"),
        "expired": issuer.token("k1", alice[0], exp=int(time.time()) - 120),
        "not yet valid": issuer.token("k1", alice[0], nbf=int(time.time()) + 300),
        "no email": issuer.token("k1", None),
        "HS256 with a guessable key": jwt.encode(
            {"iss": issuer.url, "aud": AUDIENCE, "exp": time.time() + 60, "email": alice[0]},
            "x" * 32,
            algorithm="HS256",
            headers={"kid": "k1"},
        ),
        "malformed": "abc.def",
        "oversized": "a" * 20_000,
    }
    for case, token in cases.items():
        status, body = await user_id_answer(client, authorization=f"Bearer {token}")
        assert status == 401 and body[0].startswith(CTX), (case, body)
    for header in ("Basic YWxpY2U6cHc=", "Bearer", "Bearer "):
        assert (await user_id_answer(client, authorization=header))[0] == 401


async def test_the_email_claim_is_configurable(client_for, services, data_root, alice, issuer):
    config = secured(
        data_root,
        NACHET_OIDC_ISSUER=issuer.url,
        NACHET_OIDC_AUDIENCE=AUDIENCE,
        NACHET_OIDC_JWKS_URL=f"{issuer.url}/jwks.json",
        NACHET_OIDC_EMAIL_CLAIM="preferred_username",
    )
    client = client_for(services, config)
    token = issuer.token("k1", None, preferred_username=alice[0])
    assert await user_id_answer(client, authorization=f"Bearer {token}") == (200, {"user_id": str(alice[1])})


async def test_identity_provider_down_is_503_not_401(client_for, services, data_root, alice):
    issuer = Issuer()
    issuer.add_key("k")
    token = issuer.token("k", alice[0])
    url = issuer.url
    issuer.close()  # nothing listens there any more
    config = secured(data_root, NACHET_OIDC_ISSUER=url, NACHET_OIDC_AUDIENCE=AUDIENCE)
    status, body = await user_id_answer(client_for(services, config), authorization=f"Bearer {token}")
    assert status == 503 and "signing keys could not be fetched" in body[0]


# -- personal API tokens through the CLI --------------------------------------------------------------
def cli(db_url, data_root, *args) -> subprocess.CompletedProcess:
    return run_nachet(
        {"NACHET_DB_URL": db_url, "NACHET_SCHEMA": SCHEMA, "NACHET_DATA_DIR": str(data_root)}, *args
    )


async def test_api_tokens_from_the_cli_work_until_revoked(client_for, services, data_root, db_url, alice):
    made = await asyncio.to_thread(cli, db_url, data_root, "tokens", "create", alice[0], "--name", "lab-pc")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("nachet_") and len(token) > 40
    async with services.pool.acquire() as conn:  # only a hash is stored
        stored = await conn.fetch("SELECT token_hash FROM api_token")
    assert all(token.encode() not in bytes(row["token_hash"]) for row in stored)
    listed = await asyncio.to_thread(cli, db_url, data_root, "tokens", "list", alice[0])
    assert "lab-pc" in listed.stdout and token not in listed.stdout
    token_id = listed.stdout.split()[0]

    client = client_for(services, secured(data_root, NACHET_API_TOKENS="true"))
    assert await user_id_answer(client, authorization=f"Bearer {token}") == (200, {"user_id": str(alice[1])})
    status, _ = await user_id_answer(client, authorization=f"Bearer {token[:-2]}xx")
    assert status == 401
    revoked = await asyncio.to_thread(cli, db_url, data_root, "tokens", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    status, body = await user_id_answer(client, authorization=f"Bearer {token}")  # at once: no cache
    assert status == 401 and "unknown, expired or revoked" in body[0]
    again = await asyncio.to_thread(cli, db_url, data_root, "tokens", "revoke", token_id)
    assert again.returncode == 1 and "no live token" in again.stderr


async def test_expired_api_tokens_are_refused(client_for, services, data_root, alice):
    from identity.api_tokens import create_token

    _, token = await create_token(services.pool, alice[0], "short", expires_days=-1)
    client = client_for(services, secured(data_root, NACHET_API_TOKENS="true"))
    status, _ = await user_id_answer(client, authorization=f"Bearer {token}")
    assert status == 401


async def test_cli_refuses_tokens_for_unknown_users_and_bad_expiry(data_root, db_url):
    unknown = await asyncio.to_thread(cli, db_url, data_root, "tokens", "create", "nobody@example.org")
    assert unknown.returncode == 1 and "no user nobody@example.org" in unknown.stderr
    bad = await asyncio.to_thread(
        cli, db_url, data_root, "tokens", "create", "x@example.org", "--expires", "-3"
    )
    assert bad.returncode == 1 and "--expires" in bad.stderr


# -- configuration --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "env,words",
    [
        ({"NACHET_VOUCH_JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"NACHET_VOUCH_JWT_SECRET": SECRET, "NACHET_VOUCH_JWKS_URL": "http://x/j"}, "set only one of"),
        ({"NACHET_OIDC_ISSUER": "https://login.example"}, "set together"),
        ({"NACHET_OIDC_JWKS_URL": "file:///etc/passwd"}, "http(s)://"),
        ({"NACHET_RATE_LIMIT_INF": "sixty"}, "<count>/<second|minute|hour|day>"),
    ],
)
def test_identity_settings_are_checked(env, words):
    with pytest.raises(ConfigError) as error:
        load_settings(env, dotenv=False)
    assert words in str(error.value)


def test_secured_mode_is_on_with_any_source():
    assert not load_settings({}, dotenv=False).secured
    assert load_settings({"NACHET_API_TOKENS": "1"}, dotenv=False).secured
    assert load_settings({"NACHET_VOUCH_JWT_SECRET": SECRET}, dotenv=False).secured
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert load_settings({"NACHET_VOUCH_JWT_PUBLIC_KEY": pem.decode()}, dotenv=False).secured


async def test_admin_role_from_the_cli(data_root, db_url, services):
    email = f"op-{uuid.uuid4().hex[:8]}@example.org"
    added = await asyncio.to_thread(cli, db_url, data_root, "users", "add", email, "--admin")
    assert added.returncode == 0, added.stderr
    listed = await asyncio.to_thread(cli, db_url, data_root, "users", "list")
    assert f"{email}  folders=1" in listed.stdout and listed.stdout.split(email)[1].splitlines()[0].endswith(
        "admin"
    )
    revoked = await asyncio.to_thread(cli, db_url, data_root, "users", "revoke-admin", email)
    assert revoked.returncode == 0 and "no longer an administrator" in revoked.stdout
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT is_admin FROM users WHERE email = $1", email) is False
    granted = await asyncio.to_thread(cli, db_url, data_root, "users", "grant-admin", email)
    assert granted.returncode == 0
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT is_admin FROM users WHERE email = $1", email) is True
    unknown = await asyncio.to_thread(cli, db_url, data_root, "users", "grant-admin", "ghost@example.org")
    assert unknown.returncode == 1 and "no user ghost@example.org" in unknown.stderr
