"""The server's log: one format for every line, the request lines, the registry's own and
uvicorn's.

`json` (the default when the log does not go to a terminal) writes one object a line:
`time` (UTC, ISO 8601, milliseconds), `level`, `logger`, `message`, `requestId` when the line
belongs to requests, the request line's fields (`method`, `route`, `path`, `status`,
`durationMs`, `actor`, `bytes`), and `exception` for a traceback. `text` writes the same facts
for a person. Lines go to stderr, with the server's ready line.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Literal

import orjson

from vm_registry.telemetry.context import current_request_ids

LogFormat = Literal["json", "text"]
FORMATS: tuple[LogFormat, ...] = ("json", "text")
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


def default_format() -> LogFormat:
    return "text" if sys.stderr.isatty() else "json"


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(fmt: LogFormat, level: str) -> logging.Formatter:
    """Route every logger (uvicorn's too) through one stderr handler in `fmt`."""
    chosen = formatter(fmt)
    # Neither format prints them; looking them up costs system calls on every line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(chosen)
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
