"""/health, /get-user-id, /seeds, /seed-data, /reload-seed-data, CORS and the body limit."""

import pytest

from identity.vouch import make_vouch_cookie
from nachet.config import load_settings
from tests.conftest import SCHEMA


async def test_health(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert await response.get_data(as_text=True) == "ok"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


async def test_unknown_path_and_wrong_method_answer_the_envelope(client):
    """JSON like every other refusal (the original answered Quart's HTML pages), 405 with Allow."""
    response = await client.get("/nope")
    assert response.status_code == 404 and await response.get_json() == [
        "API Error : GET /nope: no such route"
    ]
    response = await client.get("/get-directories")
    assert response.status_code == 405 and response.headers["Allow"] and "POST" in response.headers["Allow"]
    assert await response.get_json() == ["API Error : GET /get-directories: method not allowed"]
    response = await client.get("/test")  # outside NACHET_ENV local and test
    assert response.status_code == 404 and (await response.get_json())[0].startswith("API Error")


async def test_get_user_id_default_account(client, storage):
    await storage.ensure_user("example@gmail.com")
    response = await client.post("/get-user-id")
    assert response.status_code == 200
    assert await response.get_json() == {"user_id": str(await storage.get_user_id("example@gmail.com"))}


async def test_get_user_id_from_cookie(client, storage, user):
    email = (await storage.list_users())[-1]["email"]
    client.set_cookie("localhost", "jxVouchCookie", make_vouch_cookie(email))
    response = await client.post("/get-user-id")
    assert (await response.get_json())["user_id"] == str(await storage.get_user_id(email))


async def test_get_user_id_errors(client):
    client.set_cookie("localhost", "jxVouchCookie", make_vouch_cookie("nobody@example.org"))
    response = await client.post("/get-user-id")
    assert response.status_code == 400
    assert await response.get_json() == [
        "Datastore Error retrieving user id for email nobody@example.org : User not found"
    ]
    client.set_cookie("localhost", "jxVouchCookie", "abc")
    assert await (await client.post("/get-user-id")).get_json() == [
        "API Error retrieving user id for email None : Incorrect padding"
    ]
    import base64
    import gzip

    import jwt

    no_claims = base64.urlsafe_b64encode(
        gzip.compress(jwt.encode({"x": 1}, "k" * 32, "HS256").encode())
    ).decode()
    client.set_cookie("localhost", "jxVouchCookie", no_claims)
    assert await (await client.post("/get-user-id")).get_json() == [
        "API Error retrieving user id for email None : 'CustomClaims'"
    ]
    client.set_cookie("localhost", "jxVouchCookie", base64.urlsafe_b64encode(b"not gzip").decode())
    assert await (await client.post("/get-user-id")).get_json() == [
        "Unhandled API error : Error retrieving user id for email None"
    ]


@pytest.fixture
def verifying_settings(data_root):
    return load_settings(
        {
            "NACHET_DATA_DIR": str(data_root),
            "NACHET_SCHEMA": SCHEMA,
            "NACHET_VOUCH_JWT_SECRET": "the-real-secret-of-at-least-32-bytes",
        },
        dotenv=False,
    )


async def test_forged_or_expired_cookie_is_refused_when_verification_is_on(
    client_for, services, verifying_settings
):
    import time

    await services.storage.ensure_user("example@gmail.com")
    client = client_for(services, verifying_settings)
    client.set_cookie(
        "localhost",
        "jxVouchCookie",
        make_vouch_cookie("example@gmail.com", "a-forger-key-that-is-32-bytes-long", exp=time.time() + 60),
    )
    response = await client.post("/get-user-id")
    assert response.status_code == 401
    assert (await response.get_json()) == [
        "API Error retrieving user id for email None : the session cookie is not valid: "
        "Signature verification failed"
    ]
    client.set_cookie(
        "localhost",
        "jxVouchCookie",
        make_vouch_cookie("example@gmail.com", "the-real-secret-of-at-least-32-bytes", exp=time.time() - 60),
    )
    assert await (await client.post("/get-user-id")).get_json() == [
        "API Error retrieving user id for email None : the session cookie has expired"
    ]
    client.set_cookie(
        "localhost",
        "jxVouchCookie",
        make_vouch_cookie("example@gmail.com", "the-real-secret-of-at-least-32-bytes", exp=time.time() + 60),
    )
    assert (await client.post("/get-user-id")).status_code == 200


async def test_local_mode_reads_the_email_from_the_body(client_for, services, data_root, storage, user):
    local = load_settings(
        {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "NACHET_ENV": "local"}, dotenv=False
    )
    client = client_for(services, local)
    email = (await storage.list_users())[-1]["email"]
    response = await client.post("/get-user-id", json={"email": email})
    assert (await response.get_json())["user_id"] == str(await storage.get_user_id(email))
    response = await client.post("/get-user-id", data="x")
    assert await response.get_json() == ["Unhandled API error : Error retrieving user id for email None"]


async def test_seeds(client):
    body = await (await client.get("/seeds")).get_json()
    names = [s["seed_name"] for s in body["seeds"]]
    assert "Ambrosia artemisiifolia" in names and "Unknown seed" in names
    assert set(body["seeds"][0]) == {"seed_id", "seed_name"}


async def test_seed_data_for_real_seed_names(client):
    response = await client.get("/seed-data/Brassica napus")
    assert response.status_code == 200
    assert (await response.get_json())["seed_name"] == "Brassica napus"
    assert isinstance(await (await client.get("/seed-data/seeds")).get_json(), list)
    response = await client.get("/seed-data/Martian bean")
    assert response.status_code == 400
    assert await response.get_json() == "No information found for Martian bean."


async def test_reload_seed_data_from_the_database(client):
    response = await client.get("/reload-seed-data")
    assert await response.get_json() == ["Seed data reloaded successfully"]
    assert (await (await client.get("/seed-data/Lolium temulentum")).get_json())[
        "seed_name"
    ] == "Lolium temulentum"


async def test_reload_seed_data_from_nachet_data(client_for, services, data_root):
    """A real HTTP server on loopback serves seeds/all.json."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"Brassica napus": {"about": "canola", "family": "Brassicaceae"}}).encode()
            self.send_response(200 if self.path == "/seeds/all.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = load_settings(
            {
                "NACHET_DATA_DIR": str(data_root),
                "NACHET_SCHEMA": SCHEMA,
                "NACHET_DATA": f"http://127.0.0.1:{server.server_port}",
            },
            dotenv=False,
        )
        client = client_for(services, config)
        assert await (await client.get("/reload-seed-data")).get_json() == ["Seed data reloaded successfully"]
        assert await (await client.get("/seed-data/Brassica napus")).get_json() == {
            "about": "canola",
            "family": "Brassicaceae",
        }
        config = load_settings(
            {
                "NACHET_DATA_DIR": str(data_root),
                "NACHET_SCHEMA": SCHEMA,
                "NACHET_DATA": f"http://127.0.0.1:{server.server_port}/missing",
            },
            dotenv=False,
        )
        response = await client_for(services, config).get("/reload-seed-data")
        assert response.status_code == 400
        assert (await response.get_json())[0].startswith(
            "Unhandled API error : An error happend when reloading the seed data: "
        )
    finally:
        server.shutdown()
        await client_for(services).get("/reload-seed-data")  # back to the database's records


async def test_cors_preflight(client_for, services, data_root):
    config = load_settings(
        {
            "NACHET_DATA_DIR": str(data_root),
            "NACHET_SCHEMA": SCHEMA,
            "NACHET_FRONTEND_PUBLIC_URL": "https://nachet.example,https://other.example",
        },
        dotenv=False,
    )
    client = client_for(services, config)
    headers = {
        "Origin": "https://nachet.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "access-control-allow-origin,content-type",
    }
    response = await client.options("/get-directories", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://nachet.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert response.headers["access-control-max-age"] == "86400"
    assert "content-type" in response.headers["access-control-allow-headers"]
    response = await client.options("/get-directories", headers={**headers, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    answer = await client.get("/health", headers={"Origin": "https://nachet.example"})
    assert answer.headers["access-control-expose-headers"] == "X-Request-ID, Retry-After"


async def test_body_limit_is_enforced_before_reading(client_for, services, data_root):
    config = load_settings(
        {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "NACHET_MAX_CONTENT_LENGTH": "1"},
        dotenv=False,
    )
    client = client_for(services, config)
    response = await client.post("/image-validation", json={"image": "x" * (1024 * 1024 + 10)})
    assert response.status_code == 413
    assert await response.get_json() == ["API Error validating image : request body larger than 1 MB"]
