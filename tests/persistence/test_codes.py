"""The stored payload encoding: what goes into the log reads back exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.domain.strategies import actors, event_logs, json_objects
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event, canonical_bytes
from vm_registry.persistence.codes import CODE_TYPES, TYPE_CODES, decode_data, encode_data


def through_encoding(event: Event) -> Event:
    return Event(
        event.seq,
        event.type,
        event.vm_id,
        event.at,
        decode_data(encode_data(event.actor)),
        decode_data(encode_data(event.data)),
    )


@given(event_logs())
def test_encoding_and_decoding_the_events_of_a_log_is_lossless(log: list[Event]) -> None:
    for event in log:
        decoded = through_encoding(event)
        assert decoded == event
        assert canonical_bytes(decoded) == canonical_bytes(event)


@given(
    st.integers(1, 2**40),
    st.sampled_from(ev.EVENT_TYPES),
    st.text(min_size=1),
    st.integers(0, 2**45),
    actors,
    json_objects,
)
def test_encoding_and_decoding_any_json_payload_is_lossless(
    seq: int, kind: str, vm_id: str, at: int, actor: dict[str, Any], data: dict[str, Any]
) -> None:
    event = Event(seq, kind, vm_id, at, actor, data)
    assert through_encoding(event) == event
    assert canonical_bytes(through_encoding(event)) == canonical_bytes(event)


def test_an_empty_payload_is_stored_as_nothing_and_reads_back_empty() -> None:
    assert encode_data({}) is None
    assert decode_data(None) == {}


@pytest.mark.parametrize("raw", [b"[1, 2]", b"42", b'"text"', "null"])
def test_a_payload_that_is_not_an_object_does_not_decode(raw: bytes | str) -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        decode_data(raw)


def test_type_codes_are_the_ones_logs_were_written_with() -> None:
    # Never renumber: a log written by an older release must read back the same.
    assert TYPE_CODES == {
        ev.REGISTERED: 1,
        ev.UPDATED: 2,
        ev.HEARTBEAT: 3,
        ev.DEREGISTERED: 4,
        ev.STALE: 5,
        ev.HEALTH: 6,
    }
    assert {CODE_TYPES[code] for code in TYPE_CODES.values()} == set(ev.EVENT_TYPES)
