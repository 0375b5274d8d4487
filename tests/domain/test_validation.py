"""The rules of `domain/validation.py` that take shortcuts, held to the plain rule they stand for.
(The messages a request body gets are in tests/wire/test_bodies.py.)"""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.domain.strategies import json_objects, json_values
from vm_registry.domain import validation
from vm_registry.domain.errors import Invalid, TooLarge


def test_control_characters_are_exactly_unicodes_cc_category() -> None:
    # C0, DEL and C1 (Unicode's `Cc`) are refused anywhere in a text; every other code point is
    # taken: format characters, line separators, private use, emoji, the last code point.
    others = (0x200B, 0x2028, 0x2029, 0xE000, 0xFEFF, 0xFFFF, 0x1F680, sys.maxunicode)
    for code in (*range(0x300), *others):
        char = chr(code)
        refused = unicodedata.category(char) == "Cc"
        text = f"a{char}b"
        try:
            validation.text_field(text, "name")
        except Invalid as error:
            assert refused, f"U+{code:04X} refused: {error.message}"
        else:
            assert not refused, f"U+{code:04X} taken"


def _values(value: Any) -> int:
    """The plain count the rule is stated in: every value, every key."""
    if isinstance(value, dict):
        return 1 + sum(1 + _values(child) for child in value.values())
    if isinstance(value, list):
        return 1 + sum(_values(child) for child in value)
    return 1


@given(st.lists(json_objects, max_size=2) | st.none(), json_objects | st.none(), st.data())
def test_entry_size_refuses_exactly_by_bytes_and_by_values(
    services: Any, metadata: Any, data: st.DataObject
) -> None:
    parts = [part for part in (services, metadata) if part is not None]
    size = sum(len(orjson.dumps(part)) for part in parts)
    values = sum(_values(part) for part in parts)
    # Limits around the entry's own size and count, where the shortcuts decide.
    per_value = validation.BYTES_PER_VALUE
    limit = data.draw(
        st.sampled_from([size, size - 1, values * per_value, values * per_value - 1])
        | st.integers(0, 2 * size * per_value + 32)
    )
    too_large = size > limit or values > max(limit // per_value, 1)
    if too_large:
        with pytest.raises(TooLarge):
            validation.check_entry_size(services, metadata, limit)
    else:
        validation.check_entry_size(services, metadata, limit)


@given(json_values)
def test_a_value_count_never_passes_its_encodings_size(value: Any) -> None:
    # What lets `check_entry_size` skip counting an entry no larger than the count's limit.
    assert _values(value) <= len(orjson.dumps(value))
