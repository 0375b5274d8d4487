"""The cheap duplicate-key test against the plain stdlib pass, on generated JSON written by
hand: objects as lists of pairs (so keys may repeat), nested in objects and arrays, every
character of a string written as itself, as a short escape or as `\\uXXXX` in either case
(so `"a\\u0062"` and `"ab"` are the same key), and whitespace anywhere it may go."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vm_registry.domain.errors import Invalid
from vm_registry.wire.duplicate_keys import (
    first_duplicate_key,
    keys_certainly_unique,
    refuse_duplicate_keys,
)

# A document is a tree of ("object", [(key, child), ...]), ("array", [child, ...]) or a scalar.
KEYS = st.sampled_from(["a", "ab", "b", ":", "a:b", '"', "\\", "é", "\u2028", "k\n", "😀"])
TEXT = st.text(alphabet='ab:"\\é\n😀', max_size=6)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.tuples(st.just("array"), st.lists(children, max_size=4)),
        st.tuples(st.just("object"), st.lists(st.tuples(KEYS, children), max_size=5)),
    ),
    max_leaves=20,
)
SPACE = st.sampled_from(["", "", " ", "\n\t "])
SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "/": "\\/"}


@st.composite
def written(draw: st.DrawFn, tree: Any) -> str:
    """`tree` as JSON text, each choice of spelling drawn."""
    pad = draw(SPACE)
    if isinstance(tree, tuple):
        kind, members = tree
        if kind == "array":
            inner = ",".join(draw(written(child)) for child in members)
            return f"{pad}[{inner}{draw(SPACE)}]{pad}"
        pairs = (
            f"{draw(SPACE)}{draw(spelled(key))}{draw(SPACE)}:{draw(written(child))}"
            for key, child in members
        )
        return f"{pad}{{{','.join(pairs)}{draw(SPACE)}}}{pad}"
    if isinstance(tree, str):
        return pad + draw(spelled(tree)) + pad
    # json.dumps, not orjson: it writes integers past 64 bits (orjson reads them as floats).
    return pad + json.dumps(tree) + pad


@st.composite
def spelled(draw: st.DrawFn, text: str) -> str:
    out = []
    for char in text:
        how = draw(st.sampled_from(["plain", "short", "u", "U"]))
        if how == "plain" and char not in '"\\\n':
            out.append(char)
        elif how == "short" and char in SHORT:
            out.append(SHORT[char])
        else:
            units = char.encode("utf-16-be")
            for i in range(0, len(units), 2):
                code = f"{int.from_bytes(units[i : i + 2], 'big'):04x}"
                out.append("\\u" + (code.upper() if how == "U" else code))
    return '"' + "".join(out) + '"'


def repeats(tree: Any) -> bool:
    """The model: does any object in the tree have a key twice?"""
    if not isinstance(tree, tuple):
        return False
    kind, members = tree
    if kind == "array":
        return any(repeats(child) for child in members)
    keys = [key for key, _ in members]
    return len(set(keys)) < len(keys) or any(repeats(child) for _, child in members)


def documents() -> st.SearchStrategy[tuple[Any, bytes]]:
    return TREES.flatmap(lambda tree: written(tree).map(lambda text: (tree, text.encode())))


@given(documents())
@example((("object", [("ab", 1), ("ab", 2)]), b'{"a\\u0062":1,"ab":2}'))
@example((("object", [("a", 1), ("a", 2), ("b", ":")]), b'{"a":1,"a":2,"b":"\\u003a"}'))
@example((("object", [("a", "x"), ("b", ":")]), b'{"a":"x","b":"\\u003A"}'))
def test_the_cheap_test_agrees_with_the_plain_pass(document: tuple[Any, bytes]) -> None:
    tree, raw = document
    value = orjson.loads(raw)
    duplicate = first_duplicate_key(raw)
    assert (duplicate is not None) == repeats(tree)
    if keys_certainly_unique(raw, value):
        assert duplicate is None
    elif b"\\u003" not in raw:
        # Without a spelled-out colon, "look closer" happens only for a real repeat.
        assert duplicate is not None
    if duplicate is None:
        refuse_duplicate_keys(raw, value)
    else:
        with pytest.raises(Invalid, match="more than once") as refused:
            refuse_duplicate_keys(raw, value)
        assert repr(duplicate)[:60] in str(refused.value)


def test_a_spelled_out_colon_takes_the_plain_pass() -> None:
    # One member dropped, one colon spelled out: the counts alone would match.
    raw = b'{"a":1,"a":2,"b":"\\u003a"}'
    value = orjson.loads(raw)
    assert raw.count(b":") == orjson.dumps(value).count(b":")
    assert not keys_certainly_unique(raw, value)
    with pytest.raises(Invalid, match="'a' more than once"):
        refuse_duplicate_keys(raw, value)


def test_an_escaped_key_equal_to_a_plain_one_is_a_repeat() -> None:
    raw = b'{"x":{"a\\u0062":1,"ab":2}}'
    value = orjson.loads(raw)
    assert not keys_certainly_unique(raw, value)
    with pytest.raises(Invalid, match="'ab' more than once"):
        refuse_duplicate_keys(raw, value)


@pytest.mark.parametrize("depth", [70, 300, 1000])
def test_a_body_too_deep_for_the_plain_pass_is_left_to_validation(depth: int) -> None:
    # 300 is past orjson's encoding limit (255), 1,000 past the stdlib scanner's recursion.
    raw = b'{"a":1,"a":' + b'{"b":' * depth + b"1" + b"}" * depth + b"}"
    value = orjson.loads(raw)
    assert not keys_certainly_unique(raw, value)
    refuse_duplicate_keys(raw, value)  # no RecursionError; validation refuses the depth


def test_a_repeat_in_a_body_of_modest_depth_is_found() -> None:
    raw = b'{"a":1,"a":' + b'{"b":' * 60 + b"1" + b"}" * 60 + b"}"
    with pytest.raises(Invalid, match="'a' more than once"):
        refuse_duplicate_keys(raw, orjson.loads(raw))
