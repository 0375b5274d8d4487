"""Small rooms: no function in src/ over 60 lines (decorators included), no module over 400.
Wiring that grows past a screen is a missing object (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vm_registry"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
MODULES = sorted(SOURCE.rglob("*.py"))


def function_lengths(tree: ast.AST) -> dict[str, int]:
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            assert node.end_lineno is not None
            found[f"{node.name}:{node.lineno}"] = node.end_lineno - start + 1
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_functions_and_modules_stay_small(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name} is over {MAX_MODULE_LINES} lines"
    long = {
        name: lines
        for name, lines in function_lengths(ast.parse(text, str(path))).items()
        if lines > MAX_FUNCTION_LINES
    }
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
