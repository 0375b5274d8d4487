"""The writer's figures, observed by a subclass rather than counted inside `service/writer.py`.

`MeteredWriter` wraps the two seams the writer already has: `submit` (one call per command, in
the caller's task) and `_commit` (one call per batch, in the writer's task). Around a batch it
also sets the batch's request ids, so the writer's own log lines name the requests they concern.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from vm_registry.domain.commands import Command
from vm_registry.domain.errors import RegistryError
from vm_registry.service.writer import Outcome, Writer, _Pending
from vm_registry.telemetry.context import BATCH_REQUEST_IDS, REQUEST_ID

log = logging.getLogger("vm_registry.writer")

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class WriterMetrics:
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

    def count_appended(self, outcome: Outcome) -> None:
        kind = outcome.event.type
        child = self._appended.get(kind)
        if child is None:
            child = self._appended[kind] = self.appended.labels(kind)
        child.inc()


class MeteredWriter(Writer):
    def __init__(self, *args: Any, metrics: WriterMetrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics
        # The request id of each command waiting or in a batch, by the command's identity.
        self._request_ids: dict[int, str] = {}

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, command: Command, actor: dict[str, Any]) -> Outcome:
        self.metrics.count_submitted(command)
        request_id = REQUEST_ID.get()
        if request_id is not None:
            self._request_ids[id(command)] = request_id
        try:
            return await super().submit(command, actor)
        except RegistryError as error:
            self.metrics.count_refused(error)
            raise
        finally:
            if request_id is not None:
                self._request_ids.pop(id(command), None)

    async def _commit(self, batch: list[_Pending]) -> None:
        ids = self._request_ids
        token = BATCH_REQUEST_IDS.set(
            tuple(found for p in batch if (found := ids.get(id(p.command))) is not None)
        )
        started = time.perf_counter()
        try:
            await super()._commit(batch)
            elapsed = time.perf_counter() - started
            if log.isEnabledFor(logging.DEBUG):
                log.debug("batch of %d commands done in %.2f ms", len(batch), elapsed * 1000)
        finally:
            BATCH_REQUEST_IDS.reset(token)
        metrics = self.metrics
        metrics.batch_size.observe(len(batch))
        metrics.commit_seconds.observe(elapsed)
        for pending in batch:
            future = pending.future
            if future.done() and not future.cancelled() and future.exception() is None:
                metrics.count_appended(future.result())
