"""Structured logging to stderr, one line per event, for journald.

Two formats: ``keyvalue`` (logfmt, easy to read in ``journalctl``) and
``json`` (one object per line, for log shippers). Code adds structured fields
as keyword arguments of a :func:`get_logger` logger,
``log.info("message", path=p, reason=r)``; they travel on the record as
``record.kv``, which both formatters write after the message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["MAX_FIELD_CHARS", "FieldLogger", "JsonFormatter", "KeyValueFormatter", "bounded",
           "get_logger", "setup_logging"]

#: Longest text of one logged field (or message): outside input (a notified path,
#: a URL, a header value) can be megabytes long, and one line must stay a line.
MAX_FIELD_CHARS = 1024

_UNDER_SYSTEMD_PREFIX = {  # sd-daemon(3) priority prefixes journald understands
    logging.DEBUG: "<7>", logging.INFO: "<6>", logging.WARNING: "<4>",
    logging.ERROR: "<3>", logging.CRITICAL: "<2>",
}


#: Keyword arguments the logging methods take themselves; every other keyword is a field.
_LOGGING_KEYWORDS = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})


class FieldLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose calls take structured fields as keywords.

    ``log.warning("cannot dispose of file", feed=name, path=path)`` logs the
    message with the fields ``feed`` and ``path`` (``record.kv``); the
    logging keywords (``exc_info``, ``stack_info``, ``stacklevel``,
    ``extra``) keep their meaning.
    """

    def log(self, level: int, msg: object, /, *args: object, **kwargs: Any) -> None:
        # positional-only, so that a field may be called ``level`` (or ``msg``)
        if self.isEnabledFor(level):
            msg, kwargs = self.process(msg, kwargs)
            self.logger.log(level, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        fields = {k: kwargs.pop(k) for k in list(kwargs) if k not in _LOGGING_KEYWORDS}
        if fields:
            kwargs["extra"] = {**(kwargs.get("extra") or {}), "kv": fields}
        return msg, kwargs


def get_logger(name: str) -> FieldLogger:
    """The logger ``name``, taking structured fields as keyword arguments."""
    return FieldLogger(logging.getLogger(name), {})


def bounded(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """``str(value)`` cut to ``limit`` characters, saying how much was left out."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...(+{len(text) - limit} chars)"


def _bound_field(value: Any) -> Any:
    # numbers and flags stay typed (JSON lines); anything else is text, bounded
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str)
        return value if len(text) <= MAX_FIELD_CHARS else bounded(text)
    return bounded(value)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    kv = record.__dict__.get("kv")
    return {k: _bound_field(v) for k, v in kv.items()} if isinstance(kv, dict) else {}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """logfmt: ``ts=... level=info logger=monitor.x msg="..." key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        parts = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": bounded(record.getMessage()),
            **_fields(record),
        }
        if record.exc_info:
            parts["exc"] = self.formatException(record.exc_info)
        return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": bounded(record.getMessage()),
        }
        doc.update(_fields(record))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class _JournalPrefix(logging.Formatter):
    """Prepends the syslog priority so journald stores the right level."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return _UNDER_SYSTEMD_PREFIX.get(record.levelno, "<6>") + self.inner.format(record)


def _one_line(record: logging.LogRecord, level: int) -> None:
    if record.exc_info:
        error = record.exc_info[1]
        record.msg = f"{record.getMessage()} ({type(error).__name__}: {bounded(error, 300)})"
        record.args = None
        record.exc_info = None
        record.exc_text = None
    if record.levelno > level:
        record.levelno, record.levelname = level, logging.getLevelName(level)


class _LibraryNoise(logging.Filter):
    """Library tracebacks the operator cannot act on, as one line.

    kafka-python logs every lost connection at ERROR with a traceback: during
    a broker outage that floods the journal, and the publisher already reports
    the outage once, as a metric and a log line of its own; its line stays, as
    a warning. aiohttp's server logs every malformed request a client sends
    (a scanner, a half-open connection) at ERROR with a 28-line traceback; it
    is the client's mistake, so one line at info.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("kafka"):
            _one_line(record, logging.WARNING)
        elif record.name == "aiohttp.server":
            _one_line(record, logging.INFO)
        return True


def setup_logging(level: str = "INFO", fmt: Literal["keyvalue", "json"] = "keyvalue",
                  verbose: int = 0, journald_prefix: bool | None = None) -> None:
    """Configure the root logger once for the process.

    ``verbose`` (from ``-v``) lowers the level: 1 = DEBUG. ``journald_prefix``
    defaults to whether stderr is connected to the journal (``JOURNAL_STREAM``).
    """
    import os

    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else KeyValueFormatter()
    if journald_prefix is None:
        journald_prefix = bool(os.environ.get("JOURNAL_STREAM"))
    if journald_prefix:
        formatter = _JournalPrefix(formatter)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(_LibraryNoise())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 0 else getattr(logging, level))
    # kafka-python is chatty at INFO about every reconnect; keep its warnings.
    logging.getLogger("kafka").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)
