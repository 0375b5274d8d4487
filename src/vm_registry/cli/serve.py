"""`vm-registry serve`: run the registry on uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from vm_registry.settings import Settings


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the registry server", description="Run the registry server."
    )
    parser.add_argument("--host", default=os.environ.get("VM_REGISTRY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    parser.add_argument(
        "--db",
        type=Path,
        default=Path(os.environ.get("VM_REGISTRY_DB") or "data/registry.db"),
        help="SQLite file of the event log (VM_REGISTRY_DB)",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=_env_float("VM_REGISTRY_STALE_AFTER", 300.0),
        metavar="SECONDS",
        help="a running VM not touched for this long is stale (VM_REGISTRY_STALE_AFTER)",
    )
    parser.add_argument(
        "--synchronous",
        choices=("normal", "full"),
        default=(os.environ.get("VM_REGISTRY_SYNCHRONOUS") or "normal").lower(),
        help="normal survives a crash of the server; full also survives power loss",
    )
    parser.add_argument("--log-level", default=os.environ.get("VM_REGISTRY_LOG_LEVEL", "info"))
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.stale_after <= 0:
        raise SystemExit("vm-registry serve: --stale-after must be positive")
    return Settings(
        db=args.db,
        host=args.host,
        port=args.port,
        stale_after=args.stale_after,
        synchronous=args.synchronous.upper(),
        auth_token=os.environ.get("VERS_AUTH_TOKEN") or None,
    )


def run(args: argparse.Namespace) -> int:
    from vm_registry.api.app import create_app
    from vm_registry.cli.server import GracefulServer

    settings = settings_from(args)
    level = args.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(
        f"vm-registry: listening on http://{settings.host}:{settings.port} "
        f"with database {settings.db.resolve()}",
        file=sys.stderr,
        flush=True,
    )
    import uvicorn

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    GracefulServer(config).run()
    return 0
