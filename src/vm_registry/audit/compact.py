"""Compaction: shed history before a cut, keeping the log verifiable from the cut.

The cut itself (archive first, then the snapshot and the cut in one transaction) is
service/cutting.py, which retention uses too; this checks the cut and computes the state there.
"""

from __future__ import annotations

from pathlib import Path

from vm_registry.audit.replay import state_at
from vm_registry.domain.errors import Invalid
from vm_registry.persistence.store import Store
from vm_registry.service.cutting import Cut, cut_log


async def compact(store: Store, cut: int, archive_path: Path | None = None) -> Cut:
    log = store.log
    first = await log.refresh_first_seq()
    if cut > log.head:
        raise Invalid(f"cannot compact through seq {cut}: the head is {log.head}")
    if cut < first:
        return Cut(first - 1, 0, 0)  # already compacted that far
    return await cut_log(store, cut, await state_at(store, cut), archive_path)
