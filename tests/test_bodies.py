"""Request bodies are parsed by orjson where it answers as Python's json does, and by json
everywhere else: the values, and the errors' messages, are json's."""

from __future__ import annotations

import json
import math
import random

import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from api.body_chunks import ChunkedBody
from api.json_body import parse_json

SAME_AS_JSON = [
    b'{"imageDims": [1920, 1080], "area_ratio": 0.5, "folder_name": "General"}',
    b'{"a": 123456789012345678901234567890}',  # beyond 64 bits: orjson would give a float
    b'{"a": [-123456789012345678901234567890, 18446744073709551615, -9223372036854775808]}',
    b'{"a": 1e19, "b": 12345678901234567890.0}',
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',  # json takes them, orjson refuses them
    b'{"a": 1e400}',
    b'{"a": "\\ud800"}',  # a lone surrogate, escaped
    b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 byte order mark
    '{"a": "é"}'.encode("utf-16"),  # json detects UTF-16
    b'{"a": 1, "a": 2}',
    b'{"a": -0, "b": -0.0, "c": 0.1, "d": 5e-324, "e": 1.7976931348623157e308}',
    b'"just a string"',
    b"[]",
    b"null",
]


@pytest.mark.parametrize("raw", SAME_AS_JSON)
def test_bodies_parse_as_json_does(raw):
    ours, theirs = parse_json(raw), json.loads(raw)
    assert repr(ours) == repr(theirs)  # repr: NaN equals itself, ints stay ints, floats floats


def test_floats_are_read_to_the_same_bits():
    rng = random.Random(7)
    numbers = [rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-30, 30) for _ in range(2000)]
    raw = json.dumps({"values": numbers, "ints": [rng.randint(-(2**62), 2**62) for _ in range(200)]})
    assert parse_json(raw.encode()) == json.loads(raw)
    assert all(not math.isnan(x) for x in parse_json(raw.encode())["values"])


@pytest.mark.parametrize("raw", [b"", b"{", b'{"a": }', b"\xff\xfe\x00", b'{"a": 1} trailing', b"\x00"])
def test_malformed_bodies_fail_with_jsons_message(raw):
    with pytest.raises(ValueError) as ours:
        parse_json(raw)
    with pytest.raises(ValueError) as theirs:
        json.loads(raw)
    assert str(ours.value) == str(theirs.value)


async def test_a_body_in_chunks_is_read_whole_and_again():
    body = ChunkedBody(None, 1000)
    for piece in (b"ab", b"", b"cde", b"f"):
        body.append(piece)
    body.set_complete()
    assert await body == b"abcdef"
    assert await body == b"abcdef"


async def test_a_body_streamed_in_pieces_gives_every_byte_once():
    body = ChunkedBody(None, None)
    body.append(b"12")
    received = [await body.__anext__()]
    body.append(b"34")
    body.append(b"5")
    body.set_complete()
    received += [piece async for piece in body]
    assert received == [b"12", b"345"]


@pytest.mark.parametrize("declared", [None, 10])
async def test_a_body_over_the_limit_is_refused_inside_the_app(declared):
    body = ChunkedBody(declared, 8)
    for piece in (b"12345", b"6789"):
        body.append(piece)
    with pytest.raises(RequestEntityTooLarge):
        await body


async def test_the_app_reads_bodies_through_chunked_body(client):
    assert client.app.request_class.body_class is ChunkedBody
    response = await client.post("/inf", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
