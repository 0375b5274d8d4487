"""`vm-registry serve`: the subcommand that runs the registry on uvicorn. Its options are the
table in `cli/serve_flags.py`; the uvicorn server itself is `cli/uvicorn_server.py`."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from vm_registry.cli.serve_flags import add_flags
from vm_registry.persistence.store import describe
from vm_registry.settings import Settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the registry server", description="Run the registry server."
    )
    add_flags(parser)
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.stale_after <= 0:
        raise SystemExit("vm-registry serve: --stale-after must be positive")
    if args.workers < 1:
        raise SystemExit("vm-registry serve: --workers must be at least 1")
    if args.min_revision_wait < 0:
        raise SystemExit("vm-registry serve: --min-revision-wait must not be negative")
    for flag in ("max_entry_bytes", "max_vms", "feed_tail_bytes"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"vm-registry serve: --{flag.replace('_', '-')} must be at least 1")
    checked = ("check_interval", "check_timeout", "check_concurrency", "check_failures")
    for flag in (*checked, "max_held_queries", "db_pool_size"):
        if getattr(args, flag) <= 0:
            raise SystemExit(f"vm-registry serve: --{flag.replace('_', '-')} must be positive")
    return Settings(
        db=str(args.db),
        db_pool_size=args.db_pool_size,
        host=args.host,
        port=args.port,
        stale_after=args.stale_after,
        synchronous=args.synchronous.upper(),
        auth_token=os.environ.get("VERS_AUTH_TOKEN") or None,
        tokens_file=args.tokens,
        tokens_env=os.environ.get("VM_REGISTRY_TOKENS") or None,
        cors_origins=tuple(args.cors_origin),
        metrics_public=args.metrics_public,
        keepalive_seconds=args.keepalive,
        max_subscribers=args.max_subscribers,
        feed_tail=args.feed_tail,
        feed_tail_bytes=args.feed_tail_bytes,
        max_entry_bytes=args.max_entry_bytes,
        max_vms=args.max_vms,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        bookmark_after_seconds=args.bookmark_after,
        guard_enabled=args.guard_enabled,
        guard_share=args.guard_share,
        guard_min_fleet=args.guard_min_fleet,
        guard_max_seconds=args.guard_max_hold,
        reap_interval=args.reap_interval,
        snapshot_every=args.snapshot_every,
        min_revision_wait=args.min_revision_wait,
        workers=args.workers,
        worker_index=args.worker_index,
        worker_fd=args.worker_fd,
        self_id=_self_id(args),
        self_name=args.self_name,
        self_address=args.self_address,
        health_checks=args.health_checks,
        health_check_allow=_allow_list(args.health_check_allow),
        check_interval=args.check_interval,
        check_timeout=args.check_timeout,
        check_concurrency=args.check_concurrency,
        check_failures=args.check_failures,
        max_held_queries=args.max_held_queries,
    )


def _allow_list(given: list[str]) -> tuple[str, ...]:
    from vm_registry.service.allow_list import DEFAULT_ALLOW, AllowList, AllowListError

    entries = tuple(e.strip() for e in given if e.strip()) or DEFAULT_ALLOW
    try:
        AllowList.parse(entries)
    except AllowListError as error:
        raise SystemExit(f"vm-registry serve: --health-check-allow: {error}") from None
    return entries


def _self_id(args: argparse.Namespace) -> str | None:
    base: str | None = args.self_id or (socket.gethostname() if args.self_register else None)
    if base is None or args.worker_index is None:
        return base
    return f"{base}-w{args.worker_index}"  # every worker is a replica, registered on its own


def run(args: argparse.Namespace) -> int:
    from vm_registry.api.app import create_app
    from vm_registry.api.auth import TokenConfigError
    from vm_registry.cli.uvicorn_server import GracefulServer, bounded_protocol
    from vm_registry.telemetry import log_format

    settings = settings_from(args)
    chosen = log_format.configure(args.log_format or log_format.default_format(), args.log_level)
    if settings.workers > 1 and settings.worker_index is None:
        from vm_registry.cli.workers import supervise

        return supervise(settings)
    import uvicorn

    try:
        app = create_app(settings)
    except TokenConfigError as error:
        print(f"vm-registry serve: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        http=bounded_protocol(settings.header_timeout, settings.body_timeout),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level.lower(),
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
        config, ready_message=lambda: log_format.render(chosen, "vm_registry", ready)
    )
    if settings.worker_fd is not None:  # a worker: the supervisor bound the port for all
        server.run(sockets=[socket.socket(fileno=settings.worker_fd)])
    else:
        server.run()
    return 0 if server.started else 1
