"""What the writer tells others, and in what order: the subscribers (every committed batch) and
its observer (every command and batch, as they happen).

Subscribers hear each committed batch, this process's and other processes' alike (a replica's
commits come through the follower), in seq order, and in the order they were given: the
runtime's is the feed (SSE streams hear first), then blocking queries (which read the
projection, already moved), then snapshots (which only count; `service/runtime.py`). Each is
called on its own, so one that fails neither stops the others nor fails the writes, which are
durable by then.

The observer (the metrics, `telemetry/writer_metrics.py`) watches without taking part: it hears
of each command as it is submitted and refused, in the caller's task, and of each batch around
its commit, in the writer's. It never sees the writer's insides, and nothing it does changes
what the writer decides. It is called on the heartbeat's path, so it must be cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from vm_registry.domain.commands import Command
from vm_registry.domain.errors import RegistryError
from vm_registry.domain.outcome import Outcome

# Hears of every batch of committed events (this process's and other processes'), in seq order.
Subscriber = Callable[[list[Outcome]], None]


class WriterObserver(Protocol):
    """Watches the writer (the metrics); called on the writer's path, so it must be cheap."""

    def command_submitted(self, command: Command) -> object:
        """In the caller's task, as `command` is queued. What it returns travels with the
        command into its batch (`batch_begins` gets them all): the caller's request id."""

    def command_refused(self, error: RegistryError) -> None:
        """In the caller's task: the command was refused, or the log could not take it."""

    def batch_begins(self, tags: list[object]) -> object:
        """In the writer's task, before a batch is decided; what it returns goes to
        `batch_ends`."""

    def batch_ends(
        self, begun: object, size: int, seconds: float, committed: list[Outcome]
    ) -> None:
        """After the batch of `size` commands: `committed` is what it appended (empty if the
        log refused it)."""
