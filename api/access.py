"""Who may call a route, for which user, how often; and one audit line per write.

Secured mode (any identity source configured, `Settings.secured`):
  * every route needs a verified caller (401), except those marked @public;
  * @admin_only routes need an admin (403);
  * the user a body names (`Body.acts_for`: container_name, userId) must be the caller, unless
    the caller is an admin (403, checked by `parse()` before anything is read or written); data
    of another user named by id answers 403 too (storage's NotOwnerError, mapped in app.py);
  * @rate_limited routes count requests per caller (429 with Retry-After).
Unsecured mode (the embedded default): the original's behaviour, callers are anonymous.
@audited routes log one line per request in both modes.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from collections.abc import Callable

from quart import Response, current_app, g, request

from identity import Caller, Forbidden, RateLimit, Unauthenticated
from identity.vouch import COOKIE
from kernel.text import loggable
from nachet.logs import CALLER
from nachet.runtime import Services

from .extension import services, settings
from .observability import after_the_answer, refusal_suffix, request_fields

audit_log = logging.getLogger("nachet.audit")
log = logging.getLogger("nachet.access_control")
# Body fields that name stored data, as the audit line calls them.
ID_FIELDS = {
    "container_name": "user",
    "userId": "user",
    "folder_uuid": "folder",
    "folder_name": "folder",
    "session_id": "folder",
    "picture_id": "picture",
    "inferenceId": "inference",
    "folder": "folder",
}


def public(handler):
    """Answer without a caller, even in secured mode (health checks)."""
    handler.public = True
    return handler


def scraped(handler):
    """In secured mode, also answered to a scraper sending NACHET_METRICS_TOKEN as a bearer token."""
    handler.scraped = True
    return handler


def admin_only(handler):
    """In secured mode, only administrators (operations that change what every user sees)."""
    handler.admin_only = True
    return handler


def audited(handler):
    """A write: log who did it, on which route, to which ids."""
    handler.audited = True
    return handler


def rate_limited(limit_of: Callable[[Services], RateLimit | None]):
    """Count each request against the caller's allowance (secured mode), before its body is read."""

    def decorate(handler):
        @functools.wraps(handler)
        async def limited(*args, **kwargs):
            caller, limit = current_caller(), limit_of(services())
            if caller is not None and limit is not None:
                await limit.take(services().pool, caller.key)
            return await handler(*args, **kwargs)

        return limited

    return decorate


def current_caller() -> Caller | None:
    """The verified caller; None in unsecured mode."""
    return g.get("caller")


async def authenticate() -> None:
    """before_request: in secured mode, identify the caller or refuse the request."""
    g.caller = None
    view = current_app.view_functions.get(request.endpoint or "")
    if not settings().secured:
        warn_if_reached_beyond_loopback(request.scope.get("server"))
    if not settings().secured or view is None or getattr(view, "public", False):
        return  # unknown paths stay 404
    if request.method == "OPTIONS":
        return  # CORS preflights carry no credentials
    if getattr(view, "scraped", False) and _scraper_token(request.headers.get("Authorization")):
        return
    caller = await services().identity.identify(
        request.cookies.get(COOKIE), request.headers.get("Authorization")
    )
    if caller is None:
        raise Unauthenticated(
            "authentication required: send the session cookie (jxVouchCookie) or "
            "'Authorization: Bearer <token>'"
        )
    g.caller = caller
    CALLER.set(loggable(caller.email))  # on every record of the request
    if getattr(view, "admin_only", False) and not caller.admin:
        raise Forbidden(f"{caller.email} is not an administrator")


def _scraper_token(authorization: str | None) -> bool:
    """Whether the request carries the metrics scraper's token (NACHET_METRICS_TOKEN)."""
    token = settings().metrics_token
    if token is None or not authorization:
        return False
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(authorization.strip().encode(), expected.encode())


def warn_if_reached_beyond_loopback(server: object) -> None:
    """Unsecured mode answering on an address other than loopback: anyone who reaches it may act
    for every user. Said once per address and process (the server's bind is not visible to the
    app; the address a request arrived on is)."""
    if isinstance(server, (tuple, list)) and server and isinstance(server[0], str):
        try:
            beyond = not ipaddress.ip_address(server[0].strip("[]")).is_loopback
        except ValueError:  # a host name: not an address to judge
            return
        if beyond:
            _say_exposed(server[0])


@functools.lru_cache(maxsize=16)
def _say_exposed(address: str) -> None:
    log.warning(
        "UNSECURED MODE reached on %s, beyond loopback: any client that can reach it can read, change "
        "and delete every user's data; configure an identity source or bind 127.0.0.1",
        loggable(address),
    )


def require_acting_for(user_ref: object, what: str | None = None) -> None:
    """The caller may act for the user a request names (its own id; an admin: anyone's);
    `what` names the thing refused instead of its owner (a job)."""
    caller = current_caller()
    if caller is None:
        return
    if caller.user_id is None and not caller.admin:
        raise Forbidden(f"{caller.email} is not a registered user")
    if not caller.may_act_for(user_ref):
        raise Forbidden(f"{caller.email} may not act for {what or f'user {user_ref}'}")


def noted(body: object) -> None:
    """Remember the ids a parsed body names, for the audit line."""
    g.audit_ids = {
        ID_FIELDS[name]: value
        for name in ID_FIELDS
        if (value := getattr(body, name, None)) is not None and not isinstance(value, (dict, list))
    }


def touched(**ids: object) -> None:
    """Add the ids a write created or changed (new folder, picture, inference)."""
    g.setdefault("audit_ids", {}).update({key: value for key, value in ids.items() if value is not None})


async def write_audit_line(response: Response) -> Response:
    """after_request: one line per request to an @audited route, refused ones included (the
    request's only line: the access line's fields, and who, on which ids)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "audited", False) and request.method != "OPTIONS":
        caller = current_caller()
        who = "anonymous"
        if caller is not None:
            who = f"{loggable(caller.email)} ({caller.source}{', admin' if caller.admin else ''})"
        ids = " ".join(f"{key}={loggable(value)}" for key, value in g.get("audit_ids", {}).items())
        after_the_answer(
            audit_log,
            "%s %s %d by %s from %s%s%s",
            loggable(request.method),
            loggable(request.path),
            response.status_code,
            who,
            request.remote_addr,
            f" {ids}" if ids else "",
            refusal_suffix(),
            extra=request_fields(response),
        )
    return response
