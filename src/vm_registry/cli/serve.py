"""`vm-registry serve`: run the registry on uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import socket
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
    parser.add_argument(
        "--snapshot-every",
        type=int,
        default=int(_env_float("VM_REGISTRY_SNAPSHOT_EVERY", 10_000)),
        metavar="EVENTS",
        help="snapshot the projection every N events; 0 disables (VM_REGISTRY_SNAPSHOT_EVERY)",
    )
    parser.add_argument(
        "--tokens",
        type=Path,
        default=Path(os.environ["VM_REGISTRY_TOKENS_FILE"])
        if os.environ.get("VM_REGISTRY_TOKENS_FILE")
        else None,
        metavar="FILE.toml",
        help="scoped tokens: admin, agent, read (VM_REGISTRY_TOKENS_FILE); see docs/security.md",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[o for o in os.environ.get("VM_REGISTRY_CORS_ORIGINS", "").split(",") if o],
        help="let browsers from this origin call the API (repeatable; VM_REGISTRY_CORS_ORIGINS)",
    )
    bounds = parser.add_argument_group("bounds (docs/reliability.md)")
    bounds.add_argument(
        "--max-entry-bytes",
        type=int,
        default=int(_env_float("VM_REGISTRY_MAX_ENTRY_BYTES", 64 * 1024)),
        metavar="BYTES",
        help="largest services + metadata of one VM, encoded (VM_REGISTRY_MAX_ENTRY_BYTES)",
    )
    bounds.add_argument(
        "--max-vms",
        type=int,
        default=int(_env_float("VM_REGISTRY_MAX_VMS", 1_000_000)),
        help="VMs registered at once; past it, registration gets 507 (VM_REGISTRY_MAX_VMS)",
    )
    bounds.add_argument(
        "--header-timeout",
        type=float,
        default=_env_float("VM_REGISTRY_HEADER_TIMEOUT", 10.0),
        metavar="SECONDS",
        help="time for a request's head to arrive, then 408; 0 disables "
        "(VM_REGISTRY_HEADER_TIMEOUT)",
    )
    me = parser.add_argument_group("self-registration")
    me.add_argument(
        "--self-register",
        action="store_true",
        help="register this server as an infra VM (implied when VERS_VM_ID is set)",
    )
    me.add_argument(
        "--self-id",
        default=os.environ.get("VERS_VM_ID") or None,
        help="the id to register under (VERS_VM_ID; default: the hostname)",
    )
    me.add_argument("--self-name", default=os.environ.get("VM_REGISTRY_SELF_NAME") or "infra")
    me.add_argument(
        "--self-address",
        default=os.environ.get("VM_REGISTRY_SELF_ADDRESS") or None,
        help="default: <id>.vm.vers.sh",
    )
    feed = parser.add_argument_group("change feed")
    feed.add_argument(
        "--keepalive",
        type=float,
        default=_env_float("VM_REGISTRY_KEEPALIVE", 15.0),
        metavar="SECONDS",
        help="comment line on idle streams (VM_REGISTRY_KEEPALIVE)",
    )
    feed.add_argument(
        "--max-subscribers",
        type=int,
        default=int(_env_float("VM_REGISTRY_MAX_SUBSCRIBERS", 1000)),
        help="concurrent streams before 503 (VM_REGISTRY_MAX_SUBSCRIBERS)",
    )
    feed.add_argument(
        "--feed-tail",
        type=int,
        default=int(_env_float("VM_REGISTRY_FEED_TAIL", 20_000)),
        help="recent events kept in memory; older resumes read the log (VM_REGISTRY_FEED_TAIL)",
    )
    feed.add_argument(
        "--feed-tail-bytes",
        type=int,
        default=int(_env_float("VM_REGISTRY_FEED_TAIL_BYTES", 64 * 1024 * 1024)),
        metavar="BYTES",
        help="encoded size of the events kept in memory (VM_REGISTRY_FEED_TAIL_BYTES)",
    )
    feed.add_argument(
        "--bookmark-after",
        type=float,
        default=_env_float("VM_REGISTRY_BOOKMARK_AFTER", 5.0),
        metavar="SECONDS",
        help="quiet time before a filtered stream gets a bookmark (VM_REGISTRY_BOOKMARK_AFTER)",
    )
    guard = parser.add_argument_group("mass-expiry guard")
    guard.add_argument(
        "--no-expiry-guard",
        dest="guard_enabled",
        action="store_false",
        default=os.environ.get("VM_REGISTRY_EXPIRY_GUARD", "on").lower() not in ("off", "0"),
        help="let any number of VMs go stale at once (VM_REGISTRY_EXPIRY_GUARD=off)",
    )
    guard.add_argument(
        "--guard-share",
        type=float,
        default=_env_float("VM_REGISTRY_GUARD_SHARE", 0.5),
        help="share of the running fleet going silent that trips the guard",
    )
    guard.add_argument(
        "--guard-min-fleet",
        type=int,
        default=int(_env_float("VM_REGISTRY_GUARD_MIN_FLEET", 10)),
        help="smallest running fleet the guard protects",
    )
    guard.add_argument(
        "--guard-max-hold",
        type=float,
        default=None,
        metavar="SECONDS",
        help="longest the guard holds (default: three stale windows)",
    )
    guard.add_argument(
        "--reap-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how often to look for stale VMs (default: stale-after / 10, at most 5 s)",
    )
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.stale_after <= 0:
        raise SystemExit("vm-registry serve: --stale-after must be positive")
    for flag in ("max_entry_bytes", "max_vms", "feed_tail_bytes"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"vm-registry serve: --{flag.replace('_', '-')} must be at least 1")
    return Settings(
        db=args.db,
        host=args.host,
        port=args.port,
        stale_after=args.stale_after,
        synchronous=args.synchronous.upper(),
        auth_token=os.environ.get("VERS_AUTH_TOKEN") or None,
        tokens_file=args.tokens,
        tokens_env=os.environ.get("VM_REGISTRY_TOKENS") or None,
        cors_origins=tuple(args.cors_origin),
        keepalive_seconds=args.keepalive,
        max_subscribers=args.max_subscribers,
        feed_tail=args.feed_tail,
        feed_tail_bytes=args.feed_tail_bytes,
        max_entry_bytes=args.max_entry_bytes,
        max_vms=args.max_vms,
        header_timeout=args.header_timeout,
        bookmark_after_seconds=args.bookmark_after,
        guard_enabled=args.guard_enabled,
        guard_share=args.guard_share,
        guard_min_fleet=args.guard_min_fleet,
        guard_max_seconds=args.guard_max_hold,
        reap_interval=args.reap_interval,
        snapshot_every=args.snapshot_every,
        self_id=args.self_id or (socket.gethostname() if args.self_register else None),
        self_name=args.self_name,
        self_address=args.self_address,
    )


def run(args: argparse.Namespace) -> int:
    from vm_registry.api.app import create_app
    from vm_registry.api.auth import TokenConfigError
    from vm_registry.cli.server import GracefulServer, bounded_protocol

    settings = settings_from(args)
    level = args.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    try:
        app = create_app(settings)
    except TokenConfigError as error:
        print(f"vm-registry serve: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        http=bounded_protocol(settings.header_timeout),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    ready = (
        f"vm-registry: listening on http://{settings.host}:{settings.port} "
        f"with database {settings.db.resolve()}"
    )
    server = GracefulServer(config, ready_message=ready)
    server.run()
    return 0 if server.started else 1
