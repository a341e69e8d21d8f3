"""The original's error envelope (spec §1.3): every failure answers a JSON list of one string.

  ServiceError (any layer)   -> "<prefix> <context> : <message>"  (prefix "API Error" or "Datastore Error")
  anything else              -> "Unhandled API error : <sentence>"  (details only in the log)

A route declares its context and sentence with @context; a handler may refine it (e.g. to name
the email it is working on).
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import g, jsonify


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


def refusal(prefix: str, message: str) -> str:
    """ "<prefix> <context> : <message>"; a route without a context (/version, /metrics) says
    "<prefix> : <message>", not "<prefix>  : …" with an empty context."""
    ctx = current_context().context
    return f"{prefix} {ctx} : {message}" if ctx else f"{prefix} : {message}"


def envelope(message: str, status: int):
    return jsonify([message]), status
