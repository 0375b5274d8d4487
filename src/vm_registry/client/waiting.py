"""Waiting for the fleet to reach a state, on blocking queries (`?index=N&wait=...`).

A `Wait` is the pure half of `wait_for_vm` and `wait_for_role`: which request to send next, and
whether an answer settles it. The sync and the async client drive the same `Wait` and differ only
in how they send and sleep. Each request is held by the server until the answer changes (or up
to `MAX_HOLD`), so waiting costs one request per change, not one per poll.

A 503 (the server's bound on held requests, or a log that is briefly unavailable) or a dropped
connection is not the end: the wait pauses `RETRY_PAUSE` and asks again, until its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import httpx

from vm_registry.client import calls
from vm_registry.client.errors import RegistryError, Unavailable
from vm_registry.client.models import Entry, Listing

T = TypeVar("T")

MAX_HOLD: Final = 60.0  # seconds a single request asks to be held
RETRY_PAUSE: Final = 1.0


class WaitTimeout(RegistryError, TimeoutError):
    """The condition did not come true before the deadline. `last` is what was seen last."""

    def __init__(self, message: str, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


@dataclass(frozen=True, slots=True)
class Lookup:
    """One VM, or None when it is not registered, and the revision the answer reflects."""

    entry: Entry | None
    revision: int | None


def is_running(entry: Entry) -> bool:
    return entry.status == "running" and not entry.stale


def get_held(vm_id: str, index: int | None, hold: float | None) -> calls.Call[Lookup]:
    def found(body: Any, headers: httpx.Headers) -> Lookup:
        return Lookup(Entry.from_wire(body), calls.revision_of(headers))

    def missing(headers: httpx.Headers) -> Lookup:
        return Lookup(None, calls.revision_of(headers))

    call = calls.Call(
        "GET",
        f"/registry/vms/{calls.segment(vm_id)}",
        found,
        params=calls.blocking_params(index, hold),
        on_missing=missing,
    )
    return calls.held(call, hold)


@dataclass(slots=True)
class Wait(Generic[T]):
    describe: str  # "VM 'x' to be running", for the timeout's message
    request: Callable[[int | None, float | None], calls.Call[T]]
    settled: Callable[[T], bool]
    revision_of: Callable[[T], int | None]
    timeout: float
    deadline: float = field(init=False)
    index: int | None = None
    last: T | None = None

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def next_call(self) -> calls.Call[T]:
        left = self.remaining()
        if left <= 0:
            raise WaitTimeout(
                f"gave up waiting for {self.describe} after {self.timeout:g} s", self.last
            )
        # The first request reads at once (no index yet); each later one is held.
        hold = None if self.index is None else min(left, MAX_HOLD)
        return self.request(self.index, hold)

    def done(self, answer: T) -> bool:
        self.last = answer
        if self.settled(answer):
            return True
        self.index = self.revision_of(answer)
        return False

    def pause_after(self, error: RegistryError) -> float:
        """How long to sleep before asking again after `error`; re-raises what is not
        worth retrying (a 400, a 401 or 403: waiting will not fix them)."""
        if not isinstance(error, Unavailable) or self.remaining() <= 0:
            raise error
        return min(RETRY_PAUSE, max(self.remaining(), 0.0))


def get_held_matching(
    vm_id: str, selector: str, index: int | None, hold: float | None
) -> calls.Call[Lookup]:
    """VM `vm_id` if its metadata matches `selector`, else None, read from the list of the VMs
    that match: the read of one VM takes no selector, and the server's parser is the one
    meaning a selector has (the client has none, and a malformed one is its 400). So the answer
    grows with the VMs the selector matches, and the read is held until that list changes."""

    def found(body: Any, headers: httpx.Headers) -> Lookup:
        wire = next((vm for vm in body["vms"] if vm["id"] == vm_id), None)
        return Lookup(None if wire is None else Entry.from_wire(wire), calls.revision_of(headers))

    params: calls.Params = {"selector": selector, **calls.blocking_params(index, hold)}
    return calls.held(calls.Call("GET", "/registry/vms", found, params=params), hold)


def for_vm(
    vm_id: str,
    condition: Callable[[Entry], bool] | None,
    timeout: float,
    selector: str | None = None,
) -> Wait[Lookup]:
    check = condition or is_running
    matching = f" with metadata matching {selector!r}" if selector else ""
    return Wait(
        f"VM {vm_id!r}" + (" to be running" if condition is None else " to match") + matching,
        lambda index, hold: (
            get_held_matching(vm_id, selector, index, hold)
            if selector
            else get_held(vm_id, index, hold)
        ),
        lambda found: found.entry is not None and check(found.entry),
        lambda found: found.revision,
        timeout,
    )


def for_role(
    role: str, count: int, healthy: bool, timeout: float, selector: str | None = None
) -> Wait[Listing]:
    kind = "healthy running" if healthy else "running"
    matching = f" matching {selector!r}" if selector else ""
    return Wait(
        f"{count} {kind} VM(s) with role {role!r}{matching}",
        lambda index, hold: calls.held(calls.discover(role, healthy, index, hold, selector), hold),
        lambda listing: len(listing) >= count,
        lambda listing: listing.revision,
        timeout,
    )
