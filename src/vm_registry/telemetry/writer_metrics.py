"""The writer's figures, counted by an observer the writer calls (`WriterObserver` in
`service/publishing.py`), never inside the writer or by reaching into it.

It hears of each command in the caller's task (submitted, refused) and of each batch in the
writer's task (its size, its time, what it appended). Around a batch it also sets the batch's
request ids, so the writer's own log lines name the requests they concern: each command's id is
read as it is submitted, and travels with the command to its batch.
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Histogram

from vm_registry.domain.commands import Command
from vm_registry.domain.errors import RegistryError
from vm_registry.domain.outcome import Outcome
from vm_registry.telemetry.context import BATCH_REQUEST_IDS, REQUEST_ID

log = logging.getLogger("vm_registry.writer")

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class WriterMetrics:
    """The writer's observer: what it counts is what `/metrics` shows of the writer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.submitted = Counter(
            "vm_registry_writer_commands_submitted",
            "Commands submitted to the writer, by command",
            ["command"],
            registry=registry,
        )
        self.refused = Counter(
            "vm_registry_writer_commands_refused",
            "Commands the writer refused, by reason (conflict, not_found, invalid, forbidden, "
            "precondition_failed, unavailable: the log could not take them)",
            ["reason"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "vm_registry_writer_batch_size",
            "Commands per batch (one transaction each)",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "vm_registry_writer_commit_duration_seconds",
            "Time to decide, append, fold and publish one batch",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.appended = Counter(
            "vm_registry_log_events_appended",
            "Events this process appended to the log, by type",
            ["type"],
            registry=registry,
        )
        # Children by label value, so the hot path skips `labels()`'s validation and lock.
        self._submitted: dict[type, Any] = {}
        self._refused: dict[type, Any] = {}
        self._appended: dict[str, Any] = {}

    def count_submitted(self, command: Command) -> None:
        kind = type(command)
        child = self._submitted.get(kind)
        if child is None:
            child = self._submitted[kind] = self.submitted.labels(_snake(kind.__name__))
        child.inc()

    def count_refused(self, error: RegistryError) -> None:
        kind = type(error)
        child = self._refused.get(kind)
        if child is None:
            child = self._refused[kind] = self.refused.labels(_snake(kind.__name__))
        child.inc()

    def count_appended(self, committed: list[Outcome]) -> None:
        # Counted here, then added once per type: a counter's `inc` takes a lock, and a batch
        # of heartbeats would take it once per heartbeat.
        counts: dict[str, int] = {}
        for outcome in committed:
            kind = outcome.event.type
            counts[kind] = counts.get(kind, 0) + 1
        for kind, count in counts.items():
            child = self._appended.get(kind)
            if child is None:
                child = self._appended[kind] = self.appended.labels(kind)
            child.inc(count)

    # -- the writer's observer (service/publishing.py: WriterObserver) ------------------------

    def command_submitted(self, command: Command) -> object:
        self.count_submitted(command)
        return REQUEST_ID.get()

    def command_refused(self, error: RegistryError) -> None:
        self.count_refused(error)

    def batch_begins(self, tags: list[object]) -> object:
        return BATCH_REQUEST_IDS.set(tuple(tag for tag in tags if isinstance(tag, str)))

    def batch_ends(
        self, begun: object, size: int, seconds: float, committed: list[Outcome]
    ) -> None:
        if log.isEnabledFor(logging.DEBUG):  # while the batch's request ids are still set
            log.debug("batch of %d commands done in %.2f ms", size, seconds * 1000)
        BATCH_REQUEST_IDS.reset(cast(Token[tuple[str, ...]], begun))
        self.batch_size.observe(size)
        self.commit_seconds.observe(seconds)
        self.count_appended(committed)
