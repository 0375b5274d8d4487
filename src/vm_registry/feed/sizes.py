"""What a JSON value costs in memory, for the byte bounds of the tail and its pending frames."""

from __future__ import annotations

import sys


def held_size(value: object) -> int:
    """The bytes a JSON value's objects take, as `sys.getsizeof` counts them (each container,
    key and leaf). Small ints, `True` and interned keys are shared with the rest of the
    process, so this can only overcount. One call per value, as the entry limit's count of
    values makes (domain/validation.py), and a loop, not recursion: a value can nest deeper
    than Python's recursion limit."""
    getsize = sys.getsizeof
    size = 0
    stack = [value]
    while stack:
        node = stack.pop()
        size += getsize(node)
        if isinstance(node, dict):
            size += sum(map(getsize, node))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return size
