"""uvicorn's server, adjusted to how a service manager expects a registry to start and stop."""

from __future__ import annotations

import socket
import sys
from types import FrameType

import uvicorn


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_message: str) -> None:
        super().__init__(config)
        self.ready_message = ready_message

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Only once the log is replayed and the port is bound: a line a supervisor can trust.
        if self.started:
            print(self.ready_message, file=sys.stderr, flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful shutdown, so the process would die
        # "killed by SIGTERM". A requested stop that completed cleanly is a success: exit 0.
        self._captured_signals.clear()
