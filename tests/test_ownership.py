"""Secured mode, route by route: who gets what (issue "Identity").

For every route and each kind of caller: nobody, a forged cookie, a user on their own data, the
same user naming another user (their id, or their data's ids under the caller's own id), and an
admin acting for that other user. Refusals must leave the database exactly as it was.
`pytest -s tests/test_ownership.py` prints the table measured.
"""

from __future__ import annotations

import time
import uuid

import pytest

from datastore.queries import users
from identity.vouch import make_vouch_cookie
from nachet.config import load_settings
from tests.conftest import SCHEMA, data_url, png_bytes
from tests.test_inference import inf_body, model_server, pipelines  # noqa: F401 (fixtures)
from tests.test_storage import detected

SECRET = "the-matrix-secret-of-at-least-32-bytes"
CASES = ("no caller", "forged", "own data", "other's id", "other's data ids", "admin on other's")
NA = "-"


def cookie(email: str, key: str = SECRET) -> str:
    return make_vouch_cookie(email, key, exp=time.time() + 600)


async def world(storage, user_id, pipeline: str) -> dict:
    """A folder with a labelled picture, an empty batch folder, an inference and a job
    classifying the folder, for `user_id`."""
    folder = await storage.create_picture_set(user_id, 0, f"f-{uuid.uuid4().hex[:8]}")
    batch = await storage.create_picture_set(user_id, 2, f"b-{uuid.uuid4().hex[:8]}")
    (picture,) = await storage.upload_pictures(user_id, folder, [png_bytes()], seed_name="Brassica napus")
    inference = await storage.save_inference(user_id, None, png_bytes(), detected("Brassica napus"), None)
    job = await storage.create_folder_job(user_id, str(folder), pipeline)
    async with storage.pool.acquire() as conn:
        inferred = await conn.fetchval(
            "SELECT picture_id FROM inference WHERE id = $1", inference["inference_id"]
        )
        example = await conn.fetchval(  # what the learning task stores for the labelled picture
            """INSERT INTO seed_example (seed_id, features, source, picture_id, crop)
               SELECT id, '\\x00000000'::bytea, 'upload', $1, '{"topX": 0.1, "topY": 0.1,
                      "bottomX": 0.6, "bottomY": 0.9}'::json FROM seed WHERE name = 'Brassica napus'
               RETURNING id""",
            picture,
        )
    return {
        "example": example,
        "inferred": str(inferred),
        "folder": str(folder),
        "batch": str(batch),
        "picture": str(picture),
        "inference": inference,
        "job": str(job),
    }


def requests_for(pipeline: str):
    """route -> body(user, data): the request naming `user` and `data` (None: not applicable)."""

    def box_ids(data):
        return [{"boxId": box["box_id"]} for box in data["inference"]["boxes"]]

    def corrected(data):
        return [
            {"boxId": b["box_id"], "box": b["box"], "label": "Bromus secalinus", "classId": ""}
            for b in data["inference"]["boxes"]
        ]

    return {
        "POST /get-user-id": lambda u, d: {},
        "POST /inf": lambda u, d: inf_body(pipeline, u, folder_name=d["folder"]),
        "POST /image-validation": lambda u, d: {"image": data_url(png_bytes())},
        "GET /model-endpoints-metadata": lambda u, d: None,
        "GET /seeds": lambda u, d: None,
        "GET /seed-data/Brassica napus": lambda u, d: None,
        "GET /reload-seed-data": lambda u, d: None,
        "POST /create-dir": lambda u, d: {
            "container_name": str(u),
            "folder_name": f"n-{uuid.uuid4().hex[:6]}",
        },
        "POST /get-directories": lambda u, d: {"container_name": str(u)},
        "POST /dir": lambda u, d: {"container_name": str(u)},
        "POST /get-picture": lambda u, d: {"container_name": str(u), "picture_id": d["picture"]},
        "POST /delete-request": lambda u, d: {"container_name": str(u), "folder_uuid": d["folder"]},
        "POST /delete-permanently": lambda u, d: {"container_name": str(u), "folder_uuid": d["folder"]},
        "POST /delete-with-archive": lambda u, d: {"container_name": str(u), "folder_uuid": d["folder"]},
        "POST /feedback-positive": lambda u, d: {
            "userId": str(u),
            "inferenceId": d["inference"]["inference_id"],
            "boxes": box_ids(d),
        },
        "POST /feedback-negative": lambda u, d: {
            "userId": str(u),
            "inferenceId": d["inference"]["inference_id"],
            "boxes": corrected(d),
        },
        "POST /new-batch-import": lambda u, d: {"container_name": str(u), "nb_pictures": 2},
        "POST /upload-picture": lambda u, d: {
            "container_name": str(u),
            "session_id": d["batch"],
            "seed_name": "Brassica napus",
            "image": data_url(png_bytes()),
        },
        "POST /del": lambda u, d: {"container_name": str(u), "folder_name": d["folder"]},
        "GET /health": lambda u, d: None,
        "GET /test": lambda u, d: None,
        "POST /jobs/classify-folder": lambda u, d: {
            "container_name": str(u),
            "folder": d["folder"],
            "model_name": pipeline,
        },
        "GET /jobs/{job}": lambda u, d: None,
        "POST /jobs/{job}/cancel": lambda u, d: {},
        "POST /get-picture-annotated": lambda u, d: {"container_name": str(u), "picture_id": d["inferred"]},
        "GET /examples/{example}/image": lambda u, d: None,
        "GET /examples": lambda u, d: None,
        "PUT /folders/{folder}/sample": lambda u, d: {"container_name": str(u), "weight_g": 25},
        "GET /folders/{folder}/report": lambda u, d: None,
        "POST /examples/accept": lambda u, d: {"ids": [d["example"]]},
        "POST /examples/reject": lambda u, d: {"ids": [d["example"]]},
        "GET /ready": lambda u, d: None,
        "GET /version": lambda u, d: None,
        "GET /metrics": lambda u, d: None,
        "GET /openapi.json": lambda u, d: None,
        "GET /docs": lambda u, d: None,
        "GET /docs/swagger-ui.css": lambda u, d: None,
    }


# What each route answers; NA where the case cannot be expressed (no user or data in the request).
EXPECTED = {
    "POST /get-user-id": (401, 401, 200, NA, NA, 200),
    "POST /inf": (401, 401, 200, 403, 403, 200),
    "POST /image-validation": (401, 401, 200, NA, NA, 200),
    "GET /model-endpoints-metadata": (401, 401, 200, NA, NA, 200),
    "GET /seeds": (401, 401, 200, NA, NA, 200),
    "GET /seed-data/Brassica napus": (401, 401, 200, NA, NA, 200),
    "GET /reload-seed-data": (401, 401, 403, NA, NA, 200),  # admin only: changes what everyone sees
    "POST /create-dir": (401, 401, 200, 403, NA, 200),
    "POST /get-directories": (401, 401, 200, 403, NA, 200),
    "POST /dir": (401, 401, 200, 403, NA, 200),
    "POST /get-picture": (401, 401, 200, 403, 403, 200),
    "POST /delete-request": (401, 401, 200, 403, 403, 200),
    "POST /delete-permanently": (401, 401, 200, 403, 403, 200),
    "POST /delete-with-archive": (401, 401, 200, 403, 403, 200),
    "POST /feedback-positive": (401, 401, 200, 403, 403, 200),
    "POST /feedback-negative": (401, 401, 200, 403, 403, 200),
    "POST /new-batch-import": (401, 401, 200, 403, NA, 200),
    "POST /upload-picture": (401, 401, 200, 403, 403, 200),
    "POST /del": (401, 401, 200, 403, 403, 200),
    "GET /health": (200, 200, 200, NA, NA, 200),
    "GET /test": (401, 401, 403, NA, NA, 200),  # the test hook (NACHET_ENV=test): admin only
    "POST /jobs/classify-folder": (401, 401, 202, 403, 403, 202),
    "GET /jobs/{job}": (401, 401, 200, 403, NA, 200),  # "other's id": the other user's job
    "POST /jobs/{job}/cancel": (401, 401, 200, 403, NA, 200),
    "POST /get-picture-annotated": (401, 401, 200, 403, 403, 200),
    "GET /examples/{example}/image": (401, 401, 200, 403, NA, 200),  # "other's id": their example
    "GET /examples": (401, 401, 200, NA, NA, 200),  # a user's own; a verifier's or admin's: everyone's
    "PUT /folders/{folder}/sample": (401, 401, 200, 403, 403, 200),
    "GET /folders/{folder}/report": (401, 401, 200, 403, NA, 200),  # "other's id": their folder
    "POST /examples/accept": (401, 401, 403, NA, NA, 200),  # verifiers and admins only
    "POST /examples/reject": (401, 401, 403, NA, NA, 200),
    # what operators and orchestrators ask: no user data, answered to anyone
    "GET /ready": (200, 200, 200, NA, NA, 200),
    "GET /version": (200, 200, 200, NA, NA, 200),
    "GET /metrics": (401, 401, 403, NA, NA, 200),  # an admin, or the scraper's token (below)
    "GET /openapi.json": (200, 200, 200, NA, NA, 200),
    "GET /docs": (200, 200, 200, NA, NA, 200),
    "GET /docs/swagger-ui.css": (200, 200, 200, NA, NA, 200),
}
PATH_EXAMPLES = {
    "<folder_id>": "{folder}",
    "<int:example_id>": "{example}",
    "<uuid:job_id>": "{job}",
    "<seed_name>": "Brassica napus",
    "<name>": "swagger-ui.css",
}

FINGERPRINT = """SELECT md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM users t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM picture_set t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM picture t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM picture_seed t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM inference t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM object t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM seed_obj t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM folder_job t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM folder_job_item t)))"""


@pytest.fixture
async def people(storage, services):
    tag = uuid.uuid4().hex[:8]
    emails = {who: f"{who}-{tag}@example.org" for who in ("alice", "bob", "root", "archive")}
    ids = {who: await storage.create_user(email) for who, email in emails.items()}
    async with services.pool.acquire() as conn:
        await users.set_admin(conn, emails["root"], True)
    return emails, ids


async def test_every_route_answers_each_kind_of_caller(
    client_for,
    services,
    storage,
    data_root,
    people,
    pipelines,  # noqa: F811
    capsys,
):
    emails, ids = people
    config = load_settings(
        {
            "NACHET_DATA_DIR": str(data_root),
            "NACHET_SCHEMA": SCHEMA,
            "NACHET_ENV": "test",
            "NACHET_VOUCH_JWT_SECRET": SECRET,
            "NACHET_RATE_LIMIT_INF": "off",
            "DEV_USER_EMAIL": emails["archive"],
        },
        dotenv=False,
    )
    client = client_for(services, config)
    services.models_warm.set()  # as start-up does once the built-in models are loaded
    routes = requests_for(pipelines["swin"])
    served = set()  # every route the app has is in the matrix: a new one cannot be left out
    for rule in client.app.url_map.iter_rules():
        path = rule.rule
        for pattern, example in PATH_EXAMPLES.items():
            path = path.replace(pattern, example)
        served |= {f"{m} {path}" for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert served - {"GET /static/<path:filename>"} == set(EXPECTED) == set(routes)
    measured: dict[str, list] = {}
    for route, body_of in routes.items():
        method, path = route.split(" ", 1)
        row = []
        for case, expected in zip(CASES, EXPECTED[route], strict=True):
            if expected == NA:
                row.append(NA)
                continue
            caller = {"forged": None, "admin on other's": "root"}.get(case, "alice")
            target = "alice" if case in ("no caller", "forged", "own data") else "bob"
            data = await world(storage, ids[target], pipelines["swin"])
            container = ids["alice"] if case == "other's data ids" else ids[target]
            client.cookie_jar.clear()
            if case == "forged":
                client.set_cookie(
                    "localhost", "jxVouchCookie", cookie(emails["bob"], "a-forged-key-of-32-bytes-or-more!")
                )
            elif case != "no caller":
                client.set_cookie("localhost", "jxVouchCookie", cookie(emails[caller]))
            body = body_of(container, data)
            async with services.pool.acquire() as conn:
                before = await conn.fetchval(FINGERPRINT)
            if method == "GET":
                response = await client.get(path.format(**data))
            else:
                response = await getattr(client, method.lower())(path.format(**data), json=body)
            answer = await response.get_json()
            row.append(response.status_code)
            if response.status_code in (401, 403):
                async with services.pool.acquire() as conn:
                    assert await conn.fetchval(FINGERPRINT) == before, (route, case, "wrote something")
                assert isinstance(answer, list) and answer[0].startswith(("API Error", "Datastore Error")), (
                    answer
                )
            assert response.status_code == expected, (route, case, answer)
        measured[route] = row
    with capsys.disabled():
        print("\n| route | " + " | ".join(CASES) + " |")
        print("|---" * (len(CASES) + 1) + "|")
        for route, row in measured.items():
            print(f"| `{route}` | " + " | ".join(str(x) for x in row) + " |")


def secured_config(data_root, **env):
    return load_settings(
        {
            "NACHET_DATA_DIR": str(data_root),
            "NACHET_SCHEMA": SCHEMA,
            "NACHET_VOUCH_JWT_SECRET": SECRET,
            **env,
        },
        dotenv=False,
    )


async def test_inf_is_rate_limited_per_caller_across_workers(client_for, services, data_root, people):
    emails, ids = people
    config = secured_config(data_root, NACHET_RATE_LIMIT_INF="3/minute")
    workers = [client_for(services, config), client_for(services, config)]  # two apps, one database
    for worker in workers:
        worker.set_cookie("localhost", "jxVouchCookie", cookie(emails["alice"]))
    statuses = [(await workers[i % 2].post("/inf", json={})).status_code for i in range(3)]
    assert statuses == [400, 400, 400]  # counted (missing arguments), not limited
    refused = await workers[1].post("/inf", json={})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 20  # one request every 20 s
    assert await refused.get_json() == [
        "API Error during classification : too many requests: at most 3 per minute for each user, "
        f"retry in {refused.headers['Retry-After']} s"
    ]
    other = client_for(services, config)
    other.set_cookie("localhost", "jxVouchCookie", cookie(emails["bob"]))
    assert (await other.post("/inf", json={})).status_code == 400  # bob has his own allowance


async def test_every_write_leaves_one_audit_line(client_for, services, data_root, people, caplog, client):
    emails, ids = people
    secured_client = client_for(services, secured_config(data_root))
    secured_client.set_cookie("localhost", "jxVouchCookie", cookie(emails["alice"]))
    with caplog.at_level("INFO", logger="nachet.audit"):
        made = await secured_client.post(
            "/create-dir", json={"container_name": str(ids["alice"]), "folder_name": "audited"}
        )
        (folder,) = await made.get_json()
        await secured_client.post("/get-directories", json={"container_name": str(ids["alice"])})  # a read
        await secured_client.post(
            "/delete-permanently", json={"container_name": str(ids["bob"]), "folder_uuid": folder}
        )
        await client.post("/create-dir", json={"container_name": str(ids["bob"]), "folder_name": "anon"})
    lines = [r.getMessage() for r in caplog.records if r.name == "nachet.audit"]
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"POST /create-dir 200 by {emails['alice']} (vouch) from ")
    assert f"user={ids['alice']}" in lines[0] and f"folder={folder}" in lines[0]
    assert lines[1].startswith(f"POST /delete-permanently 403 by {emails['alice']} (vouch)")
    assert f"user={ids['bob']} folder={folder}" in lines[1]
    assert lines[2].startswith("POST /create-dir 200 by anonymous from ")


async def test_metrics_answer_the_scraper_token_or_an_admin(client_for, services, data_root):
    """Secured mode: /metrics carries the names users taught; a Prometheus scraper sends
    NACHET_METRICS_TOKEN as a bearer token (compared in constant time), anyone else is refused."""
    token = "scrape-token-of-enough-length-0123"
    client = client_for(services, secured_config(data_root, NACHET_METRICS_TOKEN=token))
    scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200 and b"nachet_" in await scraped.get_data()
    for header in ({"Authorization": f"Bearer {token}x"}, {"Authorization": "Bearer"}, {}):
        assert (await client.get("/metrics", headers=header)).status_code == 401, header
    unsecured = client_for(services, load_settings({"NACHET_DATA_DIR": str(data_root)}, dotenv=False))
    assert (await unsecured.get("/metrics")).status_code == 200  # loopback development: as before
