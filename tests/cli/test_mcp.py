"""`vm-registry mcp`, driven over stdio by the MCP SDK's own client against a real registry."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from mcp_types import CallToolResult, TextContent

from mcp import Client, StdioServerParameters
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(60)

TOOLS = {
    "registry_register",
    "registry_list",
    "registry_discover",
    "registry_heartbeat",
    "registry_get",
    "registry_update",
    "registry_deregister",
    "registry_history",
    "registry_wait",
}


def mcp_server(url: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "vm_registry.cli.main", "mcp", "--url", url]
    )


def text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def body(result: CallToolResult) -> Any:
    assert not result.is_error, text(result)
    if result.structured_content is not None:
        return result.structured_content
    return orjson.loads(text(result))


async def test_every_tool_over_stdio_and_refusals_as_tool_errors(
    shared_server: ServerProcess, vm_id: str
) -> None:
    async with Client(mcp_server(shared_server.url)) as client:
        listed = await client.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        assert set(tools) == TOOLS
        register_schema = tools["registry_register"].input_schema
        assert set(register_schema["required"]) == {"id", "name", "role", "address", "registeredBy"}
        assert "description" in register_schema["properties"]["role"]
        assert tools["registry_register"].description

        entry = body(
            await client.call_tool(
                "registry_register",
                {
                    "id": vm_id,
                    "name": "billing-lt",
                    "role": "lieutenant",
                    "address": f"{vm_id}.vm.vers.sh",
                    "registeredBy": "orchestrator",
                    "services": [{"name": "pi-rpc", "port": 3001}],
                    "metadata": {"task": "invoices"},
                },
            )
        )
        assert (entry["id"], entry["registeredBy"]) == (vm_id, "orchestrator")
        assert entry["services"] == [{"name": "pi-rpc", "port": 3001}]

        listed_vms = body(await client.call_tool("registry_list", {"role": "lieutenant"}))
        assert vm_id in {vm["id"] for vm in listed_vms["vms"]}
        found = body(await client.call_tool("registry_discover", {"role": "lieutenant"}))
        assert vm_id in {vm["id"] for vm in found["vms"]}
        assert "healthy" in tools["registry_discover"].input_schema["properties"]
        arguments = {"role": "lieutenant", "healthy": True}
        healthy = body(await client.call_tool("registry_discover", arguments))
        assert vm_id in {vm["id"] for vm in healthy["vms"]}  # nothing checked, nothing critical
        beat = body(await client.call_tool("registry_heartbeat", {"id": vm_id}))
        assert beat["id"] == vm_id
        assert body(await client.call_tool("registry_get", {"id": vm_id}))["name"] == "billing-lt"
        updated = body(await client.call_tool("registry_update", {"id": vm_id, "status": "paused"}))
        assert updated["status"] == "paused"

        history_exists = httpx.get(f"{shared_server.url}/registry/events").status_code != 404
        history = await client.call_tool("registry_history", {"id": vm_id})
        if history_exists:
            assert [e["type"] for e in body(history)["events"]][:2] == [
                "vm.registered",
                "vm.heartbeat",
            ]

        gone = body(await client.call_tool("registry_deregister", {"id": vm_id}))
        assert gone == {"deleted": True, "id": vm_id}

        # Refusals are tool errors with the server's message, and the server lives on.
        missing = await client.call_tool("registry_heartbeat", {"id": vm_id})
        assert missing.is_error
        assert vm_id in text(missing) and "404" in text(missing)
        bad_role = await client.call_tool("registry_discover", {"role": "captain"})
        assert bad_role.is_error and "role" in text(bad_role)
        assert "vms" in body(await client.call_tool("registry_list", {}))


async def test_registry_wait_answers_when_the_vm_runs_or_when_its_timeout_passes(
    shared_server: ServerProcess, vm_id: str
) -> None:
    async with Client(mcp_server(shared_server.url)) as client:
        early = body(await client.call_tool("registry_wait", {"id": vm_id, "timeout": 0.5}))
        assert early["satisfied"] is False
        assert early["vm"] is None
        assert "gave up waiting" in early["message"]
        await client.call_tool(
            "registry_register",
            {
                "id": vm_id,
                "name": "lt",
                "role": "lieutenant",
                "address": "lt.vm.vers.sh",
                "registeredBy": "test",
            },
        )
        up = body(await client.call_tool("registry_wait", {"id": vm_id, "timeout": 30}))
        assert up["satisfied"] is True
        assert up["vm"]["id"] == vm_id
        role = body(await client.call_tool("registry_wait", {"role": "lieutenant"}))
        assert role["satisfied"] is True
        assert vm_id in {vm["id"] for vm in role["vms"]}
        neither = await client.call_tool("registry_wait", {})
        assert neither.is_error and "either id" in text(neither)
        await client.call_tool("registry_deregister", {"id": vm_id})


async def test_an_unreachable_registry_is_a_tool_error() -> None:
    async with Client(mcp_server("http://127.0.0.1:9")) as client:
        result = await client.call_tool("registry_list", {})
    assert result.is_error
    assert "cannot reach the registry" in text(result)


async def test_help_lists_every_tool_the_server_serves(shared_server: ServerProcess) -> None:
    async with Client(mcp_server(shared_server.url)) as client:
        served = {tool.name for tool in (await client.list_tools()).tools}
    done = subprocess.run(
        [sys.executable, "-m", "vm_registry.cli.main", "mcp", "--help"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    listing = done.stdout.split("tools served:\n")[1]
    assert {line.split()[0] for line in listing.splitlines() if line.strip()} == served
    assert "registry_wait" in served


async def test_requests_are_not_logged(
    shared_server: ServerProcess, vm_id: str, tmp_path: Path
) -> None:
    errors = tmp_path / "mcp.err"
    command = shlex.join([sys.executable, "-m", "vm_registry.cli.main", "mcp"])
    quiet = StdioServerParameters(
        command="sh",
        args=["-c", f"exec {command} --url {shlex.quote(shared_server.url)} 2>{errors}"],
    )
    async with Client(quiet) as client:
        assert (await client.call_tool("registry_list", {})).is_error is False
        result = await client.call_tool("registry_get", {"id": vm_id})
        assert result.is_error  # a refusal, still not a transport line
    assert "HTTP Request" not in errors.read_text()
