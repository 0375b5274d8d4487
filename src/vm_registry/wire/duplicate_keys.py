"""Refusing a JSON body that repeats a key within one object (a request body, or the file
`vm-registry import` reads).

orjson keeps the last of two equal keys; a proxy or an auditor reading the first would see
another request than the one executed, so such a body answers 400 naming the key. orjson has
no hook to see the repeats, and a second parse with the stdlib scanner (which shows every key
pair) costs as much as everything else done to a body. So that pass runs only when a cheap,
exact test cannot rule a repeat out.

The test counts colons. Every member of an object has exactly one colon outside strings.
orjson, re-encoding what it decoded, writes one colon per key it kept and the colons inside
strings as they are (it never escapes one). So the body has more colons than its re-encoding
exactly when a member was dropped, that is when a key repeated. Counting both is two C passes
over the bytes. The one way the counts could mislead is a string that spells a colon
`\\u003a`: the body's count misses it and the re-encoding's sees it, which could hide a
dropped member. A body with `\\u003` anywhere takes the slow pass (rarely, and never wrongly).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from vm_registry.domain import validation
from vm_registry.domain.errors import Invalid

# Deeper bodies are refused by validation anyway (metadata is at most 32 levels), and the
# stdlib scanner recurses: past ~1,000 levels it would raise RecursionError.
DUPLICATE_CHECK_DEPTH = 64
_ESCAPED_COLON = b"\\u003"  # `\u003a` and `\u003A` (and harmlessly `\u0030` to `\u003f`)


def refuse_duplicate_keys(
    raw: bytes, value: Any, what: str = "request body", *, deep_refused_later: bool = True
) -> None:
    """`value` is what orjson decoded from `raw`. Raises Invalid naming a repeated key; `what`
    names the document in the message. Past `DUPLICATE_CHECK_DEPTH` the plain pass cannot
    read it: a request body that deep is refused by validation anyway, but where that is not so
    (`deep_refused_later=False`: a file whose entries are judged one by one) an uncertain
    document is refused here rather than let through unchecked."""
    if keys_certainly_unique(raw, value):
        return
    if validation.nested_deeper_than(value, DUPLICATE_CHECK_DEPTH):
        if deep_refused_later:
            return
        raise Invalid(
            f"{what} nests deeper than {DUPLICATE_CHECK_DEPTH} levels, too deep to check for "
            "a key given twice"
        )
    key = first_duplicate_key(raw)
    if key is not None:
        raise Invalid(f"{what} has the key {_shown(key)} more than once")


def keys_certainly_unique(raw: bytes, value: Any) -> bool:
    """True only if no object in `raw` repeats a key; False means "look closer"."""
    if _ESCAPED_COLON in raw:
        return False
    try:
        again = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return raw.count(b":") == again.count(b":")


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)


def first_duplicate_key(raw: bytes) -> str | None:
    """The slow, plain pass: the first key found repeated (innermost objects first), or None.
    `raw` must be valid JSON; numbers are not even converted."""
    try:
        json.loads(
            raw.decode(),
            object_pairs_hook=_unique_pairs,
            parse_int=len,
            parse_float=len,
            parse_constant=len,
        )
    except _DuplicateKey as duplicate:
        return str(duplicate)
    return None


def _shown(text: str) -> str:
    # Echo enough of a bad value to recognise it, never a megabyte of it.
    return repr(text) if len(text) <= 64 else repr(text[:64]) + "..."
