"""`vm-registry serve`: the subcommand that runs the registry on uvicorn. Its options are the
settings declared in `settings.py` (made flags by `cli/serve_flags.py`); the uvicorn server
itself is `cli/uvicorn_server.py`."""

from __future__ import annotations

import argparse
import dataclasses
import socket
import sys
from typing import Any

from vm_registry.cli.serve_flags import add_flags, environment_only, refuse, settings_from_flags
from vm_registry.persistence.targets import describe
from vm_registry.settings import Settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the registry server",
        description="Run the registry server. Each flag has an environment twin; the flag wins.",
        epilog=environment_only(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(parser)
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> Settings:
    """The declared settings, then what only `serve` works out: the allow-list checked, and the
    id this server registers under."""
    settings = settings_from_flags(args)
    return dataclasses.replace(
        settings,
        health_check_allow=_allow_list(settings.health_check_allow),
        self_id=_self_id(settings),
    )


def _allow_list(entries: tuple[str, ...]) -> tuple[str, ...]:
    from vm_registry.service.allow_list import AllowList, AllowListError

    try:
        AllowList.parse(entries)
    except AllowListError as error:
        refuse(f"--health-check-allow: {error}")
    return entries


def _self_id(settings: Settings) -> str | None:
    base = settings.self_id or (socket.gethostname() if settings.self_register else None)
    if base is None or settings.worker_index is None:
        return base
    return f"{base}-w{settings.worker_index}"  # every worker is a replica, registered on its own


def run(args: argparse.Namespace) -> int:
    from vm_registry.api.app import create_app
    from vm_registry.api.auth import TokenConfigError
    from vm_registry.cli.uvicorn_server import GracefulServer, bounded_protocol
    from vm_registry.service.runtime import Runtime
    from vm_registry.telemetry import log_format

    settings = settings_from(args)
    chosen = log_format.configure(
        settings.log_format or log_format.default_format(), settings.log_level
    )
    if settings.workers > 1 and settings.worker_index is None:
        from vm_registry.cli.workers import supervise

        return supervise(settings)
    import uvicorn

    try:
        app = create_app(Runtime(settings))
    except TokenConfigError as error:
        print(f"vm-registry serve: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        http=bounded_protocol(settings.header_timeout, settings.body_timeout),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # every logger goes through the handler configured above
        access_log=False,
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    ready = (
        f"vm-registry: listening on http://{settings.host}:{settings.port} "
        f"with database {describe(settings.db)}"
    )
    server = GracefulServer(
        config, ready_message=lambda: log_format.ready(chosen, "vm_registry", ready)
    )
    if settings.worker_fd is not None:  # a worker: the supervisor bound the port for all
        server.run(sockets=[socket.socket(fileno=settings.worker_fd)])
    else:
        server.run()
    return 0 if server.started else 1
