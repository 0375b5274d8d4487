"""`vm-registry mcp`: the registry tools as a Model Context Protocol server over stdio."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from vm_registry.cli.client_commands import connection_flags


def run(args: argparse.Namespace) -> int:
    try:
        from vm_registry.mcp.tools import serve_stdio
    except ImportError as e:
        print(
            f"vm-registry mcp: the MCP SDK is missing ({e}); "
            "install it with: pip install 'vm-registry[mcp]'",
            file=sys.stderr,
        )
        return 1
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_stdio(args.url, args.token))
    return 0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "mcp",
        parents=[connection_flags()],
        help="serve the registry tools to agents over MCP (stdio)",
        description=(
            "Serve registry_register, registry_list, registry_discover, registry_heartbeat, "
            "registry_get, registry_update, registry_deregister and registry_history as a "
            "Model Context Protocol server on stdin/stdout."
        ),
    )
    parser.set_defaults(func=run)
