"""A deterministic fuzz of every route: each field of each body replaced by hostile values (wrong
types, nesting, huge strings, non-finite numbers, odd unicode), whole bodies that are not what a
route reads, odd paths and session cookies; and a meter of what the app logs meanwhile.

Shared by tests/test_fuzz.py and bench/log_fuzz.py (which loads this file by its path, so it can
drive another checkout's app): it imports nothing of the app.
"""

from __future__ import annotations

import base64
import copy
import gzip
import io
import json
import logging
import random
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

HUGE = 1 << 20  # a 1 MB string: what made 1-5 MB log lines
DEEP_MARK = "\x00deep:"  # a string json.dumps keeps; replaced by raw nested brackets afterwards


def deep(levels: int) -> str:
    """A value written as `levels` nested arrays (too deep for json.dumps to write itself)."""
    return f"{DEEP_MARK}{levels}"


# Every value a field is tried with (name, value). Strings stand for themselves except `deep(n)`.
VALUES: list[tuple[str, Any]] = [
    ("null", None),
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("minus one", -1),
    ("2**64", 2**64),
    ("1e308", 1e308),
    ("-1e308", -1e308),
    ("denormal", 5e-324),
    ("NaN", float("nan")),
    ("Infinity", float("inf")),
    ("-Infinity", float("-inf")),
    ("empty string", ""),
    ("spaces", "   "),
    ("slashes", "../../etc/passwd"),
    ("NUL", "a\x00b"),
    ("newlines", 'a\nINFO forged line\r\n{"level": "error"}'),
    ("bidi override", "\u202egnp.exe"),
    ("emoji", "🌱" * 50),
    ("lone surrogate", "\ud800x"),
    ("accents", "é" * 300),
    ("huge string", "A" * HUGE),
    ("huge unicode", "\u0000\u2028é🌱" * (HUGE // 8)),
    ("unknown uuid", "4f1d3c7e-0000-4000-8000-000000000000"),
    ("list of string", ["a"]),
    ("list of numbers", [1, 2]),
    ("long list", list(range(20_000))),
    ("empty object", {}),
    ("object", {"$ne": None, "a": [1]}),
    ("nested 40", deep(40)),
    ("nested 200", deep(200)),
    ("nested 100000", deep(100_000)),
]

# Bodies sent whole: (name, raw bytes, content type)
WHOLE_BODIES: list[tuple[str, bytes, str | None]] = [
    ("no body", b"", None),
    ("text body", b"container_name=x", "text/plain"),
    ("empty json", b"", "application/json"),
    ("malformed", b'{"container_name": ', "application/json"),
    ("array", b"[1, 2]", "application/json"),
    ("null", b"null", "application/json"),
    ("number", b"1e999", "application/json"),
    ("string", b'"x"', "application/json"),
    ("not utf-8", b'{"container_name": "\xff\xfe"}', "application/json"),
    ("utf-16", '{"container_name": "x"}'.encode("utf-16"), "application/json"),
    ("huge integer", b'{"container_name": ' + b"9" * 5000 + b"}", "application/json"),
    ("deep array 60", b"[" * 60 + b"]" * 60, "application/json"),
    ("deep array 500", b"[" * 500 + b"]" * 500, "application/json"),
    ("deep array 200000", b"[" * 200_000 + b"]" * 200_000, "application/json"),
    ("deep object 5000", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    ("many keys", json.dumps({f"k{i}": i for i in range(50_000)}).encode(), "application/json"),
    ("huge key", json.dumps({"A" * HUGE: 1}).encode(), "application/json"),
]


@dataclass
class Known:
    """Real ids for the bodies, so that fuzzing one field leaves the others valid."""

    user: str
    email: str
    folder: str  # a folder of the user, with the inference's picture
    picture: str
    inference: str
    box: str
    image: str  # a small PNG as a data URL
    pipeline: str


@dataclass
class FuzzRequest:
    method: str
    path: str
    label: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


async def prepare(services) -> Known:
    """A user with a folder holding a picture and its inference (one box), and the built-in
    pipeline (not made the default): what `bodies` names."""
    from PIL import Image

    from usecases.pipelines import BUILTIN_PIPELINE, install_builtin_pipeline_rows

    await install_builtin_pipeline_rows(services.pool, make_default=False)
    await services.pipelines.reload()
    storage = services.storage
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.org"
    user = await storage.create_user(email)
    folder = await storage.create_picture_set(user, 0, "fuzz folder")
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(png, format="PNG")
    result = {
        "filename": "tray.png",
        "boxes": [
            {
                "box": {"topX": 10, "topY": 5, "bottomX": 18, "bottomY": 20},
                "label": "Brassica napus",
                "score": 0.9,
                "topN": [{"label": "Brassica napus", "score": 0.9}],
                "color": "#ED1C24",
                "overlapping": False,
                "overlappingIndices": [],
            }
        ],
        "labelOccurrence": {"Brassica napus": 1},
        "totalBoxes": 1,
        "models": [{"name": "fuzz", "version": 1}],
    }
    saved = await storage.save_inference(user, str(folder), png.getvalue(), result, None, [64.0, 48.0])
    picture = await storage.get_directories(user)
    picture_id = next(p["picture_id"] for f in picture for p in f["pictures"])
    return Known(
        user=str(user),
        email=email,
        folder=str(folder),
        picture=str(picture_id),
        inference=saved["inference_id"],
        box=saved["boxes"][0]["box_id"],
        image="data:image/png;base64," + base64.b64encode(png.getvalue()).decode(),
        pipeline=BUILTIN_PIPELINE,
    )


def bodies(known: Known) -> dict[str, dict]:
    """A body each POST route accepts (or refuses only for the state it finds)."""
    user = known.user
    nobody = str(uuid.UUID(int=7))
    box = {"topX": 10, "topY": 5, "bottomX": 18, "bottomY": 20}
    return {
        "/get-user-id": {"email": "fuzz@example.org"},
        "/image-validation": {"image": known.image},
        "/create-dir": {"container_name": user, "folder_name": "fuzzed"},
        "/new-batch-import": {"container_name": user, "nb_pictures": 2, "folder_name": "fuzz batch"},
        "/get-directories": {"container_name": user},
        "/dir": {"container_name": user},
        "/delete-request": {"container_name": user, "folder_uuid": known.folder},
        "/delete-permanently": {"container_name": user, "folder_uuid": nobody},
        "/delete-with-archive": {"container_name": user, "folder_uuid": nobody},
        "/del": {"container_name": user, "folder_name": "no such folder"},
        "/get-picture": {"container_name": user, "picture_id": known.picture},
        "/get-picture-annotated": {"container_name": user, "picture_id": known.picture},
        "/upload-picture": {
            "container_name": user,
            "session_id": known.folder,
            "image": known.image,
            "seed_name": "Brassica napus",
            "zoom_level": 1.5,
            "nb_seeds": 2,
        },
        "/feedback-positive": {"userId": user, "inferenceId": known.inference, "boxes": [{"boxId": nobody}]},
        "/feedback-negative": {
            "userId": user,
            "inferenceId": known.inference,
            "boxes": [{"boxId": "", "label": "Brassica napus", "classId": "", "box": box, "color": "#fff"}],
        },
        "/inf": {
            "model_name": known.pipeline,
            "image": known.image,
            "imageDims": [64, 48],
            "folder_name": "General",
            "container_name": user,
            "area_ratio": 0.5,
            "color_format": "hex",
            "validator": "",
            "pixels_per_mm": 10,
        },
        "/jobs/classify-folder": {"container_name": user, "folder": nobody, "model_name": known.pipeline},
    }


# Fields inside lists and objects, as paths (list indices are ints).
NESTED: dict[str, list[tuple]] = {
    "/inf": [("imageDims", 0), ("imageDims", 1)],
    "/feedback-positive": [("boxes", 0), ("boxes", 0, "boxId")],
    "/feedback-negative": [
        ("boxes", 0),
        ("boxes", 0, "boxId"),
        ("boxes", 0, "label"),
        ("boxes", 0, "classId"),
        ("boxes", 0, "box"),
        ("boxes", 0, "box", "topX"),
        ("boxes", 0, "color"),
    ],
}


def encode(value: Any) -> bytes:
    """JSON as Python writes it (NaN and Infinity included), with `deep(n)` markers expanded."""
    text = json.dumps(value, allow_nan=True)
    marker = json.dumps(DEEP_MARK)[:-1]  # '"\u0000deep:'
    while marker in text:
        start = text.index(marker)
        end = text.index('"', start + 1)
        levels = int(text[start + len(marker) : end])
        text = text[:start] + "[" * levels + "]" * levels + text[end + 1 :]
    return text.encode()


def _replaced(body: dict, where: tuple, value: Any) -> dict:
    changed = copy.deepcopy(body)
    target = changed
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    return changed


def _cookie(raw: bytes) -> str:
    return base64.urlsafe_b64encode(gzip.compress(raw)).decode()


def _gzip_bomb() -> str:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as bomb:
        bomb.write(b"\0" * (8 << 20))  # 8 MB of zeros: an 11 KB cookie
    return base64.urlsafe_b64encode(out.getvalue()).decode()


def _unsigned_jwt(claims: dict) -> bytes:
    def part(value: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    return part({"alg": "HS256", "typ": "JWT"}) + b"." + part(claims) + b".c2ln"


def cookies() -> list[tuple[str, str]]:
    jwt_like = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    emails = {"list": ["a@b.c"], "number": 1e308, "NUL": "a\x00@b.c", "10 KB": "a" * 10_000, "object": {}}
    return [
        *(
            (f"cookie email {name}", _cookie(_unsigned_jwt({"CustomClaims": {"email": email}})))
            for name, email in emails.items()
        ),
        ("cookie claims a list", _cookie(_unsigned_jwt({"CustomClaims": ["email"]}))),
        ("cookie not base64", "%%%"),
        ("cookie bad padding", "abc"),
        ("cookie not gzip", base64.urlsafe_b64encode(b"plain").decode()),
        ("cookie truncated gzip", base64.urlsafe_b64encode(gzip.compress(b"xy" * 1000)[:20]).decode()),
        ("cookie not a JWT", _cookie(b"not.a.jwt")),
        ("cookie JWT of junk", _cookie(f"{jwt_like}.e30x.sig".encode())),
        ("cookie not utf-8", _cookie(b"\xff\xfe\xfd")),
        ("cookie gzip bomb", _gzip_bomb()),
        ("cookie huge", "A" * 60_000),
    ]


def paths() -> list[tuple[str, str]]:
    odd = ["A" * 20_000, "a\nb", "\u202e", "..", "%00", "🌱", str(uuid.UUID(int=9))]
    found = []
    for text in odd:
        quoted = urllib.parse.quote(text, safe="")
        found += [
            ("GET", f"/seed-data/{quoted}"),
            ("GET", f"/jobs/{quoted}"),
            ("POST", f"/jobs/{quoted}/cancel"),
        ]
    return found


def requests(
    known: Known, rng: random.Random | None = None, per_field: int | None = None
) -> list[FuzzRequest]:
    """Every case: for each route, each field (top level and nested) with each value of VALUES
    (a deterministic sample of `per_field` of them when given, the dangerous ones included),
    each whole body, every odd cookie on /get-user-id and odd path parameters."""
    rng = rng or random.Random(20261203)
    found: list[FuzzRequest] = []
    for path, body in bodies(known).items():
        fields: list[tuple] = [(name,) for name in body] + NESTED.get(path, [])
        for where in fields:
            for name, value in _sample(rng, per_field):
                label = f"{path} {'.'.join(map(str, where))}={name}"
                found.append(FuzzRequest("POST", path, label, encode(_replaced(body, where, value))))
        for name, raw, content_type in WHOLE_BODIES:
            found.append(FuzzRequest("POST", path, f"{path} body {name}", raw, content_type))
    for name, value in cookies():
        found.append(
            FuzzRequest("POST", "/get-user-id", name, None, None, {"Cookie": f"jxVouchCookie={value}"})
        )
    for method, path in paths():
        found.append(FuzzRequest(method, path, f"{method} {path[:40]}", None, None))
    found.append(FuzzRequest("GET", "/health", "request id", None, None, {"X-Request-ID": "x\t" * 10_000}))
    return found


ALWAYS = {
    "huge string",
    "huge unicode",
    "NaN",
    "Infinity",
    "nested 100000",
    "list of string",
    "lone surrogate",
}


def _sample(rng: random.Random, per_field: int | None) -> list[tuple[str, Any]]:
    if per_field is None or per_field >= len(VALUES):
        return VALUES
    always = [v for v in VALUES if v[0] in ALWAYS]
    others = [v for v in VALUES if v[0] not in ALWAYS]
    return always + rng.sample(others, max(0, per_field - len(always)))


class LogMeter(logging.Handler):
    """Every record the app writes while installed, formatted as production writes it (by the
    given formatter): bytes, lines, tracebacks, and the largest line."""

    def __init__(self, formatter: logging.Formatter, *filters: logging.Filter):
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        for f in filters:
            self.addFilter(f)
        self.bytes = 0
        self.lines = 0
        self.tracebacks: list[str] = []
        self.largest = ""

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        size = len(line.encode("utf-8", "backslashreplace")) + 1
        self.bytes += size
        self.lines += 1
        if size > len(self.largest):
            self.largest = line[:300]
        if record.exc_info or "Traceback (most recent call last)" in line:
            self.tracebacks.append(line if len(line) <= 3000 else f"{line[:1000]} … {line[-2000:]}")

    @contextmanager
    def installed(self, level: int = logging.INFO) -> Iterator[LogMeter]:
        root = logging.getLogger()
        old = root.level
        root.addHandler(self)
        root.setLevel(level)
        try:
            yield self
        finally:
            root.removeHandler(self)
            root.setLevel(old)


@dataclass
class Outcome:
    request: FuzzRequest
    status: int
    body: bytes
    log_bytes: int
    tracebacks: list[str]


async def send(
    client, request: FuzzRequest, meter: LogMeter, headers: dict[str, str] | None = None
) -> Outcome:
    """One request through a Quart test client (with `headers` unless the case sets its own),
    with the log bytes and tracebacks it caused (the app's access and audit lines are written
    before the client's call returns)."""
    before, errors = meter.bytes, len(meter.tracebacks)
    headers = {**(headers or {}), **request.headers}
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    response = await client.open(
        request.path, method=request.method, data=request.body or b"", headers=headers
    )
    return Outcome(
        request,
        response.status_code,
        await response.get_data(),
        meter.bytes - before,
        meter.tracebacks[errors:],
    )
