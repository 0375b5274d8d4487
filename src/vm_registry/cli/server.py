"""uvicorn's server, adjusted to how a service manager expects a registry to stop."""

from __future__ import annotations

from types import FrameType

import uvicorn


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful shutdown, so the process would die
        # "killed by SIGTERM". A requested stop that completed cleanly is a success: exit 0.
        self._captured_signals.clear()
