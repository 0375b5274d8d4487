"""What a subscriber asked to see: events by VM, role and type; the snapshot by VM and role."""

from __future__ import annotations

from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry
from vm_registry.feed.filters import FeedFilter
from vm_registry.feed.tail import FeedItem, feed_item

AT = 1_764_084_101_123


def item(vm_id: str = "vm-1", role: str = "worker", kind: str = ev.HEARTBEAT) -> FeedItem:
    return feed_item(Event(1, kind, vm_id, AT), None, role)


def entry(vm_id: str = "vm-1", role: str = "worker") -> Entry:
    return Entry(vm_id, "n", role, "running", "a", None, None, "me", AT, AT, 1, 1)


def test_no_filter_admits_everything() -> None:
    assert FeedFilter().admits(item())
    assert FeedFilter().admits_entry(entry())


def test_each_part_of_a_filter_must_hold() -> None:
    wanted = FeedFilter(role="worker", vm_id="vm-1", types=frozenset({ev.HEARTBEAT}))
    assert wanted.admits(item())
    assert not wanted.admits(item(vm_id="vm-2"))
    assert not wanted.admits(item(role="infra"))
    assert not wanted.admits(item(kind=ev.UPDATED))


def test_the_snapshot_honours_role_and_vm_but_not_types() -> None:
    wanted = FeedFilter(role="worker", vm_id="vm-1", types=frozenset({ev.STALE}))
    assert wanted.admits_entry(entry())
    assert not wanted.admits_entry(entry(vm_id="vm-2"))
    assert not wanted.admits_entry(entry(role="golden"))
