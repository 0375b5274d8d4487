"""No module imports upward: each package imports only the layers below it (the table in
docs/architecture.md), nothing below `api/` knows the HTTP framework, and nothing outside
`service/` reaches the writer or the live state: the edges go through the runtime."""

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
    "service": {"domain", "persistence", "settings", "feed"},
    # The feed is below the service: the runtime owns it and publishes committed outcomes to it.
    "feed": {"domain", "persistence", "wire"},
    "audit": {"domain", "wire", "persistence", "service"},
    "backup": set(),
    "telemetry": {"domain", "persistence", "service", "feed"},
    "api": {"domain", "wire", "persistence", "service", "feed", "settings", "telemetry"},
    "client": set(),  # only the wire format: it could ship on its own
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


# The writer and the live projection are the service's own: the edges (routes, metrics, the CLI)
# send commands through `Runtime.execute` and read through the registry's queries.
SERVICE_PRIVATE_MODULES = ("vm_registry.service.writer",)
PRIVATE_ATTRIBUTES = {"_writer", "_state"}
STATE_INDEXES = {"entries", "by_activity", "by_role", "running", "revision"}


def reaches_inside(node: ast.AST) -> str | None:
    """What `node` reaches of the writer or the live state, if anything: `x._writer`,
    `x.writer.y` (the writer itself, not a function named writer) or `x.state.entries`."""
    if not isinstance(node, ast.Attribute):
        return None
    if node.attr in PRIVATE_ATTRIBUTES:
        return node.attr
    inner = node.value
    if isinstance(inner, ast.Attribute) and inner.attr == "writer":
        return f"writer.{node.attr}"
    if isinstance(inner, ast.Attribute) and inner.attr == "state" and node.attr in STATE_INDEXES:
        return f"state.{node.attr}"
    return None


# The layers that may import the service, and so could get hold of its insides (the layers below
# it cannot: their `_writer`s and `state`s are their own).
ABOVE_SERVICE = {layer for layer, allowed in ALLOWED.items() if allowed & {"service", "*"}}
OUTSIDE_SERVICE = [p for p in MODULES if layer_of(p) in ABOVE_SERVICE]


@pytest.mark.parametrize("path", OUTSIDE_SERVICE, ids=lambda p: str(p.relative_to(SOURCE)))
def test_nothing_outside_the_service_touches_the_writer_or_the_state(path: Path) -> None:
    for name in imports_of(path):
        assert not name.startswith(SERVICE_PRIVATE_MODULES), f"{path.name} imports {name}"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        reached = reaches_inside(node)
        assert reached is None, f"{path.name}:{getattr(node, 'lineno', '?')} reaches {reached}"


def test_the_check_sees_the_ways_in_it_forbids() -> None:
    found = [
        reaches_inside(node)
        for line in (
            "registry.writer.submit(c, a)",
            "registry.state.entries.values()",
            "len(app.state.registry.state.by_activity)",
            "registry._writer",
            "rq.writer(request)",  # a function that checks a caller may write: allowed
            "registry.vms.values()",
        )
        for node in ast.walk(ast.parse(line))
    ]
    assert [f for f in found if f is not None] == [
        "writer.submit",
        "state.entries",
        "state.by_activity",
        "_writer",
    ]


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports anywhere (TYPE_CHECKING blocks and
    imports inside functions too). `from package import module` counts as the module only."""
    names = {module_name(path): path for path in SOURCE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = {f"{node.module}.{a.name}" for a in node.names} & names.keys()
                found |= modules
                if node.module in names and len(modules) < len(node.names):
                    found.add(node.module)
        graph[name] = found - {name}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = module_graph()
    finished: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in finished:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        finished.add(name)

    for name in sorted(graph):
        visit(name, [])
