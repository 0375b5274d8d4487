"""The MCP tools in-process: their names and argument schemas, and refusals as tool errors.
`tests/cli/test_mcp.py` drives them end to end over stdio against a real registry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.support.server import ServerProcess
from vm_registry.client.aio import AsyncRegistryClient
from vm_registry.domain.model import ROLES, STATUSES
from vm_registry.mcp.tools import build_server

UNREACHABLE = "http://127.0.0.1:1"


@pytest.fixture
async def server() -> AsyncIterator[MCPServer]:
    async with AsyncRegistryClient(UNREACHABLE) as client:
        yield build_server(client)


async def schema_of(server: MCPServer, name: str) -> dict[str, Any]:
    tools = {tool.name: tool for tool in await server.list_tools()}
    found: dict[str, Any] = tools[name].input_schema
    return found


def enum_of(schema: dict[str, Any], field: str) -> list[str]:
    prop = schema["properties"][field]
    options = prop.get("anyOf", [prop])
    found: list[str] = next(o["enum"] for o in options if "enum" in o)
    return found


async def test_the_extension_names_are_kept(server: MCPServer) -> None:
    names = {tool.name for tool in await server.list_tools()}
    assert {"registry_register", "registry_list", "registry_discover", "registry_heartbeat"} <= (
        names
    )


async def test_roles_and_statuses_are_the_registrys_own(server: MCPServer) -> None:
    register = await schema_of(server, "registry_register")
    assert enum_of(register, "role") == list(ROLES)
    assert enum_of(register, "status") == list(STATUSES)
    assert register["properties"]["registeredBy"]  # the wire's camelCase name


async def test_a_refusal_is_a_tool_error_with_the_registrys_message(server: MCPServer) -> None:
    with pytest.raises(ToolError, match="cannot reach the registry"):
        await server.call_tool("registry_get", {"id": "vm-1"})


async def test_list_discover_and_wait_take_a_selector(server: MCPServer, tmp_path: Path) -> None:
    for name in ("registry_list", "registry_discover", "registry_wait"):
        schema = await schema_of(server, name)
        assert "label selector" in schema["properties"]["selector"]["description"], name
    registry = ServerProcess(tmp_path / "registry.db").start()
    try:
        async with AsyncRegistryClient(registry.url) as client:
            tools = build_server(client)
            for name, task in (("a", "billing"), ("b", "search")):
                await client.register(name, name, "worker", "x", "t", metadata={"task": task})
            calls = [
                ("registry_list", {"selector": "task=billing"}),
                ("registry_discover", {"role": "worker", "selector": "task!=billing"}),
                ("registry_wait", {"role": "worker", "selector": "task=search", "timeout": 5}),
            ]
            found = []
            for name, arguments in calls:
                body = await body_of(tools, name, arguments)
                found.append([vm["id"] for vm in body["vms"]])
            assert found == [["a"], ["b"], ["b"]]
            waits = [
                {"id": "a", "selector": "task=billing", "timeout": 5},
                {"id": "b", "selector": "task=billing", "timeout": 0.5},
            ]
            answers = [await body_of(tools, "registry_wait", arguments) for arguments in waits]
            assert [(a["satisfied"], a["vm"] and a["vm"]["id"]) for a in answers] == [
                (True, "a"),
                (False, None),  # running, but not matching
            ]
            with pytest.raises(ToolError, match="selector is malformed"):
                await tools.call_tool("registry_wait", {"id": "a", "selector": "task in x"})
    finally:
        registry.kill()


async def body_of(tools: MCPServer, name: str, arguments: dict[str, Any]) -> Any:
    answer = await tools.call_tool(name, arguments)
    return answer.structured_content or json.loads(answer.content[0].text)  # type: ignore[union-attr]
