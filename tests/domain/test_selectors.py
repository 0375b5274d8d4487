"""Label selectors: what they parse to, what they match, and where a malformed one is wrong."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vm_registry.domain.errors import Invalid
from vm_registry.domain.selectors import MAX_CHARACTERS, MAX_TERMS, Term, parse

KEYS = st.sampled_from(["a", "b", "gpu", "region", "x-y_z"])
TEXTS = st.sampled_from(["", "eu", "1", "1.5", "true", "false", "a b", "a,b", 'q"', "(x)"])
SCALARS = st.one_of(
    TEXTS, st.integers(-3, 3), st.sampled_from([1.5, 1e20]), st.booleans(), st.none()
)
METADATA = st.recursive(
    st.dictionaries(KEYS, SCALARS, max_size=4),
    lambda inner: st.dictionaries(KEYS, st.one_of(SCALARS, inner, st.lists(SCALARS)), max_size=4),
    max_leaves=10,
)
PATHS = st.lists(KEYS, min_size=1, max_size=3).map(tuple)
OPS = st.sampled_from(["=", "!=", "in", "notin", "exists", "absent"])


@st.composite
def terms(draw: st.DrawFn) -> Term:
    op = draw(OPS)
    if op in ("exists", "absent"):
        values: frozenset[str] = frozenset()
    elif op in ("=", "!="):
        values = frozenset([draw(TEXTS)])
    else:
        values = frozenset(draw(st.lists(TEXTS, min_size=1, max_size=3)))
    return Term(draw(PATHS), op, values)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def written(term: Term) -> str:
    key = ".".join(term.path)
    if term.op == "exists":
        return key
    if term.op == "absent":
        return "!" + key
    if term.op in ("=", "!="):
        return key + term.op + quoted(next(iter(term.values)))
    return f"{key} {term.op} ({', '.join(quoted(v) for v in sorted(term.values))})"


def reference(term: Term, metadata: dict[str, Any]) -> bool:
    """The same rule, written by flattening the metadata into dotted keys."""
    flat: dict[tuple[str, ...], Any] = {}

    def walk(prefix: tuple[str, ...], node: Any) -> None:
        flat[prefix] = node
        if isinstance(node, dict):
            for key, value in node.items():
                walk((*prefix, key), value)

    walk((), metadata)
    present = term.path in flat
    value = flat.get(term.path)
    if isinstance(value, bool):
        text: str | None = str(value).lower()
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = {1.5: "1.5", 1e20: "1e20"}[value]
    else:
        text = value if isinstance(value, str) else None
    return {
        "exists": present,
        "absent": not present,
        "=": text in term.values,
        "in": text in term.values,
        "!=": text not in term.values,
        "notin": text not in term.values,
    }[term.op]


@given(st.lists(terms(), min_size=1, max_size=5))
def test_a_written_selector_parses_back_to_its_terms(chosen: list[Term]) -> None:
    assert parse(", ".join(written(t) for t in chosen)).terms == tuple(chosen)


@given(st.lists(terms(), min_size=1, max_size=5), METADATA)
def test_a_selector_matches_when_every_term_holds(chosen: list[Term], metadata: Any) -> None:
    selector = parse(",".join(written(t) for t in chosen))
    assert selector.matches(metadata) == all(reference(t, metadata) for t in chosen)


@given(st.text(alphabet=st.sampled_from('ab=!,() .in"\\'), max_size=30))
def test_any_text_parses_or_says_where_it_is_wrong(text: str) -> None:
    try:
        parse(text)
    except Invalid as error:
        where = re.search(r"at character (\d+)", error.message)
        assert where is not None, error.message
        assert 1 <= int(where.group(1)) <= len(text) + 1


@pytest.mark.parametrize(
    ("text", "position"),
    [("a=b,,c", 5), ("a b", 3), ("a in b", 6), ('a="x', 5), ("a.=b", 1), ("role=x,!", 9)],
)
def test_the_error_names_the_character(text: str, position: int) -> None:
    with pytest.raises(Invalid, match=f"at character {position} "):
        parse(text)


def test_the_kubernetes_forms() -> None:
    metadata = {"task": "process invoices", "gpu": {"model": "a100", "count": 2}, "spot": False}
    holds = [
        "task=process invoices",
        "task==process invoices",
        "gpu.model in (a100, h100)",
        "gpu.count=2",
        "spot=false",
        "gpu, !zone, zone!=eu, zone notin (eu)",
        "gpu!=a100",  # an object has no text: it equals no value
    ]
    fails = ["gpu=a100", "gpu.model notin (a100)", "!spot", "zone", "gpu.count in (1,3)"]
    for text in holds:
        assert parse(text).matches(metadata), text
    for text in fails:
        assert not parse(text).matches(metadata), text
    assert parse("!task").matches(None)
    assert not parse("task").matches(None)


def test_size_is_bounded() -> None:
    with pytest.raises(Invalid, match="at most 4096"):
        parse("a" * (MAX_CHARACTERS + 1))
    with pytest.raises(Invalid, match=f"more than {MAX_TERMS}"):
        parse(",".join(["a"] * (MAX_TERMS + 1)))
