"""A registry URL httpx cannot parse (`VERS_INFRA_URL=http://[::1`, a control character) was a
traceback from inside httpx, in every client command, the agent and the MCP server. It is now
one line saying the URL is not one, and the client library raises a `RegistryError`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cli.conftest import Run, run_cli
from vm_registry.client.errors import RegistryError
from vm_registry.client.sync import RegistryClient

BAD = ("http://[::1", "http://a\x01b")


@pytest.mark.parametrize("url", BAD)
@pytest.mark.parametrize("command", [("list",), ("get", "x"), ("watch",)])
def test_a_client_command_says_the_url_is_not_one(
    cli: Callable[..., Run], url: str, command: tuple[str, ...]
) -> None:
    done = cli(*command, env={"VERS_INFRA_URL": url})
    assert done.code == 1
    assert (
        done.err.startswith("vm-registry: error: ") and "is not a URL of the registry" in done.err
    )
    assert done.err.count("\n") == 1, done.err


@pytest.mark.parametrize("command", [("agent", "--id", "x", "--", "true"), ("mcp",)])
def test_the_agent_and_the_mcp_server_say_it_too(command: tuple[str, ...]) -> None:
    done = run_cli(*command, env={"VERS_INFRA_URL": BAD[0]})
    assert done.code == 2
    assert "Traceback" not in done.err
    assert done.err.strip().endswith(
        "'http://[::1' is not a URL of the registry (Invalid port: ':1')"
    )


def test_the_client_library_raises_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="is not a URL of the registry"):
        RegistryClient(BAD[0])
