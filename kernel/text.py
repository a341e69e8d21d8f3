"""A client's value as a log line may carry it: bounded, control characters escaped, so a value
can neither make a line large nor forge another one."""

from __future__ import annotations

import re
import reprlib
import uuid

LOGGED_CHARS = 200  # of one client value in a log line
MESSAGE_CHARS = 8192  # of a whole message: what no call with loggable values reaches
TRACEBACK_LINE_CHARS = 1000  # of one line of a traceback (the exception's message may be a client's)
TRACEBACK_LINES = 120  # of a traceback: its first and last lines are kept
# C0 and C1 controls, line and paragraph separators, bidirectional overrides and isolates, lone
# surrogates: what could forge a line, hide text on a terminal or fail to encode as UTF-8
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother = 3, LOGGED_CHARS, LOGGED_CHARS
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = _SHORT_REPR.maxset = 10


def loggable(value: object, limit: int = LOGGED_CHARS) -> str:
    """`value` (a client's, or holding one) as a log line may carry it: its text (a short repr
    for lists and objects), cut to `limit` characters with its full length when longer
    (`AAAA…(5242880 chars)`), control characters and lone surrogates escaped (`\\n`, `\\x00`,
    `\\ud800`), so one value can neither make a line large nor forge another."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, float, uuid.UUID)):
        text = str(value)
    elif isinstance(value, int):
        text = str(value) if value.bit_length() <= 64 else f"<integer of {value.bit_length()} bits>"
    else:
        try:
            text = _SHORT_REPR.repr(value)
        except Exception as error:  # a str() of the client's making may fail: say so, do not fail
            text = f"<{type(value).__name__}: {type(error).__name__}>"
    cut = _UNPRINTABLE.sub(_escape, text[:limit])
    return cut if len(text) <= limit else f"{cut}…({len(text)} chars)"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def bounded_traceback(text: str) -> str:
    """A formatted traceback with each line and the number of lines bounded (the exception's
    message, last, may quote a client's value; a deep recursion repeats frames)."""
    lines = [bounded(line, TRACEBACK_LINE_CHARS) for line in text.splitlines()]
    if len(lines) > TRACEBACK_LINES:
        head, tail = TRACEBACK_LINES // 4, TRACEBACK_LINES - TRACEBACK_LINES // 4
        lines = [*lines[:head], f"… {len(lines) - head - tail} lines left out …", *lines[-tail:]]
    return "\n".join(lines)
