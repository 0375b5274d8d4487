"""What a committed event did: the unit the writer publishes to everyone who follows the log.

It lives in the domain, below both the service (whose writer makes outcomes) and the feed (which
renders them), so the runtime can own the feed without the feed knowing the service.
"""

from __future__ import annotations

from typing import NamedTuple

from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry


class Outcome(NamedTuple):
    """A committed event: the event, the entry right after it (None once deregistered), the
    VM's role (kept after deregistration, so feeds filtered by role still see it go), and the
    entry right before it (None for a registration): a feed filtered by a selector over the
    metadata must know whether the VM was in its set before the event, to tell it that it left.

    A NamedTuple, like `Event`, rather than a frozen dataclass: as immutable, and less than half
    the cost to build, which the writer pays for every heartbeat."""

    event: Event
    entry: Entry | None
    role: str
    before: Entry | None
