"""Structured log lines for journald."""

from __future__ import annotations

import json
import logging

import pytest

from monitor.logs import JsonFormatter, KeyValueFormatter, setup_logging


def _record(msg: str = "file rejected", **kv: object) -> logging.LogRecord:
    record = logging.LogRecord("monitor.ingest", logging.WARNING, __file__, 1, msg, None, None)
    record.kv = kv  # type: ignore[attr-defined]
    return record


def test_keyvalue_quotes_values_with_spaces() -> None:
    line = KeyValueFormatter().format(_record(path="/spool/a b.fits", reason="truncated"))
    assert 'msg="file rejected"' in line
    assert 'path="/spool/a b.fits"' in line
    assert "reason=truncated" in line
    assert "level=warning" in line


def test_json_is_one_object_with_fields() -> None:
    doc = json.loads(JsonFormatter().format(_record(channel=171)))
    assert doc["msg"] == "file rejected"
    assert doc["channel"] == 171
    assert doc["logger"] == "monitor.ingest"
    assert doc["ts"].endswith("Z")


def test_journald_prefix_and_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("WARNING", "keyvalue", verbose=0, journald_prefix=True)
    logging.getLogger("monitor.test").info("hidden")
    logging.getLogger("monitor.test").error("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert err.startswith("<3>")  # syslog priority 3 = error
    setup_logging("WARNING", "keyvalue", verbose=1, journald_prefix=False)
    assert logging.getLogger().level == logging.DEBUG


def test_kafka_library_tracebacks_become_one_warning_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "keyvalue", journald_prefix=False)
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        logging.getLogger("kafka.net.transport").error("socket lost", exc_info=True)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "level=warning" in err and "ConnectionResetError" in err


def test_malformed_http_requests_are_one_line_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    from aiohttp.http_exceptions import BadHttpMessage

    setup_logging("INFO", "keyvalue", journald_prefix=False)
    try:
        raise BadHttpMessage("Invalid method encountered")
    except BadHttpMessage:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "level=info" in err and "BadHttpMessage" in err


def test_every_field_is_bounded() -> None:
    line = KeyValueFormatter().format(_record(path="/" + "a" * 900_000, n=5))
    assert len(line) < 2000 and "(+" in line and "n=5" in line
