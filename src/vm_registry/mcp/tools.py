"""The registry tools, as the agent-services extension names them, on the official MCP SDK.

`registry_register`, `registry_list`, `registry_discover` and `registry_heartbeat` keep the names
(and the camelCase argument names of the REST body) that agents already use; `registry_get`,
`registry_update`, `registry_deregister`, `registry_history` and `registry_wait` complete the set
(`tool_summaries` lists them as served, for `vm-registry mcp --help`). Each returns
the server's JSON. A refusal from the registry becomes a tool error carrying the server's message,
which the model can read and act on; it never ends the MCP process.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Annotated, Any, ParamSpec

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from vm_registry.client.aio import AsyncRegistryClient
from vm_registry.client.errors import RegistryError
from vm_registry.client.models import Listing, Role, Service, Status
from vm_registry.client.waiting import Lookup, WaitTimeout

JsonObject = dict[str, Any]

P = ParamSpec("P")


class ServiceInput(BaseModel):
    name: Annotated[str, Field(description="Service name, e.g. 'pi-rpc' or 'board'.")]
    port: Annotated[int, Field(ge=1, le=65535, description="TCP port the service listens on.")]
    healthPath: Annotated[  # camelCase: the wire name agents know
        str | None, Field(description="HTTP path that answers 200 when healthy, e.g. '/health'.")
    ] = None

    def service(self) -> Service:
        return Service(self.name, self.port, self.healthPath)


VmId = Annotated[str, Field(description="The Vers VM UUID the entry is registered under.")]
SelectorArg = Annotated[
    str | None,
    Field(
        description="Only VMs whose metadata matches this label selector: key=value, key!=value, "
        "key in (a,b), key notin (a,b), key, !key, joined by commas (all must hold); dots "
        "reach into nested objects, e.g. 'task=billing,gpu.model=a100,!spot'."
    ),
]
RoleArg = Annotated[
    Role,
    Field(description="infra (board/feed/registry host), lieutenant, worker, golden or custom."),
]
Services = Annotated[
    list[ServiceInput] | None, Field(description="Services the VM offers, with their ports.")
]
Metadata = Annotated[
    JsonObject | None, Field(description="Free-form JSON object, e.g. {'task': '...'}.")
]


def _refusals_as_tool_errors(
    tool: Callable[P, Awaitable[JsonObject]],
) -> Callable[P, Awaitable[JsonObject]]:
    @wraps(tool)
    async def call(*args: P.args, **kwargs: P.kwargs) -> JsonObject:
        try:
            return await tool(*args, **kwargs)
        except RegistryError as e:
            raise ToolError(str(e)) from e

    return call


READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True)


def build_server(client: AsyncRegistryClient) -> MCPServer:
    server: MCPServer = MCPServer(
        "vm-registry",
        instructions=(
            "Service discovery for Vers VMs. Register a VM after creating it, discover VMs by "
            "role instead of hard-coding addresses (registry_discover), and heartbeat "
            "(registry_heartbeat) every minute or two so it is not considered stale."
        ),
    )
    _entry_tools(server, client)
    _lookup_tools(server, client)
    _liveness_tools(server, client)
    return server


def _entry_tools(server: MCPServer, client: AsyncRegistryClient) -> None:
    """Writing an entry: register, update, deregister."""

    @server.tool()
    @_refusals_as_tool_errors
    async def registry_register(
        id: VmId,
        name: Annotated[str, Field(description="Readable name, e.g. 'billing-lt'.")],
        role: RoleArg,
        address: Annotated[str, Field(description="Hostname, usually '<id>.vm.vers.sh'.")],
        registeredBy: Annotated[  # camelCase: the wire name agents know
            str, Field(description="Who registers it, e.g. 'orchestrator' or 'self'.")
        ],
        services: Services = None,
        metadata: Metadata = None,
        status: Annotated[Status | None, Field(description="Defaults to running.")] = None,
    ) -> JsonObject:
        """Register a VM so other agents can discover it. Fails if the id is already
        registered; then use registry_update instead."""
        entry = await client.register(
            id,
            name,
            role,
            address,
            registeredBy,
            status=status,
            services=None if services is None else [s.service() for s in services],
            metadata=metadata,
        )
        return entry.to_wire()

    @server.tool()
    @_refusals_as_tool_errors
    async def registry_update(
        id: VmId,
        name: Annotated[str | None, Field(description="New name.")] = None,
        status: Annotated[Status | None, Field(description="New status.")] = None,
        address: Annotated[str | None, Field(description="New address.")] = None,
        services: Services = None,
        metadata: Annotated[
            JsonObject | None, Field(description="New metadata; replaces the old object.")
        ] = None,
    ) -> JsonObject:
        """Change a VM's name, status, address, services or metadata. Role and id are fixed."""
        entry = await client.update(
            id,
            name=name,
            status=status,
            address=address,
            services=None if services is None else [s.service() for s in services],
            metadata=metadata,
        )
        return entry.to_wire()

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    @_refusals_as_tool_errors
    async def registry_deregister(id: VmId) -> JsonObject:
        """Remove a VM from the registry. It can be registered again afterwards."""
        await client.deregister(id)
        return {"deleted": True, "id": id}


def _lookup_tools(server: MCPServer, client: AsyncRegistryClient) -> None:
    """Reading the registry: list, discover, one entry, its history."""

    @server.tool(annotations=READ_ONLY)
    @_refusals_as_tool_errors
    async def registry_list(
        role: Annotated[Role | None, Field(description="Only VMs of this role.")] = None,
        status: Annotated[
            Status | None, Field(description="Only this status; 'running' leaves out stale VMs.")
        ] = None,
        selector: SelectorArg = None,
    ) -> JsonObject:
        """List registered VMs, newest first, optionally filtered by role, status and a label
        selector over their metadata."""
        return (await client.list(role=role, status=status, selector=selector)).to_wire()

    @server.tool(annotations=READ_ONLY)
    @_refusals_as_tool_errors
    async def registry_discover(
        role: RoleArg,
        healthy: Annotated[
            bool,
            Field(
                description="Also leave out VMs whose health-checked services are failing "
                "(when the registry runs health checks)."
            ),
        ] = False,
        selector: SelectorArg = None,
    ) -> JsonObject:
        """Find the running, non-stale VMs of a role. The preferred way to look things up,
        e.g. role 'infra' to find the board and feed."""
        return (await client.discover(role, healthy=healthy, selector=selector)).to_wire()

    @server.tool(annotations=READ_ONLY)
    @_refusals_as_tool_errors
    async def registry_get(id: VmId) -> JsonObject:
        """Show one VM's entry."""
        return (await client.get(id)).to_wire()

    @server.tool(annotations=READ_ONLY)
    @_refusals_as_tool_errors
    async def registry_history(id: VmId) -> JsonObject:
        """Every recorded change of a VM id, oldest first, across re-registrations: who
        registered, updated, heartbeated or removed it, and when."""
        events = await client.history(id)
        return {"events": [e.to_wire() for e in events], "count": len(events)}


def _liveness_tools(server: MCPServer, client: AsyncRegistryClient) -> None:
    """Staying alive, and waiting for others to come up."""

    @server.tool()
    @_refusals_as_tool_errors
    async def registry_heartbeat(id: VmId) -> JsonObject:
        """Tell the registry a VM is alive. Send one every minute or two."""
        return (await client.heartbeat(id)).to_wire()

    @server.tool(annotations=READ_ONLY)
    @_refusals_as_tool_errors
    async def registry_wait(
        id: Annotated[
            str | None, Field(description="Wait until this VM is running (and not stale).")
        ] = None,
        role: Annotated[
            Role | None, Field(description="Or wait until this role has `count` running VMs.")
        ] = None,
        count: Annotated[int, Field(ge=1, description="How many VMs of the role.")] = 1,
        healthy: Annotated[
            bool, Field(description="Count only VMs with no failing health check.")
        ] = False,
        selector: SelectorArg = None,
        timeout: Annotated[
            float, Field(gt=0, le=600, description="Seconds to wait at most.")
        ] = 60.0,
    ) -> JsonObject:
        """Wait until a VM is running, or a role has enough running VMs, e.g. for a lieutenant
        you just created to come up; with a selector, only VMs whose metadata matches it count
        (with id: until that VM matches too). The registry answers when it changes: no
        polling. When the timeout passes it answers satisfied=false with what it saw last."""
        if (id is None) == (role is None):
            raise ToolError("give either id (one VM) or role (with count), not both or neither")
        try:
            if id is not None:
                entry = await client.wait_for_vm(id, selector=selector, timeout=timeout)
                return {"satisfied": True, "vm": entry.to_wire()}
            assert role is not None
            listing = await client.wait_for_role(
                role, count, healthy=healthy, selector=selector, timeout=timeout
            )
            return {"satisfied": True, **listing.to_wire()}
        except WaitTimeout as timed_out:
            answer: JsonObject = {"satisfied": False, "message": str(timed_out)}
            last = timed_out.last
            if isinstance(last, Lookup):
                answer["vm"] = None if last.entry is None else last.entry.to_wire()
            elif isinstance(last, Listing):
                answer.update(last.to_wire())
            return answer


async def tool_summaries() -> list[tuple[str, str]]:
    """Each tool the server serves, with the first sentence of its description."""
    async with AsyncRegistryClient("http://127.0.0.1:3000") as client:  # never contacted
        tools = await build_server(client).list_tools()
    return [(tool.name, _first_sentence(tool.description or "")) for tool in tools]


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<!e\.g)(?<!i\.e)[.:] ", " ".join(text.split()))[0]
    return sentence.rstrip(".") + "."


async def serve_stdio(url: str | None = None, token: str | None = None) -> None:
    async with AsyncRegistryClient(url, token) as client:
        await build_server(client).run_stdio_async()
