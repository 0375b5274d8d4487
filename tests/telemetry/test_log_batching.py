"""The log handler writes a burst of lines at once, and never holds a warning (in isolation,
on a StringIO; test_request_log.py checks the lines of a real server)."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from vm_registry.telemetry.log_format import BATCH_SECONDS, BatchingHandler


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = BatchingHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test.batching")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    try:
        yield log, stream
    finally:
        log.removeHandler(handler)


def wait_for(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_a_lone_line_is_written_at_once(logged: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logged
    log.info("first")
    assert stream.getvalue() == "INFO first\n"


def test_a_burst_is_written_in_order_soon_after(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logged
    for n in range(100):
        log.info("line %d", n)
    expected = "".join(f"INFO line {n}\n" for n in range(100))
    assert wait_for(lambda: stream.getvalue() == expected, 20 * BATCH_SECONDS + 5)


def test_a_warning_is_never_held_and_takes_the_held_lines_with_it(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logged
    log.info("a")
    log.info("b")  # within the batch window of "a": held
    log.warning("c")
    assert stream.getvalue() == "INFO a\nINFO b\nWARNING c\n"


def test_flush_writes_what_is_held(logged: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logged
    log.info("a")
    log.debug("b")
    log.handlers[0].flush()
    assert stream.getvalue() == "INFO a\nDEBUG b\n"
