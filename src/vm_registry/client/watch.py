"""The reconnecting change-feed reader, shared by the sync and the async client.

A watch is a resume point plus pacing. `Cursor` owns both and is pure: it reads SSE messages,
moves the resume point, and decides what a refused connection means. The loop around it
(`watch_aio.py`, and `watch_sync.py` generated from it) only moves bytes and sleeps, so the
sync and async watches can never disagree about what was delivered.

Guarantees: every event is yielded once, in seq order, across any number of reconnects. The
resume point is the id of the last message seen (events, snapshots and bookmarks), sent back
as `Last-Event-ID`, and an event at or below it is dropped as a repeat. A resume point that the
server no longer holds (410) is never skipped over silently: it raises `Gone`, or with
`snapshot=True` the watch starts again from a fresh snapshot, which the caller sees as a new
`Snapshot` item.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpx
import orjson
from httpx_sse import ServerSentEvent

from vm_registry.client.calls import MIN_REVISION_HEADER, REVISION_HEADER, Params, decode
from vm_registry.client.errors import Gone, ProtocolError, for_status
from vm_registry.client.models import Event, Snapshot, WatchItem

log = logging.getLogger("vm_registry.client.watch")

STREAM_PATH: Final = "/registry/stream"
# Before the server has said how long to wait (`retry:`), the first reconnect waits this long.
FIRST_DELAY: Final = 0.25
# "A few seconds": long enough to spare a struggling server, short enough to catch up quickly.
MAX_DELAY: Final = 5.0
# The server sends a keepalive every 15 s; four missed ones mean the connection is dead (a
# half-open TCP connection, or a proxy that stopped forwarding) and it is time to reconnect.
READ_TIMEOUT: Final = 60.0


@dataclass(frozen=True, slots=True)
class WatchQuery:
    role: str | None = None
    vm: str | None = None
    types: Sequence[str] | None = None
    snapshot: bool = False
    selector: str | None = None

    def params(self, position: int | None) -> Params:
        params: Params = {}
        if self.role is not None:
            params["role"] = self.role
        if self.vm is not None:
            params["vm"] = self.vm
        if self.types:
            params["types"] = ",".join(self.types)
        if self.selector:
            params["selector"] = self.selector
        if position is None and self.snapshot:
            params["snapshot"] = "true"
        return params


class Cursor:
    def __init__(
        self,
        query: WatchQuery,
        after: int | None = None,
        max_delay: float = MAX_DELAY,
        min_revision: int | None = None,
    ) -> None:
        self.query = query
        self.position = after
        # Watching "from now" through another replica than the client's last write: the
        # stream starts no earlier than that write.
        self.min_revision = min_revision
        self.max_delay = max_delay
        self.hint: float | None = None
        self.failures = 0

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.position is not None:
            headers["Last-Event-ID"] = str(self.position)
        elif self.min_revision is not None:
            headers[MIN_REVISION_HEADER] = str(self.min_revision)
        return headers

    def accept(self, message: ServerSentEvent) -> WatchItem | None:
        """Read one message; the item to hand to the caller, if it is one."""
        if message.retry is not None:
            self.hint = message.retry / 1000
        kind = message.event
        try:
            if kind == "bookmark":
                self._advance(message.id)
                return None
            if kind == "snapshot":
                snapshot = Snapshot.from_wire(orjson.loads(message.data))
                self.position = snapshot.revision
                return snapshot
            if not kind.startswith("vm.") or not message.data:
                # Keepalives, the empty dispatches an SSE parser makes after them, and message
                # kinds a newer server may add.
                return None
            event = Event.from_wire(orjson.loads(message.data))
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(f"unreadable {kind!r} message on the change feed: {e!r}") from e
        if self.position is not None and event.seq <= self.position:
            return None
        self.position = event.seq
        return event

    def _advance(self, raw: str) -> None:
        if raw.isdigit() and (self.position is None or int(raw) > self.position):
            self.position = int(raw)

    def opened(self, response: httpx.Response) -> None:
        self.failures = 0
        if self.position is None and not self.query.snapshot:
            # The stream starts at the head, which the server names in this header. Taking it
            # as the resume point at once means a drop before the first event still resumes
            # exactly there. (A snapshot watch waits for its snapshot instead: resuming without
            # one would leave the caller with no fleet to apply events to.)
            revision = response.headers.get(REVISION_HEADER, "")
            if revision.isdigit():
                self.position = int(revision)

    def failed(self, reason: object) -> None:
        self.failures += 1
        log.info("change feed dropped (%s); reconnecting from %s", reason, self.position)

    def refused(self, response: httpx.Response) -> None:
        """A connection answered with something other than a stream: retry, or raise."""
        status = response.status_code
        body = decode(response)
        if status == 410:
            if not self.query.snapshot:
                error = for_status(status, body, "history before the resume point is gone")
                raise Gone(
                    f"{error.message}; resume point {self.position} is no longer in the log. "
                    "Re-list the fleet, or watch with snapshot=True to do it automatically",
                    status,
                )
            log.warning("resume point %s is gone; starting again from a snapshot", self.position)
            self.position = None
            return
        if status == 429 or status >= 500:
            self.failed(f"HTTP {status}")
            return
        raise for_status(status, body, f"HTTP {status} from the change feed")

    def delay(self) -> float:
        """How long to wait before the next connection: none after a planned re-list, else
        exponential from the server's `retry:` hint, capped, with jitter so a fleet of watchers
        does not reconnect in lockstep after a restart."""
        if self.failures == 0:
            return 0.0
        base = self.hint if self.hint is not None else FIRST_DELAY
        ceiling = min(self.max_delay, base * 2 ** min(self.failures - 1, 16))
        return random.uniform(ceiling / 2, ceiling)
