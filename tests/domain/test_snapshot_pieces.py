"""A snapshot is encoded a piece at a time (the server yields to its event loop between
pieces), and the pieces must join into exactly the canonical bytes: the digest of every
snapshot already on disk depends on them."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.domain.strategies import event_logs
from vm_registry.domain import snapshot
from vm_registry.domain.events import Event
from vm_registry.domain.fold import fold


@given(event_logs(max_commands=40), st.integers(1, 5))
def test_the_pieces_join_into_the_canonical_bytes(log: list[Event], rows: int) -> None:
    state = fold(log)
    entries = list(state.entries.values())
    pieces = list(snapshot.encode_pieces(entries, state.revision, rows))
    canonical = orjson.dumps(
        {
            "format": snapshot.FORMAT,
            "revision": state.revision,
            "entries": [snapshot._row(e) for e in entries],
        },
        option=orjson.OPT_SORT_KEYS,
    )
    assert b"".join(pieces) == canonical == snapshot.encode(state)
    assert snapshot.decode(canonical) == state
    # The step the event loop waits for: every piece holds at most `rows` entries.
    assert len(pieces) == 2 + -(-len(entries) // rows)
