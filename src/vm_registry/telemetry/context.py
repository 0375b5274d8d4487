"""The request id a log line belongs to, carried in context variables.

A request's task sets `REQUEST_ID`; every line logged while it runs carries it. The writer runs
in a task of its own, one batch for many requests, so while it works on a batch it sets
`BATCH_REQUEST_IDS` to the ids of the requests in that batch, and its lines carry all of them.
"""

from __future__ import annotations

from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("vm_registry_request_id", default=None)
BATCH_REQUEST_IDS: ContextVar[tuple[str, ...]] = ContextVar(
    "vm_registry_batch_request_ids", default=()
)


def current_request_ids() -> str | None:
    """The id for a log line: the request's own, else the comma-joined ids of the writer's
    batch, else None."""
    found = REQUEST_ID.get()
    if found is not None:
        return found
    batch = BATCH_REQUEST_IDS.get()
    return ",".join(batch) if batch else None
