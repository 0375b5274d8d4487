"""Startup replay: the log folded straight from the rows the store read, to the state `fold`
gives.

A row begins `(seq, kind, vm, at)` (`persistence/log.py`: `ReplayChunk`). A row of any kind
but a heartbeat is decoded into its event and applied. A heartbeat row is only noted as its
VM's newest: what a heartbeat does (`fold.touched`) is wholly overwritten by the next one, so
only a VM's last heartbeat before its next other event matters, and it is applied just before
that event, or at `finish`. A million heartbeats over 10,000 VMs then cost a dictionary store
each and 10,000 entries in all, not a million; and like the rest of the fold, the replay never
changes an entry in place.

One Python pass per row: making a million heartbeat rows into tuples or events first, and then
folding those, cost about two fifths of a cold start's CPU (docs/benchmarks.md, P7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, touched


class Unfoldable(Exception):
    """A stored event the fold cannot apply (a heartbeat of a VM that is not registered, a
    row naming a VM id that was never stored): only a broken log has one."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(message)
        self.seq = seq


class Replay:
    """Fold chunks of rows into `state` with `rows`, in seq order, then `finish`."""

    def __init__(self, state: State) -> None:
        self.state = state
        # Each VM's newest heartbeat row not applied yet, by VM id.
        self._beats: dict[str, Any] = {}

    def rows(
        self,
        rows: Sequence[Any],
        heartbeat: object,
        names: Mapping[Any, str],
        decode: Callable[[Any], Event],
    ) -> None:
        """Fold one chunk. `heartbeat` is the kind of a heartbeat row, `names` maps a row's
        `vm` to the VM's id, and `decode` makes any row into its event."""
        if not rows:
            return
        state, beats = self.state, self._beats
        row = rows[0]
        try:
            for row in rows:
                if row[1] == heartbeat:
                    beats[names[row[2]]] = row
                else:
                    event = decode(row)
                    noted = beats.pop(event.vm_id, None)
                    if noted is not None:
                        self._beat(event.vm_id, noted)
                    apply(state, event)
        except KeyError as error:  # costs nothing until raised
            raise Unfoldable(
                row[0], f"event {row[0]} names a VM or actor that is not there: {error}"
            ) from error
        state.revision = rows[-1][0]

    def finish(self) -> State:
        """Apply the heartbeats still noted, and index the running VMs by activity once."""
        revision = self.state.revision
        for vm_id, row in self._beats.items():
            self._beat(vm_id, row)
        self._beats.clear()
        self.state.revision = revision
        self.state.reindex_activity()
        return self.state

    def _beat(self, vm_id: str, row: Any) -> None:
        entries = self.state.entries
        entry = entries.get(vm_id)
        if entry is None:
            raise Unfoldable(row[0], f"event {row[0]} is a heartbeat of {vm_id!r}, not registered")
        entries[vm_id] = touched(entry, row[3], row[0])
