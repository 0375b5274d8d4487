"""What a subscriber asked to see. The snapshot honours `role` and `vm`; events all three."""

from __future__ import annotations

from dataclasses import dataclass

from vm_registry.domain.model import Entry
from vm_registry.feed.tail import ROLE, TYPE, VM_ID, FeedItem


@dataclass(frozen=True, slots=True)
class FeedFilter:
    role: str | None = None
    vm_id: str | None = None
    types: frozenset[str] | None = None

    def admits(self, item: FeedItem) -> bool:
        if self.vm_id is not None and item[VM_ID] != self.vm_id:
            return False
        if self.role is not None and item[ROLE] != self.role:
            return False
        return self.types is None or item[TYPE] in self.types

    def admits_entry(self, entry: Entry) -> bool:
        if self.vm_id is not None and entry.id != self.vm_id:
            return False
        return self.role is None or entry.role == self.role
