"""Every request: an id (the client's X-Request-ID or a new one) carried by its log records and
model calls and echoed in the response; one log line, written once the answer is sent (the access
line, or for a write the audit line, api/access.py), saying why a refused body was refused;
request metrics."""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Callable

from quart import Response, current_app, g, request

from kernel.text import loggable
from nachet.logs import CALLER, REQUEST_ID, request_id_from

from .extension import services, settings

access_log = logging.getLogger("nachet.access")
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}  # metric labels; others: "other"


async def begin_request() -> None:
    g.started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))
    REQUEST_ID.set(g.request_id)
    CALLER.set(None)


async def finish_request(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    response.headers["X-Request-ID"] = g.get("request_id", "")
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"  # bounded labels
    running = services()
    method_label = request.method if request.method in METHODS else "other"  # bounded labels too
    running.metrics.request(method_label, route, response.status_code, seconds)
    running.metrics.pool_usage(running.pool)
    view = current_app.view_functions.get(request.endpoint or "")
    if (
        settings().access_log
        and request.method != "OPTIONS"
        and not getattr(view, "audited", False)  # a write's one line is its audit line
        and (settings().access_log_probes or route not in PROBES)
    ):
        after_the_answer(
            access_log,
            "%s %s %d %.1f ms%s",
            loggable(request.method),
            loggable(request.path),
            response.status_code,
            seconds * 1000,
            refusal_suffix(),
            extra=request_fields(response),
        )  # the caller, when known, is added to every record of the request (nachet.logs)
    return response


def refused_because(reason: str) -> None:
    """The client's input was refused (an unhandled body): said in the request's one line."""
    g.refused = loggable(reason)


def refusal_suffix() -> str:
    return f": {g.refused}" if g.get("refused") else ""


def request_fields(response: Response) -> dict[str, object]:
    """The request's line's fields (JSON logs): method, route, status, duration, remote, reason."""
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    fields: dict[str, object] = {
        "method": loggable(request.method),
        "route": request.url_rule.rule if request.url_rule is not None else "unmatched",
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
        "remote": request.remote_addr,
    }
    if g.get("refused"):
        fields["reason"] = g.refused
    return fields


PROBES = ("/health", "/ready", "/metrics")  # access-logged only with NACHET_ACCESS_LOG_PROBES=true
PENDING = "nachet.after_the_answer"  # the ASGI scope's list of lines to log once the answer is sent


def after_the_answer(log: logging.Logger, message: str, *args, **kwargs) -> None:
    """`log.info(message, *args, **kwargs)`, in this request's context (its id and caller), once
    the response is handed to the server (`LogsAfterTheAnswer`): an after-request hook's line
    then costs the answer nothing."""
    pending: list[Callable[[], None]] | None = request.scope.get(PENDING)  # type: ignore[assignment]
    line = functools.partial(contextvars.copy_context().run, log.info, message, *args, **kwargs)
    if pending is None:  # the app runs without the middleware
        line()
    else:
        pending.append(line)


class LogsAfterTheAnswer:
    """ASGI middleware: the lines `after_the_answer` deferred are written after the response's
    last body message was sent, or when the request ends without one (the client went away)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        pending: list[Callable[[], None]] = []
        scope[PENDING] = pending

        async def sending(message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                _write(pending)

        try:
            await self.app(scope, receive, sending)
        finally:
            _write(pending)


def _write(pending: list[Callable[[], None]]) -> None:
    while pending:
        pending.pop(0)()
