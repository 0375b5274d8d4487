"""Label selectors over an entry's `metadata`, in Kubernetes' syntax (docs/feed.md, Selectors).

    key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key

Terms joined by commas all hold (AND). Decisions where Kubernetes had no metadata to speak of:

- **Nested objects** are addressed with dots: `gpu.model=a100` reads `metadata["gpu"]["model"]`.
  Every dot separates two levels, so a key that itself holds a dot cannot be addressed.
- **Values compare as text**: a string as it is, a number as the registry writes it in JSON
  (`8`, `1.5`, `1e+20` as `1e20`), a boolean as `true`/`false`. `null`, an object and a list are
  *present* (`key` holds, `!key` does not) but have no text, so they equal no value: `key=x`
  and `key in (...)` do not hold, `key!=x` and `key notin (...)` do, as for an absent key.
- **Values** run to the next comma (or closing parenthesis in a set) and are trimmed, so
  `task=process invoices` works; a value holding a comma, a parenthesis or leading spaces is
  written in double quotes, with `\\"` and `\\\\` inside. An empty value is allowed (`key=`).
- **Bounded**: at most `MAX_CHARACTERS` characters and `MAX_TERMS` terms (values of a set
  included), so a selector costs a bounded time per entry.

A malformed selector raises `Invalid` naming the character (counted from 1) where it is wrong.
Parsing is pure; `Selector.matches` takes the metadata (None when the entry has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from vm_registry.domain.errors import Invalid

MAX_CHARACTERS: Final = 4096
MAX_TERMS: Final = 256
OPERATORS: Final = ("=", "!=", "in", "notin", "exists", "absent")
_KEY_STOP: Final = frozenset('=!,() \t"')
_VALUE_STOP: Final = frozenset(",()")

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Term:
    path: Path
    op: str  # one of OPERATORS
    values: frozenset[str] = frozenset()

    def holds(self, metadata: Mapping[str, Any] | None) -> bool:
        found, text = lookup(metadata, self.path)
        if self.op == "exists":
            return found
        if self.op == "absent":
            return not found
        if self.op in ("=", "in"):
            return text is not None and text in self.values
        return text is None or text not in self.values  # != and notin


@dataclass(frozen=True, slots=True)
class Selector:
    text: str
    terms: tuple[Term, ...]

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        return all(term.holds(metadata) for term in self.terms)

    def index_term(self) -> tuple[Path, frozenset[str]] | None:
        """A key and the values an entry must hold there to match (the first `=`, `==` or
        `in` term), or None: the feed wakes a watcher only for events whose VM held one of
        them before or after."""
        for term in self.terms:
            if term.op in ("=", "in"):
                return term.path, term.values
        return None


def lookup(metadata: Mapping[str, Any] | None, path: Path) -> tuple[bool, str | None]:
    """(present, text): whether the path leads to a value, and that value as text (None for
    null, objects and lists)."""
    node: Any = metadata
    for segment in path:
        if not isinstance(node, dict) or segment not in node:
            return False, None
        node = node[segment]
    return True, text_of(node)


def text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()
    return None


def parse(text: str) -> Selector:
    if len(text) > MAX_CHARACTERS:
        raise Invalid(f"selector is {len(text)} characters long; at most {MAX_CHARACTERS}")
    return Selector(text, _Parser(text).selector())


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.count = 0

    def fail(self, why: str) -> Invalid:
        shown = self.text[self.at : self.at + 20]
        where = f"near {shown!r}" if shown else "at its end"
        return Invalid(f"selector is malformed at character {self.at + 1} ({where}): {why}")

    def spaces(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t":
            self.at += 1

    def peek(self, word: str) -> bool:
        return self.text.startswith(word, self.at)

    def selector(self) -> tuple[Term, ...]:
        terms = [self.term()]
        while True:
            self.spaces()
            if self.at == len(self.text):
                return tuple(terms)
            if not self.peek(","):
                raise self.fail("expected ',' between terms")
            self.at += 1
            terms.append(self.term())

    def counted(self, amount: int = 1) -> None:
        self.count += amount
        if self.count > MAX_TERMS:
            raise self.fail(f"more than {MAX_TERMS} terms and values")

    def term(self) -> Term:
        self.spaces()
        self.counted()
        if self.peek("!") and not self.peek("!="):
            self.at += 1
            self.spaces()
            return Term(self.key(), "absent")
        path = self.key()
        self.spaces()
        if self.at == len(self.text) or self.peek(","):
            return Term(path, "exists")
        for symbol, op in (("==", "="), ("!=", "!="), ("=", "=")):
            if self.peek(symbol):
                self.at += len(symbol)
                return Term(path, op, frozenset([self.value(in_set=False)]))
        for word in ("notin", "in"):
            if self.peek(word) and self.text[self.at - 1] in " \t":
                self.at += len(word)
                return Term(path, word, self.value_set())
        raise self.fail("expected =, ==, !=, in, notin, ',' or the end after a key")

    def key(self) -> Path:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in _KEY_STOP:
            self.at += 1
        key = self.text[start : self.at]
        if not key:
            raise self.fail("expected a key")
        segments = tuple(key.split("."))
        if "" in segments:
            self.at = start
            raise self.fail(f"key {key!r} has an empty part between dots")
        return segments

    def value_set(self) -> frozenset[str]:
        self.spaces()
        if not self.peek("("):
            raise self.fail("expected '(' to open the set of values")
        self.at += 1
        values = [self.value(in_set=True)]
        while True:
            self.spaces()
            if self.peek(")"):
                self.at += 1
                return frozenset(values)
            if not self.peek(","):
                raise self.fail("expected ',' or ')' in the set of values")
            self.at += 1
            self.counted()
            values.append(self.value(in_set=True))

    def value(self, *, in_set: bool) -> str:
        self.spaces()
        if self.peek('"'):
            return self.quoted()
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in _VALUE_STOP:
            if self.text[self.at] == '"':
                raise self.fail("a quote may only open a value")
            self.at += 1
        if self.peek("(") or (self.peek(")") and not in_set):
            raise self.fail("a value holding a parenthesis must be quoted")
        return self.text[start : self.at].strip(" \t")

    def quoted(self) -> str:
        self.at += 1
        out: list[str] = []
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == '"':
                self.at += 1
                return "".join(out)
            if char == "\\":
                following = self.text[self.at + 1 : self.at + 2]
                if following not in ('"', "\\"):
                    raise self.fail('only \\" and \\\\ may follow a backslash in a quoted value')
                out.append(following)
                self.at += 2
                continue
            out.append(char)
            self.at += 1
        raise self.fail("the quoted value is not closed")
