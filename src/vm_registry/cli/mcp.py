"""`vm-registry mcp`: the registry tools as a Model Context Protocol server over stdio.

`--help` lists the tools by asking the server itself (`mcp/tools.py:tool_summaries`), so the
list cannot drift from what it serves; building the parser does not import the MCP SDK, which
only `mcp` and its help need."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from vm_registry.cli.client_commands import connection_flags, refuses_url
from vm_registry.cli.transport_logs import quiet_transport

MISSING_SDK = (
    "the MCP SDK is missing ({error}); from a checkout, install it with: "
    ".venv/bin/pip install -e '.[mcp]' (or pip install 'vm-registry[mcp]')"
)


def run(args: argparse.Namespace) -> int:
    try:
        from vm_registry.mcp.tools import serve_stdio
    except ImportError as e:
        print(f"vm-registry mcp: {MISSING_SDK.format(error=e)}", file=sys.stderr)
        return 1
    if refuses_url("mcp", args.url):
        return 2
    quiet_transport()  # a level set on these loggers outlasts the SDK's logging setup
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_stdio(args.url, args.token))
    return 0


def tools_listing() -> str:
    try:
        from vm_registry.mcp.tools import tool_summaries
    except ImportError as e:
        return "tools: cannot list them here, " + MISSING_SDK.format(error=e)
    tools = asyncio.run(tool_summaries())
    width = max(len(name) for name, _ in tools)
    lines = [f"  {name.ljust(width)}  {summary}" for name, summary in tools]
    return "tools served:\n" + "\n".join(lines)


class _HelpWithTools(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser.epilog = tools_listing()
        parser.print_help()
        parser.exit()


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "mcp",
        parents=[connection_flags()],
        add_help=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="serve the registry tools to agents over MCP (stdio)",
        description="Serve the registry tools (listed below) to an agent as a Model Context\n"
        "Protocol server on stdin/stdout.",
    )
    parser.add_argument("-h", "--help", action=_HelpWithTools, help="show this help and the tools")
    parser.set_defaults(func=run)
