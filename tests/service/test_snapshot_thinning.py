"""Snapshots are thinned so they cannot outgrow the log, without ever losing the newest ones
(startup and recent time travel) or the compaction anchor (the chain's starting point)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vm_registry.service.snapshots import KEEP_RECENT, SPARSE_FACTOR, thinned


@given(
    st.lists(st.integers(1, 10**7), unique=True, max_size=200),
    st.integers(1, 50_000),
    st.integers(0, 10**6),
)
def test_thinning_keeps_the_newest_the_anchor_and_one_per_stride(
    seqs: list[int], every: int, cut: int
) -> None:
    doomed = set(thinned(seqs, every, cut))
    kept = sorted(set(seqs) - doomed, reverse=True)
    assert doomed <= set(seqs)
    newest = sorted(seqs, reverse=True)[:KEEP_RECENT]
    assert set(newest) <= set(kept)
    if cut in seqs:
        assert cut in kept
    # Apart from the newest and the anchor, at most one per stride of events survives.
    stride = every * SPARSE_FACTOR
    older = [s for s in kept if s not in newest and s != cut]
    assert len({s // stride for s in older}) == len(older)
    # And no stride that had a snapshot loses all of them.
    for seq in seqs:
        assert any(k // stride == seq // stride for k in kept)


def test_a_long_running_registry_keeps_a_bounded_number_of_snapshots() -> None:
    every = 10_000
    seqs = list(range(every, 2_000_001, every))  # 200 snapshots over two million events
    kept = set(seqs) - set(thinned(seqs, every, 0))
    assert len(kept) <= KEEP_RECENT + 2_000_000 // (every * SPARSE_FACTOR) + 1
    assert max(seqs) in kept
