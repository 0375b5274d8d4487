from __future__ import annotations

from tests.domain.strategies import T0
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event, canonical_bytes


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    one = Event(7, ev.UPDATED, "vm-1", T0, {"ip": "::1", "userAgent": "x"}, {"b": 1, "a": [2]})
    two = Event(7, ev.UPDATED, "vm-1", T0, {"userAgent": "x", "ip": "::1"}, {"a": [2], "b": 1})
    assert canonical_bytes(one) == canonical_bytes(two)
    assert canonical_bytes(one) != canonical_bytes(Event(8, ev.UPDATED, "vm-1", T0, {}, {}))
