from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vm_registry.domain.timestamps import parse_iso, to_iso

TO_ISO_STRING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
YEAR_9999 = 253_402_300_799_999


@given(st.integers(0, YEAR_9999))
def test_times_render_like_to_iso_string_and_parse_back(ms: int) -> None:
    text = to_iso(ms)
    assert TO_ISO_STRING.match(text)
    assert parse_iso(text) == ms


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)))
def test_rendering_agrees_with_the_standard_library(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
    ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    expected = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert to_iso(ms) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00.000Z", 0),
        ("2025-11-25T15:21:41.123Z", 1_764_084_101_123),
        ("2025-11-25T15:21:41.123z", 1_764_084_101_123),
        ("2025-11-25T16:21:41.123+01:00", 1_764_084_101_123),
        ("2025-11-25T15:21:41.123", 1_764_084_101_123),  # naive: taken as UTC
        ("2025-11-25T15:21:41.123999Z", 1_764_084_101_123),  # sub-ms is dropped
    ],
)
def test_parse_iso_accepts_the_usual_spellings(text: str, expected: int) -> None:
    assert parse_iso(text) == expected
