"""Model calls over HTTP: one shared httpx.AsyncClient per process, and every failure named
(model and cause) instead of an opaque transport error."""

from __future__ import annotations

import errno
import json
import logging
import socket
import ssl

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from .errors import UpstreamError
from .models import ModelSpec

log = logging.getLogger(__name__)


def make_client(connect_timeout: float, read_timeout: float, on_request=()) -> httpx.AsyncClient:
    """httpx's interface over aiohttp's connection pool: httpcore's pool rescans every connection
    for every queued request, which cost ~40 % of the server's CPU per /inf under load."""
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=64)
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits),
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=False,
        event_hooks={"request": list(on_request)},
    )


def headers_for(model: ModelSpec) -> dict[str, str]:
    headers = {
        "Content-Type": model.content_type or "application/json",
        "Authorization": f"Bearer {model.api_key}",
    }
    if model.deployment_platform:
        headers[model.deployment_platform] = model.name
    return headers


async def call_model(client: httpx.AsyncClient, model: ModelSpec, body: bytes, pipeline: str):
    """POST `body` to the model's endpoint and return its JSON answer, or raise a named error."""
    cause = None
    try:
        response = await client.post(model.endpoint, content=body, headers=headers_for(model))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        cause, status = f"model {model.name} has an invalid endpoint URL", 502
    except httpx.HTTPError as error:
        reason = _reason(error)
        if reason == "closed":
            cause, status = f"model {model.name} closed the connection", 502
        elif reason is None and isinstance(error, httpx.TimeoutException):
            cause, status = f"model {model.name} did not answer in time", 504
        else:
            cause, status = f"model {model.name} is unreachable ({reason or type(error).__name__})", 502
    if cause is None:
        code = response.status_code
        if code in (401, 403):
            cause, status = f"model {model.name} rejected the credentials (HTTP {code})", 502
        elif code == 404:
            cause, status = f"model {model.name} was not found at its endpoint (HTTP 404)", 502
        elif code == 424 or code >= 500:
            cause, status = f"model {model.name} failed while scoring (HTTP {code})", 502
        elif code >= 300:
            cause, status = f"model {model.name} refused the request (HTTP {code})", 502
        else:
            try:
                return json.loads(response.content, parse_constant=_refuse_non_finite)
            except NonFinite:
                cause, status = (
                    f"model {model.name} answered a number that is not finite (NaN or Infinity)",
                    502,
                )
            except (ValueError, UnicodeDecodeError):
                cause, status = f"model {model.name} answered with a body that is not JSON", 502
    log.error("pipeline %s, model %s: %s", pipeline, model.name, cause)
    raise UpstreamError(cause, status)


class NonFinite(ValueError):
    """NaN, Infinity or -Infinity in a model's JSON (Python's json accepts them; JSON does not)."""


def _refuse_non_finite(token: str):
    raise NonFinite(token)


def _reason(error: Exception) -> str | None:
    """The root cause of a failed connection from the exception chain (None: none found;
    "closed": the model hung up or reset the connection)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, (aiohttp.ServerDisconnectedError, ConnectionResetError, BrokenPipeError)
        ) or getattr(current, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
            return "closed"
        if isinstance(current, ConnectionRefusedError) or "refused" in str(current).lower():
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host not found"
        if isinstance(current, ssl.SSLError):
            return "TLS handshake failed"
        current = current.__cause__ or current.__context__
    return None
