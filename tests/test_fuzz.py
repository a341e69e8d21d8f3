"""Every bad input is a named 400 and costs the log a few hundred bytes (issue "Unbounded logs"
and "Unbounded inputs", items 3 and 4): a deterministic fuzz of every route's body, cookie and
path parameters (tests/fuzz_bodies.py), then one test per bug it found."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import random
import re
import time

import pytest

from identity.vouch import make_vouch_cookie
from kernel.text import bounded_traceback, loggable
from nachet.config import load_settings
from nachet.logs import JsonLines, RequestContext, Text
from tests import fuzz_bodies as fuzz
from tests.conftest import SCHEMA

SECRET = "the-fuzz-secret-of-at-least-32-bytes!"
LOG_BYTES_PER_REQUEST = 4096  # "a few KB": an access line, an audit line, one refusal line
TOO_DEEP = "the JSON body is nested more than 64 levels deep"
NOT_TEXT = "the JSON body has a string with a NUL character or a lone surrogate"


def local_config(data_root, **env):
    """NACHET_ENV=local: /get-user-id reads the body's email, so it is fuzzed too."""
    return load_settings(
        {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "NACHET_ENV": "local", **env},
        dotenv=False,
    )


@pytest.fixture
async def known(services) -> fuzz.Known:
    return await fuzz.prepare(services)


@pytest.fixture
async def builtin_default(services, known):
    """The built-in pipeline as the default while a test runs (a body without `model_name` runs
    the default: whatever an earlier test left there may point at a model server gone since)."""
    from datastore.queries import pipelines

    async with services.pool.acquire() as conn:
        before = await pipelines.default_name(conn)
        await pipelines.set_default(conn, known.pipeline)
    await services.pipelines.reload()
    yield
    if before is not None:
        async with services.pool.acquire() as conn:
            await pipelines.set_default(conn, before)
        await services.pipelines.reload()


@pytest.fixture
def meter():
    with fuzz.LogMeter(JsonLines(), RequestContext()).installed() as installed:
        yield installed


def check(outcome: fuzz.Outcome) -> list[str]:
    """What is wrong with one answer: a 5xx, a traceback, too much log, not the envelope."""
    label, problems = outcome.request.label, []
    if outcome.status >= 500:
        problems.append(f"{label}: {outcome.status} {outcome.body[:200]!r}")
    if outcome.tracebacks:
        problems.append(f"{label}: traceback {outcome.tracebacks[0][-400:]}")
    if outcome.log_bytes > LOG_BYTES_PER_REQUEST:
        problems.append(f"{label}: {outcome.log_bytes} bytes of log")
    if outcome.status == 400 and not outcome.request.path.startswith("/seed-data/"):
        answer = json.loads(outcome.body)  # /seed-data answers a bare string, as the original
        if not (isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], str)):
            problems.append(f"{label}: not the error envelope: {outcome.body[:200]!r}")
    return problems


@pytest.mark.parametrize("secured", [False, True], ids=["unsecured", "secured"])
async def test_no_input_gets_a_5xx_a_traceback_or_more_than_a_few_kb_of_log(
    client_for, services, data_root, known, builtin_default, meter, secured
):
    """Each field of each route's body with wrong types, nesting, huge and odd strings, NaN and
    Infinity (a seeded sample of the values, the dangerous ones always), whole odd bodies, odd
    cookies and path parameters: each answer is under 500, no traceback is logged and each
    request logs at most a few KB. Secured, as the user (the audit line names the caller)."""
    headers = {}
    if secured:
        client = client_for(services, local_config(data_root, NACHET_VOUCH_JWT_SECRET=SECRET))
        cookie = make_vouch_cookie(known.email, SECRET, exp=time.time() + 600)
        headers = {"Cookie": f"jxVouchCookie={cookie}"}
    else:
        client = client_for(services, local_config(data_root))
    cases = fuzz.requests(known, random.Random(20261203), per_field=9 if secured else 12)
    problems, statuses = [], set()
    for case in cases:
        outcome = await fuzz.send(client, case, meter, headers)
        statuses.add(outcome.status)
        problems += check(outcome)
    assert not problems, "\n".join(problems[:20])
    assert 200 in statuses and 400 in statuses  # the bodies reach the routes' work, and are refused
    assert meter.bytes / len(cases) < 1024, f"{meter.bytes} bytes for {len(cases)} requests"


# -- each bug the fuzz found -----------------------------------------------------------------------


async def post(client, path, body=None, raw=None, **headers):
    data = raw if raw is not None else fuzz.encode(body)
    response = await client.post(path, data=data, headers={"Content-Type": "application/json", **headers})
    return response.status_code, await response.get_json()


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 2000 + b"1" + b"}" * 2000, b"[" * 65 + b"]" * 65],
    ids=["arrays 100000 deep (RecursionError)", "objects 2000 deep (RecursionError)", "65 deep"],
)
async def test_json_nested_too_deep_is_a_named_400(client, meter, raw):
    """Was a RecursionError from Python's json logged with its traceback, then "Unhandled"."""
    assert await post(client, "/create-dir", raw=raw) == (400, [f"API Error creating directory : {TOO_DEEP}"])
    assert await post(client, "/inf", raw=raw) == (400, [f"API Error during classification : {TOO_DEEP}"])
    assert not meter.tracebacks


async def test_json_nested_64_deep_is_read(client, user):
    status, body = await post(client, "/get-directories", {"container_name": str(user), "x": fuzz.deep(63)})
    assert status == 200, body


@pytest.mark.parametrize("seed_name", [["Brassica napus"], 12, {"a": 1}], ids=["list", "number", "object"])
async def test_upload_seed_name_that_is_not_a_string_is_a_named_400(client, known, meter, seed_name):
    """Was `.strip()` on a list (datastore/queries/seeds.py): AttributeError, a traceback."""
    body = {**fuzz.bodies(known)["/upload-picture"], "seed_name": seed_name}
    assert await post(client, "/upload-picture", body) == (
        400,
        ["Datastore Error uploading picture : seed_name must be a string"],
    )
    assert not meter.tracebacks


async def test_seed_names_are_bounded(client, known, meter):
    """A 1 MB seed name failed the seed table's index (ProgramLimitExceededError), a traceback."""
    upload = {**fuzz.bodies(known)["/upload-picture"], "seed_name": "A" * (1 << 20)}
    assert await post(client, "/upload-picture", upload) == (
        400,
        ["Datastore Error uploading picture : seed_name is longer than 200 characters"],
    )
    correction = fuzz.bodies(known)["/feedback-negative"]
    correction["boxes"][0]["label"] = "A" * (1 << 20)
    assert await post(client, "/feedback-negative", correction) == (
        400,
        ["Datastore Error giving a negative feedback : a box label is longer than 200 characters"],
    )
    correction["boxes"][0]["label"] = "   "  # was saved as a seed named ""
    assert await post(client, "/feedback-negative", correction) == (
        400,
        ["Datastore Error giving a negative feedback : a box label is empty"],
    )
    assert not meter.tracebacks


@pytest.mark.parametrize("color_format", [["hex"], {"hex": 1}], ids=["list", "object"])
async def test_unhashable_color_format_is_the_specs_400(client, known, meter, color_format):
    """Was `color_format not in PALETTES` on a list: TypeError (unhashable), a traceback."""
    body = {**fuzz.bodies(known)["/inf"], "color_format": color_format}
    assert await post(client, "/inf", body) == (
        400,
        [
            "API Error during classification : Error while processing inference results :\n"
            " object of type 'NoneType' has no len()"
        ],
    )
    assert not meter.tracebacks


@pytest.mark.parametrize(
    "number", [float("nan"), float("inf"), float("-inf")], ids=["NaN", "Infinity", "-Infinity"]
)
async def test_non_finite_numbers_never_reach_postgresql(client, known, meter, number):
    """NaN and Infinity were stored as sent in JSON columns, which PostgreSQL refused ("Token
    "Infinity" is invalid"): a traceback. Each is now refused by name first."""
    for field in ("zoom_level", "nb_seeds"):
        body = {**fuzz.bodies(known)["/upload-picture"], field: number}
        assert await post(client, "/upload-picture", body) == (
            400,
            ["API Error uploading picture : zoom_level and nb_seeds must be numbers"],
        )
    correction = fuzz.bodies(known)["/feedback-negative"]
    correction["boxes"][0]["box"]["topX"] = number
    assert await post(client, "/feedback-negative", correction) == (
        400,
        [
            "Datastore Error giving a negative feedback : a box needs numeric coordinates: topX, topY, bottomX, bottomY"
        ],
    )
    correction = fuzz.bodies(known)["/feedback-negative"]
    correction["boxes"][0]["color"] = number
    assert await post(client, "/feedback-negative", correction) == (
        400,
        ["Datastore Error giving a negative feedback : a box color must be a string"],
    )
    assert not meter.tracebacks


@pytest.mark.parametrize("text", ["a\x00b", "\ud800x"], ids=["NUL", "lone surrogate"])
@pytest.mark.parametrize(
    "path,field,context",
    [
        ("/del", "folder_name", "deleting directory"),
        ("/inf", "folder_name", "during classification"),
        ("/inf", "validator", "during classification"),
        ("/jobs/classify-folder", "folder", "creating a classification job"),
        ("/upload-picture", "seed_name", "uploading picture"),
    ],
)
async def test_strings_postgresql_cannot_hold_are_a_named_400(
    client, known, meter, path, field, context, text
):
    """A NUL (CharacterNotInRepertoireError) or a lone surrogate (asyncpg cannot encode it)
    reached a query: a traceback."""
    body = {**fuzz.bodies(known)[path], field: text}
    assert await post(client, path, body) == (400, [f"API Error {context} : {NOT_TEXT}"])
    assert not meter.tracebacks


@pytest.mark.parametrize(
    "email", [["a@b.c"], 1e308, {"a": 1}, "a\x00@b.c"], ids=["list", "number", "object", "NUL"]
)
async def test_an_email_that_is_not_text_names_nobody(client_for, services, data_root, meter, email):
    """/get-user-id sent a list (from the body in local mode, or the cookie's claims) to the
    database: DataError, a traceback."""
    client = client_for(services, local_config(data_root))
    claims = {"alg": "HS256"}, {"CustomClaims": {"email": email}}
    token = (
        b".".join(base64.urlsafe_b64encode(json.dumps(c).encode()).rstrip(b"=") for c in claims) + b".c2ln"
    )
    cookie = base64.urlsafe_b64encode(gzip.compress(token)).decode()
    status, body = await post(client, "/get-user-id", {}, Cookie=f"jxVouchCookie={cookie}")
    assert status == 400 and body[0].endswith(" : User not found"), body
    if not isinstance(email, str):
        status, body = await post(client, "/get-user-id", {"email": email})
        assert status == 400 and body[0].endswith(" : User not found"), body
    assert not meter.tracebacks


async def test_unsecured_cookies_are_read_with_a_bound_and_without_tracebacks(client, meter):
    """Unsecured mode decoded the Vouch cookie as the original did: a gzip bomb was inflated
    whole (8 MB from an 11 KB cookie) and every gzip or JWT error logged a traceback."""
    cookies = dict(fuzz.cookies())
    response = await client.post(
        "/get-user-id", headers={"Cookie": f"jxVouchCookie={cookies['cookie gzip bomb']}"}
    )
    assert await response.get_json() == [
        "API Error retrieving user id for email None : the session cookie is too large"
    ]
    for case in ("cookie not gzip", "cookie truncated gzip", "cookie not a JWT", "cookie JWT of junk"):
        response = await client.post("/get-user-id", headers={"Cookie": f"jxVouchCookie={cookies[case]}"})
        assert await response.get_json() == ["Unhandled API error : Error retrieving user id for email None"]
    assert not meter.tracebacks


async def test_inputs_answered_unhandled_are_logged_in_one_line_without_traceback(client, meter, caplog):
    """The original's "Unhandled API error" answers to a client's input (malformed JSON, a body
    that is not an object, an image that is not a data URL) logged a traceback each; now the
    request's one line (a write's audit line, else its access line) says why."""
    with caplog.at_level(logging.INFO, logger="nachet"):
        assert await post(client, "/create-dir", raw=b'{"container_name": ') == (
            400,
            ["Unhandled API error : Error creating directory"],
        )
        assert await post(client, "/image-validation", {"image": "no comma"}) == (
            400,
            ["Unhandled API error : Error validating image"],
        )
    assert not meter.tracebacks
    lines = [r for r in caplog.records if r.name.startswith("nachet")]
    assert [(r.name, r.levelname) for r in lines] == [("nachet.audit", "INFO"), ("nachet.access", "INFO")]
    assert lines[0].getMessage().startswith("POST /create-dir 400 by anonymous from ")
    assert (
        lines[0].getMessage().endswith(": malformed JSON body: Expecting value: line 1 column 20 (char 19)")
    )
    assert re.fullmatch(
        r"POST /image-validation 400 [0-9.]+ ms: the image is not a data URL \(no comma\)",
        lines[1].getMessage(),
    )
    assert lines[1].reason == "the image is not a data URL (no comma)" and lines[1].status == 400  # type: ignore[attr-defined]


async def test_an_unforeseen_error_still_logs_its_traceback_bounded(client, services, meter, monkeypatch):
    """Only failures nobody foresaw log a traceback (the original's "Unhandled" 400 on the
    wire), and even then the client's value in the message is cut."""

    async def broken(*args):
        raise RuntimeError("A" * (1 << 20))

    monkeypatch.setattr(services.storage, "get_directories", broken)
    response = await client.post("/get-directories", json={"container_name": "x"})
    assert response.status_code == 400
    (traceback,) = meter.tracebacks
    assert "RuntimeError: AAAA" in traceback and f"…({(1 << 20) + len('RuntimeError: ')} chars)" in traceback
    assert meter.largest and meter.bytes < 16_000


# -- the log lines that copied client values ------------------------------------------------------------


async def test_audit_and_access_lines_cut_client_values(client, known, meter, caplog):
    """The audit line copied a 5 MB user id whole (113 MB of log in 23 s of fuzzing)."""
    huge = "A" * (5 << 20)
    with caplog.at_level(logging.INFO, logger="nachet"):
        before = meter.bytes
        await post(client, "/create-dir", {"container_name": huge, "folder_name": "x\ninjected"})
        await client.get(f"/seed-data/{'B' * 50_000}")
    assert meter.bytes - before < 2048
    audit = next(r.getMessage() for r in caplog.records if r.name == "nachet.audit")
    assert f"user={'A' * 200}…({5 << 20} chars) folder=x\\ninjected" in audit
    access = [r.getMessage() for r in caplog.records if r.name == "nachet.access"]
    assert access[-1].startswith(f"GET /seed-data/{'B' * 189}…(50011 chars) 400 ")


async def test_the_caller_and_its_email_are_cut_in_every_line(client_for, services, data_root, meter, caplog):
    email = f"{'e' * 240}\n@example.org"  # the longest the email column holds: 255
    await services.storage.create_user(email)
    client = client_for(services, local_config(data_root, NACHET_VOUCH_JWT_SECRET=SECRET))
    cookie = make_vouch_cookie(email, SECRET, exp=time.time() + 600)
    with caplog.at_level(logging.INFO, logger="nachet"):
        response = await client.post("/get-user-id", headers={"Cookie": f"jxVouchCookie={cookie}"})
    assert response.status_code == 200
    records = [r for r in caplog.records if r.name == "nachet.access"]
    assert records[-1].caller == f"{'e' * 200}…(253 chars)"


async def test_metrics_label_unknown_methods_as_other(client, services):
    """Any method a client invents became a label of the request metrics: unbounded series."""
    await client.open("/health", method="FROBNICATE")
    methods = {s.labels["method"] for m in services.metrics.requests.collect() for s in m.samples}
    assert "other" in methods and "FROBNICATE" not in methods


# -- the helper ------------------------------------------------------------------------------------------


def test_loggable_cuts_long_values_and_says_their_length():
    assert loggable("A" * 5_242_880) == "A" * 200 + "…(5242880 chars)"
    assert loggable("short") == "short"
    assert loggable("x" * 200) == "x" * 200


def test_loggable_escapes_what_could_forge_or_hide_a_line():
    assert loggable('a\nINFO forged\r\n{"level": "error"}') == 'a\\nINFO forged\\r\\n{"level": "error"}'
    assert loggable("a\x00b\x1b[31m\u202egnp\u2028\ud800") == "a\\x00b\\x1b[31m\\u202egnp\\u2028\\ud800"
    assert loggable("é🌱 tab\t") == "é🌱 tab\\t"
    assert len(loggable("\x00" * 1000)) == 200 * 4 + len("…(1000 chars)")


def test_loggable_gives_any_value_a_short_text():
    assert loggable(None) == "None" and loggable(True) == "True" and loggable(1e308) == "1e+308"
    assert loggable(2**1000) == "<integer of 1001 bits>"
    assert len(loggable(list(range(100_000)))) < 300
    assert len(loggable({"k": ["A" * 10_000] * 100})) < 300
    nested: list = []
    for _ in range(10_000):
        nested = [nested]
    assert loggable(nested) == "[[[[...]]]]"


@pytest.mark.parametrize("formatter", [JsonLines(), Text()], ids=["json", "text"])
def test_formatters_bound_messages_and_tracebacks(formatter):
    try:
        raise ValueError("V" * 100_000)
    except ValueError as error:
        record = logging.makeLogRecord(
            {
                "name": "t",
                "levelname": "ERROR",
                "msg": "%s",
                "args": ("M" * 100_000,),
                "exc_info": (ValueError, error, None),
            }
        )
    assert len(formatter.format(record)) < 8192 + 2000


def test_a_deep_traceback_keeps_its_first_and_last_lines():
    text = "\n".join(f"line {i}" for i in range(10_000))
    kept = bounded_traceback(text).splitlines()
    assert len(kept) == 121 and kept[0] == "line 0" and kept[-1] == "line 9999"
    assert "9880 lines left out" in kept[30]
