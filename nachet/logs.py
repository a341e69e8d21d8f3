"""Logging: one JSON object per line (or plain text for a person at a terminal), every record made
while a request is served carrying that request's id and caller; Python warnings become log
records instead of raw stderr output. A value that comes from a client goes into a line through
`loggable` (at most 200 characters, control characters escaped), and every line is bounded."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
import warnings
from contextvars import ContextVar
from datetime import UTC, datetime

from kernel.text import MESSAGE_CHARS, bounded, bounded_traceback

REQUEST_ID: ContextVar[str | None] = ContextVar("nachet_request_id", default=None)
CALLER: ContextVar[str | None] = ContextVar("nachet_caller", default=None)

# an id a client or proxy sends is kept when it is short and plain (it ends up in logs and headers)
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# attributes every LogRecord has: anything else was passed as `extra=` and is logged as a field
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "caller"}


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is a plain token, else a new one."""
    return header if header and _CLIENT_ID.fullmatch(header) else uuid.uuid4().hex


def request_id_header() -> dict[str, str]:
    """The header model calls carry: the id of the request they serve (none outside a request)."""
    request_id = REQUEST_ID.get()
    return {"X-Request-ID": request_id} if request_id is not None else {}


class RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.caller = CALLER.get()
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": bounded(record.getMessage(), MESSAGE_CHARS),
        }
        for key in ("request_id", "caller"):
            if getattr(record, key, None) is not None:
                line[key] = getattr(record, key)
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return bounded_traceback(super().formatException(ei))


class Text(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = bounded(record.message, MESSAGE_CHARS)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802
        return bounded_traceback(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} [{request_id}]" if request_id else text


class OurHandlersOnly(logging.Filter):
    """On hypercorn's error log: hypercorn gives it a plain-text handler of its own when it starts
    serving (after the app is loaded), and its records also reach ours. Dropping that handler as
    each record passes (a logger's filters run before its handlers are looked up) writes every
    line once, in our format."""

    def filter(self, record: logging.LogRecord) -> bool:
        logging.getLogger(record.name).handlers.clear()
        return True


def _warning_text(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {message}"


def configure_logging(log_format: str = "json", level: int = logging.INFO, azure_http: bool = False) -> None:
    """Root handler on stderr in the chosen format. Libraries that log secrets or every call stay
    at WARNING: httpx (model URLs with keys), the Azure SDK's HTTP policy (every blob call's
    headers, unless NACHET_AZURE_HTTP_LOG asks for them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else Text())
    handler.addFilter(RequestContext())
    handler.set_name("nachet")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "nachet"]:  # others' stay (pytest's)
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("hypercorn.error").addFilter(OurHandlersOnly())
    logging.captureWarnings(True)  # warnings.warn(...) -> logger "py.warnings", same format
    warnings.formatwarning = _warning_text  # one line: the category and message, not the source
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("azure").setLevel(logging.INFO if azure_http else logging.WARNING)
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(
        logging.INFO if azure_http else logging.WARNING
    )
