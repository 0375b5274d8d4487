"""A request's log line takes a short way into the JSON handler (`log_format.json_info_line`),
and says exactly what the way through logging says; whoever adds a filter or a handler to the
way still sees every line (in-process, on a StringIO; test_request_log.py reads a real
server's lines)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from vm_registry.api import request_log
from vm_registry.api.auth import Principal
from vm_registry.telemetry import log_format
from vm_registry.telemetry.context import REQUEST_ID

DONE = request_log.Done(
    "/registry/vms/{vm_id}/heartbeat",
    "POST",
    "/registry/vms/vm-\u00e9\n1/heartbeat",  # printed as JSON escapes, never a line of its own
    Principal("fleet", frozenset({"agent"})),
    200,
    0.0012,
    321,
)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def configure(fmt: log_format.LogFormat, written: io.StringIO) -> None:
    """The server's log configuration, writing into `written` instead of stderr."""
    log_format.configure(fmt, "info")
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The server's log configuration, writing into the stream yielded; pytest's own handlers
    are put back after the test."""
    written = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure("json", written)
    token = REQUEST_ID.set("req-42")
    try:
        yield written
    finally:
        REQUEST_ID.reset(token)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        log_format._json_handler = None


@contextmanager
def alone() -> Iterator[None]:
    """The configured handler alone on the root, as in the server: pytest adds a capture
    handler of its own around each test's body."""
    root = logging.getLogger()
    others = [h for h in root.handlers if not isinstance(h, log_format.BatchingHandler)]
    for handler in others:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in others:
            root.addHandler(handler)


def logged(stream: io.StringIO) -> list[dict[str, Any]]:
    log_format.flush()
    return [orjson.loads(text) for text in stream.getvalue().splitlines()]


def test_the_short_way_and_loggings_way_write_the_same_line(stream: io.StringIO) -> None:
    fields = {"method": "POST", "status": 200}
    keep_all = logging.Filter()  # passes everything, but logging must now make a record
    with alone():
        assert log_format.json_info_line(request_log.log, "short", fields)
        request_log.log.addFilter(keep_all)
        try:
            assert not log_format.json_info_line(request_log.log, "long", fields)
            request_log._log_line(DONE, 0.0015)
        finally:
            request_log.log.removeFilter(keep_all)
        request_log._log_line(DONE, 0.0015)
    short_test, long_line, short_line = logged(stream)
    assert short_test["message"] == "short" and short_test["requestId"] == "req-42"
    for line in (long_line, short_line):
        assert TIME.match(line.pop("time"))
    expected = {
        "level": "INFO",
        "logger": "vm_registry.request",
        "message": "POST /registry/vms/{vm_id}/heartbeat 200",
        "requestId": "req-42",
        "method": "POST",
        "route": "/registry/vms/{vm_id}/heartbeat",
        "path": "/registry/vms/vm-\u00e9\n1/heartbeat",
        "status": 200,
        "durationMs": 1.5,
        "actor": "fleet",
        "bytes": 321,
    }
    assert short_line == expected and long_line == expected
    assert stream.getvalue().count("\n") == 3  # the newline in the path stayed escaped


def test_a_filter_on_the_request_logger_still_decides(stream: io.StringIO) -> None:
    drop_all = logging.Filter("nothing.matches.this")
    request_log.log.addFilter(drop_all)
    try:
        with alone():
            request_log._log_line(DONE, 0.001)
    finally:
        request_log.log.removeFilter(drop_all)
    assert logged(stream) == []


def test_a_handler_added_on_the_way_still_gets_every_line(stream: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    parent = logging.getLogger("vm_registry")
    extra = Keep()
    parent.addHandler(extra)
    try:
        with alone():
            request_log._log_line(DONE, 0.001)
    finally:
        parent.removeHandler(extra)
    assert [record.getMessage() for record in seen] == ["POST /registry/vms/{vm_id}/heartbeat 200"]
    assert [line["route"] for line in logged(stream)] == ["/registry/vms/{vm_id}/heartbeat"]


def test_the_text_format_takes_loggings_way(stream: io.StringIO) -> None:
    configure("text", stream)
    with alone():
        assert not log_format.json_info_line(request_log.log, "x", {})
        request_log._log_line(DONE, 0.001)
    log_format.flush()
    (line,) = stream.getvalue().splitlines()
    assert "POST /registry/vms/{vm_id}/heartbeat 200" in line and "actor=fleet" in line
