"""No module imports upward: each package imports only the layers below it (the table in
docs/architecture.md), and nothing below `api/` knows the HTTP framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vm_registry"

# What each layer may import from the package, besides itself. `settings` is a module.
ALLOWED: dict[str, set[str]] = {
    "settings": set(),
    "domain": set(),
    "wire": {"domain"},
    "persistence": {"domain"},
    "service": {"domain", "persistence", "settings"},
    "feed": {"domain", "persistence", "service", "wire"},
    "audit": {"domain", "wire", "persistence", "service"},
    "backup": set(),
    "telemetry": {"domain", "persistence", "service", "feed"},
    "api": {"domain", "wire", "persistence", "service", "feed", "settings", "telemetry"},
    "client": {"domain"},  # only names the wire shares: roles, statuses, event types
    "mcp": {"client"},
    "cli": {"*"},
}
# Layers that see only the storage interfaces, never a backend (one module per backend below
# `persistence/`, and `persistence/store.py`, which picks one).
BACKEND_FREE = {"service", "feed", "api", "telemetry"}
BACKENDS = ("vm_registry.persistence.sqlite", "vm_registry.persistence.postgres")
HTTP_FRAMEWORKS = {"litestar", "starlette", "sse_starlette", "uvicorn"}
FRAMEWORK_FREE = {
    "settings",
    "domain",
    "wire",
    "persistence",
    "service",
    "feed",
    "audit",
    "backup",
    "telemetry",
}


def layer_of(path: Path) -> str:
    relative = path.relative_to(SOURCE)
    return relative.parts[0].removesuffix(".py")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(p for p in SOURCE.rglob("*.py") if p.parent != SOURCE or p.name == "settings.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_a_module_imports_only_the_layers_below_it(path: Path) -> None:
    layer = layer_of(path)
    allowed = ALLOWED[layer]
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] == "vm_registry" and len(parts) > 1 and "*" not in allowed:
            target = parts[1]
            assert target == layer or target in allowed, f"{layer} must not import {name}"
        if layer in BACKEND_FREE:
            assert not name.startswith(BACKENDS), f"{layer} must not import the backend {name}"
        if layer in FRAMEWORK_FREE:
            assert parts[0] not in HTTP_FRAMEWORKS, f"{layer} must not know {parts[0]}"
