"""Reading request bodies as the original did: `request.get_json()` semantics, parsed straight
from the bytes (the /inf body is ~0.5 MB: it is not cached)."""

from __future__ import annotations

import json
from typing import Any

from quart import request

from storage.errors import Unhandled


async def json_body() -> Any:
    """The parsed JSON body, None when the request is not JSON (as Quart's get_json); malformed
    JSON is Unhandled."""
    if not request.is_json:
        return None
    raw = await request.get_data(cache=False)
    try:
        return json.loads(raw)
    except ValueError as error:
        raise Unhandled(f"malformed JSON body: {error}") from error


async def object_body() -> dict:
    """The JSON object body; anything else fails as the original's `data.get` did (Unhandled)."""
    body = await json_body()
    if not isinstance(body, dict):
        raise Unhandled("the body is not a JSON object")
    return body
