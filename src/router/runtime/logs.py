"""JSON-lines logs, with e-mail addresses and phone numbers masked on the way out.

Contacts carry personal data (a customer's e-mail, phone, WhatsApp id) and it
reaches log lines through messages, `extra=` fields, tracebacks and the access
log's URLs. Logs are copied to places with looser access than the store, so
every string that leaves a log record goes through `mask` first; one JSON
object per line keeps the lines machine-readable for whatever ships them.

`setup_logging` installs this on the root logger; `JsonFormatter` is the
formatter (it masks by itself) and `MaskingFilter` masks records in place for
any other handler the daemon or a test attaches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import orjson

__all__ = ["JsonFormatter", "MaskingFilter", "mask", "mask_value", "setup_logging"]

# ------------------------------------------------------------------ masking

_EMAIL = re.compile(
    # Starts only where a run of address characters starts: the regex engine then
    # reads each run once, so a long token cannot make masking quadratic.
    r"(?<![A-Za-z0-9._%+\-])"
    r"(?P<local>[A-Za-z0-9._%+\-]+)"
    r"(?P<at>@|%40)"  # %40: an address inside a URL-encoded query string
    r"(?P<domain>[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"
)

_PHONE = re.compile(
    # Not the continuation of a word, an id ("c-123…", "of-12"), a number
    # ("1.5", "-3") or a time ("10:00:00.123"): a phone number stands on its own.
    r"(?<![\w.\-])(?<!\d[:/])"
    r"(?P<plus>\+|%2[Bb])?"  # international prefix, raw or URL-encoded
    r"\(?\d(?:[ .\-()]{0,2}\d){6,14}"  # 7 to 15 digits, with separators between them
    # ... and not cut out of a longer run of digits, an id ("30433819-7096-d20f"),
    # a time or an address: the same rule as at the start, on the other side
    r"(?!\w)(?![.\-]\w)(?![:/]\d)"
)
_NON_DIGIT = re.compile(r"\D")
_GROUPS = re.compile(r"\d+")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}([./\-])\d{2}\1\d{4}")
_EPOCH_DIGITS = (10, 13)  # seconds and milliseconds since 1970, 2001 to 2033


def _mask_email(match: re.Match[str]) -> str:
    return f"{match['local'][0]}***{match['at']}{match['domain']}"


def _mask_phone(match: re.Match[str]) -> str:
    text = match[0]
    plus = match["plus"] or ""
    body = text[len(plus) :]
    if not _looks_like_phone(body, plus):
        return text
    digits = _NON_DIGIT.sub("", body)
    return f"{plus}{'*' * (len(digits) - 2)}{digits[-2:]}"


def _looks_like_phone(body: str, plus: str) -> bool:
    """Tell a phone number from the other digit runs the regex lets through."""
    if body.count(".") == 1 and body.replace(".", "").isdigit():
        return False  # a decimal number: 1732280000.123, 0.0001234567
    if plus:
        return True
    if body.isdigit():
        # A bare run: an epoch timestamp in seconds or milliseconds stays.
        return not (len(body) in _EPOCH_DIGITS and body[0] == "1")
    if _IPV4.fullmatch(body) or _DATE.fullmatch(body):
        return False
    # "1 2 3 4 5 6 7" is a list of small numbers; a phone number has at most one
    # one-digit group (a country or trunk code: "1-800-555-0199", "+33 1 23 45 67 89").
    return sum(1 for group in _GROUPS.findall(body) if len(group) == 1) < 2


def mask(text: str) -> str:
    """`text` with e-mail addresses and phone numbers masked.

    E-mail addresses keep the first character of the local part and the
    domain: "jane.doe@example.com" → "j***@example.com" (also when URL-encoded
    as "jane%40example.com").

    Phone numbers keep a leading "+" (or its URL encoding "%2B") and their last
    two digits: "+1 (555) 010-0134" → "+*********34". A phone number is 7 to 15
    digits, optionally after a "+", possibly separated by spaces, dots, dashes
    or parentheses, standing on its own: not glued to letters, digits, "-", ".",
    or a time's ":".

    What stays untouched: numbers of up to 6 digits (ports, counts, most
    durations), decimal numbers (1732280000.123, 0.0001234567), epoch
    timestamps of 10 or 13 digits starting with 1, negative numbers, ISO
    dates and times (2024-11-22, 2024-11-22T10:00:00.123Z, 22.11.2024), IPv4
    addresses, UUIDs, hex ids, and ids such as "c-3f2a…", "of-12",
    "c-1234567890" (digits after a dash belong to the id).

    Limits, deliberately on the side of masking: a bare integer of 7 to 15
    digits that is not an epoch timestamp (a byte count such as 10485760) is
    masked, as are several small numbers separated only by single spaces when
    they add up to 7 or more digits; log such figures with units or
    thousands separators ("10_485_760", "10,485,760"). Only the formats above
    are recognized: a number spelled out, or split by other characters
    ("555/0100/34"), or a value that is not a string (an int in `extra=`)
    passes as it is. Names and postal addresses are not detected.
    """
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(_mask_email, text)
    return _PHONE.sub(_mask_phone, text)


def mask_value(value: Any) -> Any:
    """A JSON-ready copy of `value` with every string in it masked (keys too)."""
    if isinstance(value, str):
        return mask(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {
            mask(key) if isinstance(key, str) else mask_value(key): mask_value(item)
            for key, item in value.items()
        }
    if hasattr(value, "_asdict") and not isinstance(value, type):  # a Value or NamedTuple
        return {key: mask_value(item) for key, item in value._asdict().items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Walked rather than left to orjson, which would print its strings unmasked.
        return {f.name: mask_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return mask(value.decode("utf-8", "replace"))
    return mask(str(value))


# ------------------------------------------------------------------ records

#: attributes every LogRecord has: whatever else is on a record came from `extra=`
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",  # Python 3.12+
}
_OWN_KEYS = ("ts", "level", "logger", "msg", "exc", "stack")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds: 2024-11-22T10:00:00.123Z."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, extra fields, exc.

    Every string that comes from the record is masked; numbers and booleans
    in `extra=` stay numbers.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        # Not cached on the record (as logging.Formatter does): another handler
        # would print the cached, unmasked traceback.
        trace = record.exc_text or (
            self.formatException(record.exc_info) if record.exc_info else ""
        )
        if trace:
            line["exc"] = mask(trace)
        if record.stack_info:
            line["stack"] = mask(self.formatStack(record.stack_info))
        for key, value in _extras(record).items():
            if key not in _OWN_KEYS:  # an extra never hides the record's own fields
                line[key] = mask_value(value)
        return orjson.dumps(line, option=orjson.OPT_NON_STR_KEYS).decode()


class MaskingFilter(logging.Filter):
    """Masks a record in place, for handlers that do not use `JsonFormatter`.

    The message is formatted once and its arguments dropped, so a later
    formatter cannot put the unmasked values back; the traceback is formatted
    and masked into `exc_text`, which formatters print instead of formatting
    `exc_info` again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        for key, value in _extras(record).items():
            setattr(record, key, mask_value(value))
        return True


# ------------------------------------------------------------------ setup

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

#: third-party loggers that speak too much below warning
_QUIET = ("aiohttp", "aiomqtt", "mqtt", "paho", "mail.log", "asyncio")
#: one line per request is worth keeping; its URLs are masked like everything else
_ACCESS_LOG = "aiohttp.access"


class _JsonHandler(logging.StreamHandler[TextIO]):
    """The handler `setup_logging` installs; found again by its class, never doubled."""


def setup_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (default stderr) as masked JSON lines.

    Calling it again replaces the handler it installed before (a reload, or a
    second daemon in the same test process) instead of adding a second one.
    """
    try:
        threshold = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; one of {', '.join(_LEVELS)}") from None
    handler = _JsonHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(old)
        old.close()  # a StreamHandler leaves its stream open; this only unregisters it
    root.addHandler(handler)
    root.setLevel(threshold)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))
    logging.getLogger(_ACCESS_LOG).setLevel(max(threshold, logging.INFO))
