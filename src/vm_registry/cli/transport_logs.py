"""Keep the HTTP client's own loggers out of a command's output.

httpx logs every request at INFO ("HTTP Request: POST ... 200 OK") and httpcore every step of
every connection at DEBUG, response headers included. `agent` and `mcp` log at INFO (and `agent
-v` at DEBUG) to show what they do for the VM: a heartbeat sent, a registration retried. The
transport's lines would drown those, so both loggers are held to warnings."""

from __future__ import annotations

import logging

TRANSPORT_LOGGERS = ("httpx", "httpcore")


def quiet_transport() -> None:
    for name in TRANSPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
