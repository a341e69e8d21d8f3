"""The original's error envelope in one place.

Every failure answers a JSON list holding one string (spec §1.3):
  APIError (bad request)         -> "API Error <context> : <message>"
  DatastoreError (storage)       -> "Datastore Error <context> : <message>"
  anything else                  -> "Unhandled API error : <sentence>"  (details only in the log)
A route declares its context and sentence with @context; a handler may refine it (e.g. to name
the email it is working on).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass

from quart import g, jsonify, request

from .errors import APIError

log = logging.getLogger("nachet.http")


class Unhandled(Exception):
    """A failure the original reported only as "Unhandled API error : <sentence>"."""


@dataclass
class ErrorContext:
    context: str
    sentence: str


def context(ctx: str, sentence: str):
    """Name the route's error context: "<Prefix> <ctx> : …" and "Unhandled API error : <sentence>"."""

    def decorate(handler):
        handler.error_context = (ctx, sentence)
        return handler

    return decorate


def error_context_of(view) -> ErrorContext:
    """A fresh (per request, mutable) context for the view, read before the body is."""
    ctx, sentence = getattr(view, "error_context", ("", "Error"))
    return ErrorContext(ctx, sentence)


def current_context() -> ErrorContext:
    return getattr(g, "error_context", None) or ErrorContext("", "Error")


def envelope(message: str, status: int):
    return jsonify([message]), status


async def json_body():
    """The parsed JSON body, None when the request is not JSON (as Quart's get_json); malformed
    JSON is Unhandled. Parsed straight from the bytes and not cached: /inf bodies are ~0.5 MB."""
    if not request.is_json:
        return None
    raw = await request.get_data(cache=False)
    try:
        return json.loads(raw)
    except ValueError as error:
        raise Unhandled(f"malformed JSON body: {error}") from error


def split_data_url(value: str) -> tuple[str, bytes]:
    """`data:<header>,<base64>` -> (header, bytes). No comma or bad base64 is Unhandled, as in
    the original; base64 decoding stays lenient (characters outside the alphabet are dropped)."""
    if not isinstance(value, str) or "," not in value:
        raise Unhandled("the image is not a data URL (no comma)")
    header, encoded = value.split(",", 1)
    try:
        return header, base64.b64decode(encoded)
    except (binascii.Error, ValueError) as error:
        raise Unhandled(f"the image is not valid base64: {error}") from error


def require(*values, message: str) -> None:
    if not all(values):
        raise APIError(message)


async def object_body() -> dict:
    """The JSON object body; anything else fails as the original's `data.get` did (Unhandled)."""
    body = await json_body()
    if not isinstance(body, dict):
        raise Unhandled("the body is not a JSON object")
    return body


def keys_present(body, keys: tuple[str, ...], message: str) -> None:
    """`key in body` as the original tested it: a null body fails with Python's own words."""
    if body is None or isinstance(body, (int, float, bool)):
        raise APIError(f"argument of type '{type(body).__name__}' is not iterable")
    if not all(isinstance(body, dict) and key in body for key in keys):
        raise APIError(message)


def list_of_boxes(boxes) -> list:
    if boxes is None:
        raise APIError("'NoneType' object is not iterable")
    if not isinstance(boxes, list):
        raise APIError("boxes must be a list")
    return boxes
