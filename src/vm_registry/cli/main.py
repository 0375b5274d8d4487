"""Entry point of the `vm-registry` console script."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute subcommands, each with `register(subparsers) -> None`. Every parser
# sets `func`, which takes the parsed namespace and returns the process exit code.
COMMAND_MODULES = (
    "vm_registry.cli.serve",
    "vm_registry.cli.audit",
    "vm_registry.cli.migrate",
    "vm_registry.cli.importing",
    "vm_registry.cli.backup",
    "vm_registry.cli.client_commands",
    "vm_registry.cli.agent",
    "vm_registry.cli.mcp",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vm-registry",
        description="Event-sourced service-discovery registry for fleets of agent VMs.",
    )
    parser.add_argument(
        "--version", action="version", version=f"vm-registry {_version()}", help="print the version"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vm-registry")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
