"""The server's log: one format for every line, the request lines, the registry's own and
uvicorn's.

`json` (the default when the log does not go to a terminal) writes one object a line:
`time` (UTC, ISO 8601, milliseconds), `level`, `logger`, `message`, `requestId` when the line
belongs to requests, the request line's fields (`method`, `route`, `path`, `status`,
`durationMs`, `actor`, `bytes`), and `exception` for a traceback. `text` writes the same facts
for a person. Lines go to stderr, with the server's ready line.

Lines are written as they come, except in a burst: a line within `BATCH_SECONDS` of the last
write waits, with the others of the burst, for one write at most that much later (or sooner,
when a warning or worse arrives, or 32 KiB are waiting). Under load that is one system call
for a burst of request lines instead of one each (P15 in docs/benchmarks.md prices the line).
What is lost: on `kill -9` (or a power cut), the last `BATCH_SECONDS` of info and debug lines;
a warning is never held, and an orderly stop writes everything (`logging.shutdown` flushes
every handler at exit).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Literal

import orjson

from vm_registry.telemetry.context import current_request_ids

LogFormat = Literal["json", "text"]
QUIET = ("aiosqlite", "asyncpg", "psycopg", "sqlite3", "sse_starlette")


_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    global _second
    seconds = int(created)
    if _second[0] != seconds:  # strftime once a second, not once a line
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{int((created - seconds) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_ids()
        if request_id is not None:
            line["requestId"] = request_id
        fields = record.__dict__.get("http")
        if fields is not None:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id = current_request_ids()
        parts = [_timestamp(record.created), record.levelname, record.name]
        if request_id is not None:
            parts.append(f"[{request_id}]")
        parts.append(record.getMessage())
        fields = record.__dict__.get("http")
        if fields is not None:
            actor = fields["actor"] or "-"
            # A decoded path may hold control characters (%0A): escaped, so it cannot forge
            # a line of its own.
            path = fields["path"]
            if not path.isprintable():
                path = path.encode("unicode_escape").decode("ascii")
            parts.append(
                f"path={path} {fields['durationMs']}ms actor={actor} bytes={fields['bytes']}"
            )
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


BATCH_SECONDS = 0.05
BATCH_BYTES = 32 * 1024


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes a burst of lines at once (the module docstring says why).
    `emit` runs under the handler's lock (`Handler.handle` takes it), and so does the writer
    thread's flush."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._held: list[str] = []
        self._held_bytes = 0
        self._last_write = 0.0
        self._wake = threading.Event()
        threading.Thread(target=self._flusher, name="log-writer", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # logging's own policy: report it, never raise
            self.handleError(record)
            return
        self._hold(text, record.levelno)

    def emit_info(self, text: str) -> None:
        """An info line already in this handler's format (`json_info_line`'s way in)."""
        with self.lock:  # type: ignore[union-attr]
            self._hold(text, logging.INFO)

    def _hold(self, text: str, levelno: int) -> None:
        self._held.append(text)
        self._held_bytes += len(text)
        now = time.monotonic()
        if (
            levelno >= logging.WARNING
            or self._held_bytes >= BATCH_BYTES
            or now - self._last_write >= BATCH_SECONDS
        ):
            self._write(now)
        elif not self._wake.is_set():
            self._wake.set()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._held:
                self._write(time.monotonic())
            super().flush()

    def _write(self, now: float) -> None:
        try:
            self.stream.write(self.terminator.join(self._held) + self.terminator)
            self.stream.flush()
        except Exception:  # a full disk must not fail the request, and there is nowhere
            pass  # else to say so: this is the log
        self._held.clear()
        self._held_bytes = 0
        self._last_write = now

    def _flusher(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(BATCH_SECONDS)
            self._wake.clear()
            self.flush()


# The JSON handler `configure` installed, for `json_info_line`.
_json_handler: BatchingHandler | None = None


def json_info_line(logger: logging.Logger, message: str, fields: dict[str, Any]) -> bool:
    """Write an info line of `logger` straight into the JSON handler `configure` installed, the
    same text `JsonFormatter` would make, without a LogRecord or logging's walk to the handler:
    the request log's way, about two thirds of the cost per line (P15 in docs/benchmarks.md).

    Only while nothing on that walk could see the record: the handler is still the root's only
    one, still JSON and unfiltered, and the logger and its parents have no filter or handler of
    their own. Otherwise, or for any other level, the caller logs the usual way (False)."""
    handler = _json_handler
    root = logging.root
    if (
        handler is None
        or handler.filters
        or type(handler.formatter) is not JsonFormatter
        or len(root.handlers) != 1
        or root.handlers[0] is not handler
        or logger.filters
    ):
        return False
    node: logging.Logger | None = logger
    while node is not None and node is not root:
        if node.handlers or not node.propagate:
            return False
        node = node.parent
    line: dict[str, Any] = {
        "time": _timestamp(time.time()),
        "level": "INFO",
        "logger": logger.name,
        "message": message,
    }
    request_id = current_request_ids()
    if request_id is not None:
        line["requestId"] = request_id
    line.update(fields)
    handler.emit_info(orjson.dumps(line).decode())
    return True


def flush() -> None:
    """Write whatever a handler holds now (before the ready line, so it follows them)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def default_format() -> LogFormat:
    return "text" if sys.stderr.isatty() else "json"


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(fmt: LogFormat, level: str) -> logging.Formatter:
    """Route every logger (uvicorn's too) through one stderr handler in `fmt`."""
    chosen = formatter(fmt)
    # Neither format prints them; looking them up costs system calls on every line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    global _json_handler
    handler = BatchingHandler(sys.stderr)
    handler.setFormatter(chosen)
    _json_handler = handler if fmt == "json" else None
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Their debug lines quote SQL parameters and stream chunks, bodies among them: never logged.
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return chosen


def render(chosen: logging.Formatter, name: str, message: str) -> str:
    """One line in the log's format, whatever the level (for the ready line)."""
    record = logging.LogRecord(name, logging.INFO, __file__, 0, message, None, None)
    return chosen.format(record)


def ready(chosen: logging.Formatter, name: str, message: str) -> str:
    """The ready line, after every line logged before it has been written."""
    flush()
    return render(chosen, name, message)
