"""Nachet backend: the Quart app factory. It wires the services extension, the blueprints (api/)
and the error handlers that turn every failure into the original's envelope (spec §1.3)."""

from __future__ import annotations

import logging
import sys

from quart import Quart, g, request
from quart_cors import cors
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from api import BLUEPRINTS
from api.access import authenticate, write_audit_line
from api.body_chunks import NachetRequest
from api.envelope import current_context, envelope, error_context_of, refusal
from api.extension import NachetServices
from api.observability import LogsAfterTheAnswer, begin_request, finish_request, refused_because
from kernel.errors import NotOwnerError, ServiceError, Unhandled
from kernel.text import loggable
from nachet.config import ConfigError, Settings, load_settings
from nachet.logs import configure_logging
from nachet.metrics import use_directory
from nachet.process import stop_hypercorn_master
from nachet.runtime import Services

log = logging.getLogger("nachet")


def create_app(config: Settings | None = None, ready: Services | None = None) -> Quart:
    config = config or load_settings()
    app = Quart(__name__)
    app.request_class = NachetRequest  # bodies joined once (api/body_chunks.py)
    app.asgi_app = LogsAfterTheAnswer(app.asgi_app)  # type: ignore[method-assign]
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length_mb * 1024 * 1024
    NachetServices(config, ready).init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    app.before_request(begin_request)

    @app.before_request
    async def name_error_context() -> None:
        g.error_context = error_context_of(app.view_functions.get(request.endpoint or ""))
        if request.content_length and request.content_length > app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()  # from the header, before the body is read

    app.before_request(authenticate)
    app.after_request(write_audit_line)
    app.after_request(finish_request)

    @app.errorhandler(ServiceError)
    async def refused(error: ServiceError):
        status = 403 if config.secured and isinstance(error, NotOwnerError) else error.status
        body, _ = envelope(refusal(error.prefix, error.message), status)
        if status == 401:
            return body, status, {"WWW-Authenticate": "Bearer", **error.headers}
        return body, status, error.headers

    @app.errorhandler(RequestEntityTooLarge)
    async def too_large(error: RequestEntityTooLarge):
        limit = config.max_content_length_mb
        return envelope(refusal("API Error", f"request body larger than {limit} MB"), 413)

    @app.errorhandler(Exception)
    async def unhandled(error: Exception):
        if isinstance(error, HTTPException):  # unknown paths, wrong methods: the envelope, in JSON
            why = {404: "no such route", 405: "method not allowed"}.get(error.code or 0, error.name)
            text = f"{loggable(request.method)} {loggable(request.path)}: {why}"
            body, status = envelope(refusal("API Error", text), error.code or 400)
            allow = {k: v for k, v in error.get_headers() if k.lower() == "allow"}  # 405: what is
            return body, status, allow
        method, path = loggable(request.method), loggable(request.path)
        if isinstance(error, Unhandled):  # the client's input, refused in the original's words:
            refused_because(str(error))  # said in the request's one line, at INFO
        else:  # a failure nobody foresaw: the original's answer, and the traceback for us
            log.error("unhandled error in %s %s", method, path, exc_info=error)
        return envelope(f"Unhandled API error : {current_context().sentence}", 400)

    origins = config.cors_origins
    return cors(
        app,
        allow_origin=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_credentials=True,
        # what a page may read of an answer: the request's id (to quote to support) and when to
        # try again after a 429 (quart-cors sent an empty header without a list)
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=86400,
    )


def _load_app() -> Quart:
    try:
        config = load_settings()
        configure_logging(config.log_format_for(sys.stderr), azure_http=config.azure_http_log)
        use_directory(config.data_dir)  # metrics shared by this server's workers
        return create_app(config)
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        stop_hypercorn_master()
        raise SystemExit(2) from None


app = _load_app()
