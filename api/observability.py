"""Every request: an id (the client's X-Request-ID or a new one) carried by its log records and
model calls and echoed in the response; one access-log line; request metrics."""

from __future__ import annotations

import logging
import time

from quart import Response, g, request

from nachet.logs import CALLER, REQUEST_ID, request_id_from
from nachet.runtime import services, settings

access_log = logging.getLogger("nachet.access")


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
    running.metrics.request(request.method, route, response.status_code, seconds)
    running.metrics.pool_usage(running.pool)
    if settings().access_log and request.method != "OPTIONS":
        access_log.info(
            "%s %s %d %.1f ms",
            request.method,
            request.path,
            response.status_code,
            seconds * 1000,
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "remote": request.remote_addr,
            },  # the caller, when known, is added to every record of the request (nachet.logs)
        )
    return response
