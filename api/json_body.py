"""Reading request bodies as the original did: `request.get_json()` semantics, parsed straight
from the bytes (the /inf body is ~0.5 MB: it is not cached). Two refusals of ours: nesting
deeper than MAX_DEPTH, and strings no database column can hold (NUL, lone surrogates)."""

from __future__ import annotations

import json
import re

import orjson
from quart import request

from kernel.errors import ServiceError, Unhandled
from kernel.json_types import Json, JsonObject

MAX_DEPTH = 64  # nested arrays and objects; no route's body has more than 4
TOO_DEEP = f"the JSON body is nested more than {MAX_DEPTH} levels deep"
NOT_TEXT = "the JSON body has a string with a NUL character or a lone surrogate"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


async def json_body() -> Json:
    """The parsed JSON body, None when the request is not JSON (as Quart's get_json); malformed
    JSON is Unhandled; too deep a nesting, or a string that is not text, a named 400."""
    if not request.is_json:
        return None
    raw = await request.get_data(cache=False)
    try:
        body = parse_json(raw)
    except RecursionError:  # Python's json, past orjson's own limit (1024 levels)
        raise ServiceError(TOO_DEEP) from None
    except ValueError as error:
        raise Unhandled(f"malformed JSON body: {error}") from error
    check_body(body)
    return body


def check_body(body: Json) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings PostgreSQL cannot store (a NUL
    character) or UTF-8 cannot encode (a lone surrogate), keys included: each reached a query
    as a traceback before. One walk without recursion; ASCII strings (the image) cost nothing."""
    pending: list[tuple[Json, int]] = [(body, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not is_text(item):
                raise ServiceError(NOT_TEXT)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise ServiceError(TOO_DEEP)
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((value, depth + 1) for value in item.values())
            else:
                pending.extend((value, depth + 1) for value in item)


def is_text(value: str) -> bool:
    """Neither a NUL character (PostgreSQL's text refuses it) nor a lone surrogate (UTF-8 has none)."""
    return "\x00" not in value and (value.isascii() or _SURROGATE.search(value) is None)


def parse_json(raw: bytes | str) -> Json:
    """What `json.loads(raw)` answers, through orjson whenever that is the same (0.17 against
    0.98 ms for an /inf body, on the event loop). orjson refuses some bodies Python's json
    takes (NaN, Infinity, lone surrogates, UTF-16) and reads integers beyond 64 bits as floats:
    those go through json, so values and error messages stay json's."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
    return json.loads(raw) if _beyond_64_bits(value) else value


def _beyond_64_bits(value: Json) -> bool:
    """A float orjson may have made of an integer too large for 64 bits (or a float that large)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and abs(item) >= 2.0**63:
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


async def object_body() -> JsonObject:
    """The JSON object body; anything else fails as the original's `data.get` did (Unhandled)."""
    body = await json_body()
    if not isinstance(body, dict):
        raise Unhandled("the body is not a JSON object")
    return body
